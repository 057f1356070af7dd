"""Answers no retry can change stop the retrying, over the real stack: a credential the provider revokes (401) or
forbids (403), or a call it does not know (404), moves the order to `needs_attention` with a reason, and an ERROR
names the credential (never its secret). Reconciliation finishes an order the provider has once access is back.
"""

from __future__ import annotations

import pytest
from celery import Celery

from tests.fault_fixtures import an_order, assert_charged_once
from tests.waiting import final_state, wait_for
from worker.cli.processes import Child, Sandbox
from worker.orders import states
from worker.runtime import Runtime

pytestmark = pytest.mark.timeout(90)

REFUSED = "refused for good"  # what the worker's ERROR line says


def set_access(sandbox: Sandbox, access: str, client_id: str = "giftq-demo") -> None:
    sandbox.admin("POST", f"clients/{client_id}/access", json={"access": access})


def provider_order_calls(sandbox: Sandbox) -> list[tuple[str, int | None]]:
    """(endpoint, status) of each Place Order and Get Order call, in arrival order."""
    calls = sandbox.admin("GET", "calls")["calls"]
    return [(c["endpoint"], c["status"]) for c in calls if c["endpoint"] in ("place_order", "get_order")]


def needs_attention(rt: Runtime, request_id: str):
    record = rt.store.get(request_id)
    return record if record and record.state == states.NEEDS_ATTENTION else None


def refusal_lines(worker: Child) -> list[str]:
    return [line for line in worker.log_path.read_text().splitlines() if REFUSED in line]


def assert_error_names_the_credential_not_its_secret(worker: Child) -> None:
    (line,) = wait_for(lambda: refusal_lines(worker), timeout_s=10, what="the refusal's log line")
    assert "ERROR" in line and "'giftq-demo'" in line, line
    assert "demo-secret" not in worker.log_path.read_text()


def test_a_revoked_credential_at_place_order_sets_the_order_aside_after_one_call_and_names_the_credential(
    fault_env: dict, rt: Runtime, producer: Celery, sandbox_now: Sandbox, start_workers
) -> None:
    # Given the catalog already cached (intake checks orders against it), then the credential revoked at the provider
    rt.catalog("giftq-demo").snapshot()
    set_access(sandbox_now, "revoked")
    (worker,) = start_workers(1)  # no beat: nothing but the placing task acts

    # When an order is submitted
    order = an_order()
    producer.send_task("giftq.submit_order", args=[order])
    request_id = order["RequestId"]

    # Then it needs attention for ProviderAuthFailed, after one Place Order (401) and no Get Order
    record = wait_for(lambda: needs_attention(rt, request_id), timeout_s=20, what="needs_attention")
    assert record.reason == "ProviderAuthFailed"
    last = rt.store.history(request_id)[-1]
    assert (last["from"], last["to"], last.get("note")) == ("submitting", "needs_attention", "ProviderAuthFailed")
    assert provider_order_calls(sandbox_now) == [("place_order", 401)]
    # And the placing task ended there, scheduling no resolution: nothing retries it
    assert_error_names_the_credential_not_its_secret(worker)
    log = worker.log_path.read_text()
    assert "succeeded" in log.split(REFUSED, 1)[1] and "'needs_attention'" in log
    assert "Task giftq.resolve_order[" not in log
    assert_charged_once(rt, sandbox_now, [request_id], charges=0)


