"""Coalescing over the real stack: producer orders packed into one Bamboo order, and each member's cards.

Redis, real `celery -A worker worker` processes, the Bamboo sandbox over HTTP. The cards each member holds are
checked against the cards the sandbox issued for the provider order it rode in, by product and face value.
"""

from __future__ import annotations

from collections import Counter
from decimal import Decimal

import pytest
from celery import Celery

from api.orders import view_of
from tests.coalescing import an_order, park_behind_the_first
from tests.judging import assert_within_limits
from tests.waiting import final_state, wait_for
from worker.cli.money_audit import audit_money
from worker.cli.processes import Sandbox
from worker.orders import states
from worker.runtime import Runtime

pytestmark = pytest.mark.timeout(120)

# (ProductId, Value, Quantity) lines: several products, and two face values of one product
ORDERS = [
    [(439685, "10", 2)],
    [(100001, "25", 1), (439685, "10", 1)],
    [(100001, "30", 3)],
    [(100002, "50", 1)],
    [(439685, "10", 1)],
    [(100001, "25", 2)],
]


def test_orders_packed_into_one_provider_order_each_get_exactly_their_cards(
    giftq_env: dict, rt: Runtime, producer: Celery, sandbox: Sandbox, start_workers
) -> None:
    # Given coalescing on, and a worker that takes orders in but runs no slot's task: the first order gets the
    # first slot, the five after it wait parked behind it
    giftq_env["GIFTQ_BAMBOO_COALESCE"] = "1"
    orders = [an_order(lines) for lines in ORDERS]
    request_ids = [order["RequestId"] for order in orders]
    park_behind_the_first(rt, producer, start_workers, orders)

    # When workers that place orders start
    start_workers(1)

    # Then every order is fulfilled: the first alone, the other five in one provider order
    wait_for(lambda: all(final_state(rt, rid) for rid in request_ids), timeout_s=60, what="final orders")
    records = {rid: rt.store.get(rid) for rid in request_ids}
    assert {record.state for record in records.values()} == {states.FULFILLED}
    assert records[request_ids[0]].pack == ""
    packs = {record.pack for rid, record in records.items() if rid != request_ids[0]}
    assert len(packs) == 1 and "" not in packs
    (pack_id,) = packs
    provider_ids = [request_ids[0], pack_id]
    # (what an operator counts, `giftq top` and the giftq_orders gauge, are the six producer orders, not the pack)
    assert rt.store.count_by_state()[states.FULFILLED] == 6
    assert rt.store.count_by_state_and_provider()[(states.FULFILLED, "bamboo")] == 6
    accepted = [rid for rid in sandbox.admin("GET", "findings")["accepted_request_ids"] if rid in provider_ids]
    assert sorted(accepted) == sorted(provider_ids), "one charge per provider order"
    assert_within_limits(sandbox, provider_ids)
    for rid in request_ids[1:]:
        assert [entry["to"] for entry in rt.store.history(rid)] == ["accepted", "packed", "fulfilled"]
        # what GET /orders/{request_id} shows of the provider order it rode in
        assert view_of(rt, records[rid])["provider_orders"] == [
            {"request_id": pack_id, "state": states.FULFILLED, "producer_orders": 5}
        ]
    assert view_of(rt, records[request_ids[0]])["provider_orders"] == [
        {"request_id": request_ids[0], "state": states.FULFILLED, "producer_orders": 1}
    ]

    # And the provider order's cards are shared out exactly: each member holds its lines' cards, by product and
    # face value, and no card is held twice or left out
    issued = sandbox.admin("GET", f"orders/{pack_id}")
    line_of = {card["cardCode"]: (item["productId"], Decimal(str(item["productFaceValue"])))
               for item in issued["items"] for card in item["cards"]}  # fmt: skip
    held: list[str] = []
    for order in orders[1:]:
        record = records[order["RequestId"]]
        cards = rt.cipher.decrypt(record.cards_token, record.cards_context)
        codes = [card["code"] for card in cards]
        held += codes
        wanted = Counter()
        for line in order["Products"]:
            wanted[(line["ProductId"], Decimal(line["Value"]))] += line["Quantity"]
        assert Counter(line_of[code] for code in codes) == wanted
        assert record.summary == {"cards_issued": sum(wanted.values()), "cards_failed": 0}
    assert sorted(held) == sorted(line_of), "every card of the provider order held by one member"
    assert sum(len(item["cards"]) for item in issued["items"]) == sum(q for lines in ORDERS[1:] for _, _, q in lines)


def test_an_order_of_1200_cards_becomes_three_provider_orders_and_ends_fulfilled_with_every_card(
    rt: Runtime, producer: Celery, sandbox: Sandbox, start_workers
) -> None:
    # Given one producer order of 1,200 cards over two lines (Bamboo takes at most 500 in one order)
    start_workers(1)
    order = an_order([(100001, "10", 700), (439685, "5", 500)])
    producer.send_task("giftq.submit_order", args=[order])
    request_id = order["RequestId"]

    # Then it is placed as three provider orders of 500, 500 and 200 cards, each under its own RequestId made once
    assert wait_for(lambda: final_state(rt, request_id), timeout_s=60, what="a final state") == states.FULFILLED
    record = rt.store.get(request_id)
    part_ids = [part["id"] for part in record.parts]
    assert [sum(line["Quantity"] for line in part["lines"]) for part in record.parts] == [500, 500, 200]
    accepted = sandbox.admin("GET", "findings")["accepted_request_ids"]
    assert [accepted.count(part_id) for part_id in part_ids] == [1, 1, 1]
    assert_within_limits(sandbox, part_ids)
    # And the order holds every card its parts were issued, by product and face value, exactly once
    issued = {}
    for part_id in part_ids:
        for item in sandbox.admin("GET", f"orders/{part_id}")["items"]:
            for card in item["cards"]:
                issued[card["cardCode"]] = (item["productId"], Decimal(str(item["productFaceValue"])))
    codes = [card["code"] for card in rt.cipher.decrypt(record.cards_token, record.cards_context)]
    assert sorted(codes) == sorted(issued)
    assert Counter(issued[code] for code in codes) == {(100001, Decimal("10")): 700, (439685, Decimal("5")): 500}
    assert record.summary == {"cards_issued": 1200, "cards_failed": 0}
    assert [entry["state"] for entry in view_of(rt, record)["provider_orders"]] == [states.FULFILLED] * 3
    money = audit_money(rt, sandbox.url, [request_id], count_strays=False)
    assert money.clean, money
    assert money.cards_charged == 1200 and money.charges_per_order == {request_id: 3}
    # (the parts keep no copy of the cards once the order has them)
    assert not any(part.cards_token for part in rt.store.get_many(part_ids))
