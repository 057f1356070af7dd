"""The paths where money is at stake, each over the real stack (worker processes, the sandbox over HTTP, its faults):
a re-place answered OrderAlreadyExists, refusals at Place Order, 200s that prove nothing, an unknown outcome with
no reconciliation to help, and an order past its poll deadline. Each ends with the ledger audit.
"""

from __future__ import annotations

import pytest
from celery import Celery

from tasks.placing import RESOLVE_AFTER_S
from tests.fault_fixtures import an_order, assert_charged_once, assert_fulfilled_once, checkout_calls
from tests.waiting import final_state, wait_for
from worker.cli.processes import Sandbox
from worker.orders import states
from worker.runtime import Runtime

pytestmark = pytest.mark.timeout(90)

SECOND_CREDENTIAL = {  # giftq-demo-2 places the orders of its accounts 655 and 656 (USD 25.00)
    "GIFTQ_BAMBOO_EXTRA_CLIENTS": "giftq-demo-2:demo-secret-2",
    "GIFTQ_BAMBOO_ACCOUNT_CLIENTS": "655=giftq-demo-2,656=giftq-demo-2",
}


def submit(producer: Celery, order: dict) -> str:
    producer.send_task("giftq.submit_order", args=[order])
    return order["RequestId"]


def notes(rt: Runtime, request_id: str) -> list[tuple[str, str]]:
    """(state entered, note) of each move of the order."""
    return [(entry["to"], entry.get("note", "")) for entry in rt.store.history(request_id)]


def test_a_re_place_answered_order_already_exists_turns_the_order_placed_and_it_ends_fulfilled_charged_once(
    fault_env: dict, rt: Runtime, producer: Celery, sandbox_now: Sandbox, start_workers
) -> None:
    # Given a Place Order charged but never answered, and a Get Order that does not see the order yet (it lags)
    sandbox_now.admin("POST", "faults", json={"kind": "timeout_after_commit", "hold_ms": 3000, "count": 1})
    sandbox_now.admin("POST", "faults", json={"kind": "order_not_found", "endpoint": "get_order", "count": 1})
    start_workers(1)  # no beat: the placing task's path alone

    # When an order is submitted, giftq resolves by Get Order (not found), so it places the same RequestId again
    request_id = submit(producer, an_order())

    # Then the provider answers OrderAlreadyExists, which giftq takes as placed: fulfilled, charged once
    assert_fulfilled_once(rt, sandbox_now, [request_id])
    assert [(c["status"], c["reason"]) for c in checkout_calls(sandbox_now)] == [
        (None, "timeout_after_commit"),
        (400, "OrderAlreadyExists"),
    ]
    assert [state for state, _ in notes(rt, request_id)] == ["accepted", "submitting", "placed", "fulfilled"]


@pytest.mark.parametrize(
    ("account_id", "product_id", "value", "reason"),
    [(656, 100001, "30", "InsufficientBalance"), (555, 100007, "20", "ClientPriceInvalid")],
    ids=["InsufficientBalance", "ClientPriceInvalid"],
)
def test_a_refusal_at_place_order_ends_the_order_rejected_with_that_reason_and_charges_nothing(
    account_id: int,
    product_id: int,
    value: str,
    reason: str,
    fault_env: dict,
    rt: Runtime,
    producer: Celery,
    sandbox_now: Sandbox,
    start_workers,
) -> None:
    # Given an order intake accepts (the balance and the client price are the provider's to check)
    fault_env.update(SECOND_CREDENTIAL)
    start_workers(1)

    # When it is placed, then the provider refuses it and the order ends rejected with the provider's reason
    request_id = submit(producer, an_order(product_id, value, account_id=account_id))
    assert wait_for(lambda: final_state(rt, request_id), timeout_s=20, what="a final state") == states.REJECTED
    assert rt.store.get(request_id).reason == reason
    assert [(c["status"], c["reason"]) for c in checkout_calls(sandbox_now)] == [(400, reason)]
    # And nothing was charged
    assert sandbox_now.admin("GET", "findings")["charged_per_account"] == {}
    assert_charged_once(rt, sandbox_now, [request_id], charges=0)