def test_a_forbidden_credential_at_get_order_sets_the_placed_order_aside_until_reconciliation_finishes_it(
    fault_env: dict, rt: Runtime, producer: Celery, sandbox_now: Sandbox, start_workers
) -> None:
    # Given orders that take 4 s to fulfil, and reconciliation looking at orders that need attention every second
    sandbox_now.admin("POST", "config", json={"fulfil_delay_ms": 4000})
    fault_env["GIFTQ_ATTENTION_INTERVAL_S"] = "1"
    (worker,) = start_workers(1, beat=True)
    order = an_order(quantity=2)
    producer.send_task("giftq.submit_order", args=[order])
    request_id = order["RequestId"]

    # When the provider forbids the credential once the order is placed
    wait_for(lambda: rt.store.get(request_id) and rt.store.get(request_id).state == states.PLACED, timeout_s=20,
             what="a placed order")  # fmt: skip
    set_access(sandbox_now, "forbidden")

    # Then the next poll (403) sets it aside for ProviderAuthFailed, with an ERROR naming the credential
    record = wait_for(lambda: needs_attention(rt, request_id), timeout_s=20, what="needs_attention")
    assert record.reason == "ProviderAuthFailed"
    assert ("get_order", 403) in provider_order_calls(sandbox_now)
    assert_error_names_the_credential_not_its_secret(worker)
    # And once access is back, reconciliation fetches its cards: fulfilled, charged once, the reason gone
    set_access(sandbox_now, "granted")
    assert wait_for(lambda: final_state(rt, request_id), timeout_s=30, what="a final state") == states.FULFILLED
    assert rt.store.get(request_id).reason == ""
    assert_charged_once(rt, sandbox_now, [request_id])


def test_a_revoked_credential_while_resolving_an_unknown_outcome_sets_it_aside_and_the_order_is_still_found(
    fault_env: dict, rt: Runtime, producer: Celery, sandbox_now: Sandbox, start_workers
) -> None:
    # Given a Place Order that is charged but never answered, and reconciliation every second
    sandbox_now.admin("POST", "faults", json={"kind": "timeout_after_commit", "hold_ms": 3000, "count": 1})
    fault_env["GIFTQ_ATTENTION_INTERVAL_S"] = "1"
    (worker,) = start_workers(1, beat=True)
    order = an_order()
    producer.send_task("giftq.submit_order", args=[order])
    request_id = order["RequestId"]

    # When the credential is revoked before the outcome is resolved by Get Order
    wait_for(lambda: sandbox_now.admin("GET", "findings")["accepted_orders"] == 1, timeout_s=20, what="a charge")
    set_access(sandbox_now, "revoked")

    # Then the resolution's Get Order (401) sets it aside, and once access is back it is found: fulfilled, once
    record = wait_for(lambda: needs_attention(rt, request_id), timeout_s=20, what="needs_attention")
    assert record.reason == "ProviderAuthFailed"
    assert provider_order_calls(sandbox_now)[:2] == [("place_order", None), ("get_order", 401)]
    assert_error_names_the_credential_not_its_secret(worker)
    set_access(sandbox_now, "granted")
    assert wait_for(lambda: final_state(rt, request_id), timeout_s=30, what="a final state") == states.FULFILLED
    assert_charged_once(rt, sandbox_now, [request_id])


def test_a_place_order_answered_404_sets_the_order_aside_as_refused_by_the_provider(
    fault_env: dict, rt: Runtime, producer: Celery, sandbox_now: Sandbox, start_workers
) -> None:
    # Given the catalog cached, and workers pointed at a base URL where no Bamboo API is (every call 404)
    rt.catalog("giftq-demo").snapshot()
    fault_env["GIFTQ_BAMBOO_BASE_URL"] = f"{sandbox_now.url}/not-bamboo"
    (worker,) = start_workers(1)

    # When an order is submitted, then it needs attention for ProviderRefused and nothing is charged
    order = an_order()
    producer.send_task("giftq.submit_order", args=[order])
    record = wait_for(lambda: needs_attention(rt, order["RequestId"]), timeout_s=20, what="needs_attention")
    assert record.reason == "ProviderRefused"
    (line,) = wait_for(lambda: refusal_lines(worker), timeout_s=10, what="the refusal's log line")
    assert "ERROR" in line and "404" in line
    assert_charged_once(rt, sandbox_now, [order["RequestId"]], charges=0)
