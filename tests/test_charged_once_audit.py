"""The "charged once" audit can fail: over the real stack, a provider that takes a second order for one producer
order, or a charge placed beside giftq, is counted by the same audit the demo, the chaos bench and the flow tests use.
"""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
from celery import Celery

from config.settings import Credential, Limits
from tests.fault_fixtures import an_order, checkout_calls
from tests.waiting import final_state, wait_for
from worker.cli.money_audit import audit_money
from worker.cli.processes import Sandbox
from worker.orders import states
from worker.providers.bamboo import BambooClient
from worker.providers.base import OrderLine, PlaceRequest
from worker.runtime import Runtime

pytestmark = pytest.mark.timeout(90)


def test_a_provider_that_forgets_an_order_charges_it_twice_and_the_audit_counts_it(
    fault_env: dict, rt: Runtime, producer: Celery, sandbox_now: Sandbox, start_workers
) -> None:
    # Given a Place Order charged but never answered
    sandbox_now.admin("POST", "faults", json={"kind": "timeout_after_commit", "hold_ms": 3000, "count": 1})
    start_workers(1)
    order = an_order()
    producer.send_task("giftq.submit_order", args=[order])
    request_id = order["RequestId"]
    wait_for(lambda: sandbox_now.admin("GET", "findings")["accepted_orders"] == 1, timeout_s=20, what="a charge")

    # When the provider forgets the order before giftq asks Get Order, so the same RequestId is accepted again
    sandbox_now.admin("DELETE", f"orders/{request_id}")
    assert wait_for(lambda: final_state(rt, request_id), timeout_s=30, what="a final state") == states.FULFILLED
    assert [c["status"] for c in checkout_calls(sandbox_now)] == [None, 200]

    # Then the audit counts one order charged twice, two cards paid for one ordered, and cards it does not hold
    money = audit_money(rt, sandbox_now.url, [request_id])
    assert not money.clean
    assert money.charged_twice == (request_id,) and money.charges_per_order == {request_id: 2}
    assert money.extra_charges == 1
    assert (money.cards_charged, money.cards_ordered) == (2, 1) and money.card_count_mismatches == (request_id,)
    assert money.card_mismatches == (request_id,)
    assert dict(money.rows())["orders charged twice"] == "1"


def test_an_order_placed_beside_giftq_is_a_charge_for_no_order(
    fault_env: dict, rt: Runtime, producer: Celery, sandbox_now: Sandbox, start_workers
) -> None:
    # Given an order giftq fulfilled, charged once
    start_workers(1)
    order = an_order()
    producer.send_task("giftq.submit_order", args=[order])
    request_id = order["RequestId"]
    assert wait_for(lambda: final_state(rt, request_id), timeout_s=30, what="a final state") == states.FULFILLED
    assert audit_money(rt, sandbox_now.url, [request_id]).clean

    # When the same cards are bought again under another provider RequestId, beside giftq
    client = BambooClient(sandbox_now.url, Credential(client_id="giftq-demo", client_secret="demo-secret",
                                                      limits=Limits()), timeout_s=5)  # fmt: skip
    stray = str(uuid.uuid4())
    assert client.place(PlaceRequest(stray, 555, (OrderLine(100001, 1, Decimal(25)),))) is True

    # Then the audit counts a charge that belongs to no order
    money = audit_money(rt, sandbox_now.url, [request_id])
    assert money.stray_charges == (stray,) and money.extra_charges == 1 and not money.clean
    assert money.charges_per_order == {request_id: 1} and money.card_mismatches == ()