@pytest.mark.parametrize("after_commit", [False, True], ids=["before_commit", "after_commit"])
@pytest.mark.parametrize("kind", ["ok_200_without_request_id", "ok_200_not_json"])
def test_a_200_that_does_not_carry_the_request_id_is_an_unknown_outcome_resolved_without_a_second_charge(
    kind: str, after_commit: bool, fault_env: dict, rt: Runtime, producer: Celery, sandbox_now: Sandbox, start_workers
) -> None:
    # Given the first Place Order is answered 200 with a body that is not the RequestId (the order committed or not)
    sandbox_now.admin("POST", "faults", json={"kind": kind, "after_commit": after_commit, "count": 1})
    start_workers(1)

    # When an order is submitted
    request_id = submit(producer, an_order())

    # Then giftq does not take the 200 for an acceptance: it resolves by Get Order, finds the committed order, or
    # places the same RequestId again if the provider never had it; fulfilled and charged once either way
    assert_fulfilled_once(rt, sandbox_now, [request_id])
    calls = checkout_calls(sandbox_now)
    assert (calls[0]["status"], calls[0]["reason"]) == (200, kind)
    if after_commit:
        assert len(calls) == 1 and ("placed", "found by Get Order") in notes(rt, request_id)
    else:
        assert [c["status"] for c in calls] == [200, 200] and ("placed", "") in notes(rt, request_id)


def test_without_reconciliation_an_unknown_outcome_is_resolved_by_the_placing_task_within_its_resolve_delay(
    fault_env: dict, rt: Runtime, producer: Celery, sandbox_now: Sandbox, start_workers
) -> None:
    # Given no beat (no reconciliation at all) and a Place Order charged but never answered (a timeout after commit)
    sandbox_now.admin("POST", "faults", json={"kind": "timeout_after_commit", "hold_ms": 3000, "count": 1})
    start_workers(1)

    # When an order is submitted
    request_id = submit(producer, an_order())

    # Then the placing task's own resolution finds it by Get Order: placed within the call's timeout, the resolve
    # delay and one poll interval after the call arrived; fulfilled and charged once
    assert_fulfilled_once(rt, sandbox_now, [request_id])
    (call,) = checkout_calls(sandbox_now)
    (found,) = [entry for entry in rt.store.history(request_id) if entry.get("note") == "found by Get Order"]
    bound_s = (
        float(fault_env["GIFTQ_BAMBOO_TIMEOUT_S"])
        + RESOLVE_AFTER_S
        + int(fault_env["GIFTQ_POLL_MAX_INTERVAL_MS"]) / 1000
    )
    assert found["at_ms"] / 1000 - call["at"] <= bound_s, f"placed {found['at_ms'] / 1000 - call['at']:.2f} s after"


def test_an_order_past_its_poll_deadline_needs_attention_and_reconciliation_later_fetches_its_cards(
    fault_env: dict, rt: Runtime, producer: Celery, sandbox_now: Sandbox, start_workers
) -> None:
    # Given orders that take 4 s to fulfil, a 1 s poll deadline, and reconciliation every second
    sandbox_now.admin("POST", "config", json={"fulfil_delay_ms": 4000})
    fault_env.update(GIFTQ_POLL_DEADLINE_S="1", GIFTQ_ATTENTION_INTERVAL_S="1")
    (worker,) = start_workers(1, beat=True)

    # When an order of three cards is submitted
    request_id = submit(producer, an_order(quantity=3))

    # Then it needs attention once the deadline passes, and reconciliation finishes it when the provider is done:
    # fulfilled, charged once, holding exactly the three cards issued
    assert_fulfilled_once(rt, sandbox_now, [request_id], timeout_s=30)
    assert [state for state, _ in notes(rt, request_id)] == [
        "accepted", "submitting", "placed", "needs_attention", "fulfilled"
    ]  # fmt: skip
    assert ("needs_attention", "poll deadline passed") in notes(rt, request_id)
    assert (
        f"reconcile: order {request_id} needs attention; the provider says it is final" in worker.log_path.read_text()
    )
    assert rt.store.get(request_id).summary == {"cards_issued": 3, "cards_failed": 0}
