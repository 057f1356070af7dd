"""Coalescing when a worker dies: a pack is placed once, under the RequestId it was given, whatever is killed.

Real workers, Redis and the scaled Bamboo sandbox (tests/fault_fixtures.py); the charges are counted from the
sandbox's ledger. A worker is SIGKILLed between a pack's claim and its call, and between its call and recording.
"""

from __future__ import annotations

import pytest
from celery import Celery

from tests.coalescing import an_order, park_behind_the_first
from tests.waiting import final_state, wait_for
from worker.cli.money_audit import audit_money
from worker.cli.processes import Child, Sandbox
from worker.orders import states
from worker.runtime import Runtime

pytestmark = pytest.mark.timeout(120)

CREDENTIAL = "giftq-demo"


def backlog() -> list[dict]:
    return [an_order([(100001, "25", 1)]), *(an_order([(100001, "25", 1), (100002, "50", 1)]) for _ in range(4))]


def pack_of(rt: Runtime, request_id: str) -> str | None:
    """The pack the scheduler put the order in, if any."""
    pack = rt.redis.hget(f"{rt.keys.schedule(CREDENTIAL)}:member_of", request_id)
    return pack.decode() if pack else None


def start_placing(rt: Runtime, start_workers, orders: list[dict]) -> tuple[Child, str]:
    """Start a worker that places orders; it and the pack it makes of the orders parked behind the first."""
    (placer,) = start_workers(1)
    return placer, wait_for(lambda: pack_of(rt, orders[1]["RequestId"]), timeout_s=10, what="the pack made")


def assert_each_fulfilled_once_by_its_packs_id(rt: Runtime, sandbox: Sandbox, orders: list[dict], pack_id: str):
    request_ids = [order["RequestId"] for order in orders]
    wait_for(lambda: all(final_state(rt, rid) for rid in request_ids), timeout_s=60, what="final orders")
    assert {final_state(rt, rid) for rid in request_ids} == {states.FULFILLED}
    members = request_ids[1:]
    assert {rt.store.get(rid).pack for rid in members} == {pack_id}
    # Every Place Order of the members' cards carried the pack's RequestId; the provider charged it once
    calls = [c for c in sandbox.admin("GET", "calls")["calls"] if c["endpoint"] == "place_order"]
    assert {c["request_id"] for c in calls} <= {request_ids[0], pack_id}
    accepted = sandbox.admin("GET", "findings")["accepted_request_ids"]
    assert accepted.count(pack_id) == 1
    money = audit_money(rt, sandbox.url, request_ids)
    assert money.clean, money
    assert money.charges_per_order == dict.fromkeys(request_ids, 1)
    assert money.cards_checked == len(request_ids)


def test_a_worker_killed_between_a_packs_claim_and_its_call_leaves_the_same_pack_to_be_placed(
    fault_env: dict, rt: Runtime, producer: Celery, sandbox_now: Sandbox, start_workers
) -> None:
    # Given a pack whose slot is reserved well ahead of its call (the credential is held for 3 s)
    fault_env |= {"GIFTQ_BAMBOO_COALESCE": "1", "GIFTQ_BAMBOO_MAX_WAIT_MS": "5000"}
    orders = backlog()
    park_behind_the_first(rt, producer, start_workers, orders)
    rt.throttle.hold(CREDENTIAL, 3000)
    placer, pack_id = start_placing(rt, start_workers, orders)
    assert all(pack_of(rt, order["RequestId"]) == pack_id for order in orders[1:])

    # When the worker holding its placing task dies before the slot comes (nothing was sent)
    assert not [c for c in sandbox_now.admin("GET", "calls")["calls"] if c["request_id"] == pack_id]
    placer.kill()
    start_workers(1, beat=True)

    # Then the same pack, under the same RequestId, is placed once: each member fulfilled, charged once
    assert_each_fulfilled_once_by_its_packs_id(rt, sandbox_now, orders, pack_id)


def test_a_worker_killed_between_a_packs_call_and_recording_leaves_the_pack_resolved_under_its_request_id(
    fault_env: dict, rt: Runtime, producer: Celery, sandbox_now: Sandbox, start_workers
) -> None:
    # Given a pack whose Place Order the sandbox takes (and charges) at once but answers 4 s late
    fault_env |= {"GIFTQ_BAMBOO_COALESCE": "1", "GIFTQ_BAMBOO_TIMEOUT_S": "10"}
    orders = backlog()
    park_behind_the_first(rt, producer, start_workers, orders)
    sandbox_now.admin("POST", "faults", json={"kind": "slow_response", "delay_ms": 4000, "count": 2})
    placer, pack_id = start_placing(rt, start_workers, orders)
    wait_for(lambda: pack_id in sandbox_now.admin("GET", "findings")["accepted_request_ids"], timeout_s=10,
             what="the pack charged")  # fmt: skip
    assert rt.store.get(pack_id).state == states.SUBMITTING

    # When the worker dies while the call is in flight
    placer.kill()
    start_workers(1, beat=True)

    # Then reconciliation resolves the pack by its own RequestId: each member fulfilled with its cards, charged once
    assert_each_fulfilled_once_by_its_packs_id(rt, sandbox_now, orders, pack_id)


def test_a_partially_failed_pack_hands_its_issued_cards_to_its_oldest_members_and_ends_each_by_its_own(
    fault_env: dict, rt: Runtime, producer: Celery, sandbox_now: Sandbox, start_workers
) -> None:
    # Given a provider that fails some cards of every order, and a pack of four 2-card orders of one line
    fault_env["GIFTQ_BAMBOO_COALESCE"] = "1"
    sandbox_now.admin("POST", "config", json={"partial_probability": 1.0})
    orders = [an_order([(100001, "25", 1)]), *(an_order([(100001, "25", 2)]) for _ in range(4))]
    park_behind_the_first(rt, producer, start_workers, orders)

    # When it is placed and final (PartialFailed)
    start_workers(1)
    members = [order["RequestId"] for order in orders[1:]]
    wait_for(lambda: all(final_state(rt, rid) for rid in members), timeout_s=60, what="final orders")

    # Then the issued cards go to the members oldest first, the failed ones to the newest (the fixed rule); each
    # ends by its own cards; between them they hold exactly the cards issued, none twice
    (pack_id,) = {rt.store.get(rid).pack for rid in members}
    members = list(rt.store.get(pack_id).members)  # oldest first, as the pack records them
    cards = sandbox_now.admin("GET", f"orders/{pack_id}")["allCards"]
    issued = sum(1 for card in cards if card["cardCode"])
    assert 0 < issued < 8
    held = [rt.store.get(rid).summary["cards_issued"] for rid in members]
    assert held == [min(2, max(0, issued - 2 * i)) for i in range(4)]
    expected = {2: states.FULFILLED, 1: states.PARTIALLY_FULFILLED, 0: states.FAILED}
    assert [final_state(rt, rid) for rid in members] == [expected[count] for count in held]
    money = audit_money(rt, sandbox_now.url, [order["RequestId"] for order in orders])
    assert money.clean, money
