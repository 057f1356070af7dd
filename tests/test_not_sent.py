"""A Place Order request that was never sent gives back what its claim took: a miss costs one spacing, never a window.

Before, a request "not sent in time" on a hot product kept its product-window entry, so that product lost a whole
window (a minute at Bamboo's limits) for a call the provider never received.
"""

from __future__ import annotations

import time
from collections import Counter

import pytest
import redis

from config.settings import Limits
from tasks.placing import _checkout, _drive_after_call, _WhenSent
from worker.keys import Keys
from worker.orders import states
from worker.runtime import Runtime
from worker.throttle.scheduler import Go, Throttle

ONE_PER_WINDOW = Limits(spacing_ms=100, margin_ms=10, product_limit=1, product_window_ms=60_000)


def test_a_claim_given_back_frees_its_products_window_so_the_order_goes_one_spacing_later(
    redis_client: redis.Redis, key_prefix: str
) -> None:
    # Given a product allowed once a minute, and an order that claimed its slot at t
    throttle = Throttle(redis_client, Keys(key_prefix))
    t = 1_000_000
    go = throttle.park_and_schedule("c", ONE_PER_WINDOW, request_id="r1", age_ms=0, product_ids=[7], cards=1,
                                    now_ms=t)  # fmt: skip
    assert isinstance(go, Go)
    assert throttle.claim("c", ONE_PER_WINDOW, "r1", go.slot_ms, now_ms=go.slot_ms).outcome == "call"

    # When its request was never sent, and it gives the claim back and is parked again
    assert throttle.give_back("c", "r1", go.slot_ms, [7]) == 1
    again = throttle.park_and_schedule("c", ONE_PER_WINDOW, request_id="r1", age_ms=0, product_ids=[7], cards=1,
                                       now_ms=go.slot_ms + 1)  # fmt: skip
    if not isinstance(again, Go):
        again = throttle.schedule_next("c", ONE_PER_WINDOW, go.token, now_ms=go.slot_ms + 1)

    # Then it goes again within one spacing and margin, not a window later
    assert isinstance(again, Go) and again.request_id == "r1"
    assert again.slot_ms - go.slot_ms <= ONE_PER_WINDOW.spacing_ms + ONE_PER_WINDOW.margin_ms


def test_a_request_past_its_send_deadline_gives_back_its_window_entry(
    rt: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given an order that claimed a slot, over the real store and throttle
    monkeypatch.setattr("tasks.placing._not_sent_in_a_row", Counter())
    limits = rt.limits("giftq-demo")
    request_id = "00000000-0000-4000-8000-0000000000aa"
    order = {"RequestId": request_id, "AccountId": 555, "Products": [{"ProductId": 100010, "Quantity": 1,
                                                                      "Value": "25.00"}]}  # fmt: skip
    rt.store.create(request_id, order, credential="giftq-demo", provider_request_id=request_id)
    rt.store.transition(request_id, states.SUBMITTING)
    go = rt.throttle.park_and_schedule("giftq-demo", limits, request_id=request_id, age_ms=0, product_ids=[100010],
                                       cards=1)  # fmt: skip
    assert isinstance(go, Go)
    claim = rt.throttle.claim("giftq-demo", limits, request_id, go.slot_ms, now_ms=go.slot_ms)
    window = f"{rt.keys.schedule('giftq-demo')}:window:100010"
    assert rt.redis.zcard(window) == 1

    # When the placing task gets to send only after its deadline
    record = rt.store.get(request_id)
    claimed = _WhenSent(rt, "giftq-demo", record, go.slot_ms + claim.ms, time.monotonic() - 0.01, None)
    outcome = _checkout(rt, "giftq-demo", record, time.monotonic() - 0.001, claimed)

    # Then nothing was sent, the product's window holds nothing for it, and the order is parked again
    assert outcome == "not sent"
    assert rt.redis.zcard(window) == 0
    assert rt.redis.hexists(rt.keys.parked("giftq-demo"), request_id)


def test_a_placing_task_whose_request_left_late_moves_the_next_slot_before_handing_the_schedule_on(
    rt: Runtime,
) -> None:
    # Given an order that claimed its slot, and another parked behind it (other products, so only spacing binds)
    limits = rt.limits("giftq-demo")
    first, second = "00000000-0000-4000-8000-0000000000b1", "00000000-0000-4000-8000-0000000000b2"
    go, started_ms = _claimed_with_one_behind(rt, limits, first, second)

    # When its request is written 40 ms after the claim, as the placing task's hook hears it (no hand-on here)
    claimed_at = time.monotonic()
    _WhenSent(rt, "giftq-demo", rt.store.get(first), started_ms, claimed_at, None)(claimed_at + 0.040)
    nxt = rt.throttle.schedule_next("giftq-demo", limits, go.token, now_ms=go.slot_ms + 41)

    # Then the next slot keeps spacing and margin from when the request left, not from the claim
    assert isinstance(nxt, Go) and nxt.request_id == second
    assert nxt.slot_ms >= started_ms + 40 + limits.spacing_ms + limits.margin_ms


def _claimed_with_one_behind(rt: Runtime, limits: Limits, first: str, second: str) -> tuple[Go, int]:
    """An order that claimed its slot, and another parked behind it (other products: only spacing binds)."""
    for index, (request_id, product) in enumerate(((first, 100010), (second, 100011))):
        order = {"RequestId": request_id, "AccountId": 555,
                 "Products": [{"ProductId": product, "Quantity": 1, "Value": "25.00"}]}  # fmt: skip
        rt.store.create(request_id, order, credential="giftq-demo", provider_request_id=request_id)
        decision = rt.throttle.park_and_schedule("giftq-demo", limits, request_id=request_id, age_ms=index,
                                                 product_ids=[product], cards=1)  # fmt: skip
        if index == 0:
            assert isinstance(decision, Go)
            go = decision
    claim = rt.throttle.claim("giftq-demo", limits, first, go.slot_ms, now_ms=go.slot_ms)
    assert claim.outcome == "call"
    return go, go.slot_ms + claim.ms


def test_a_placing_task_that_hands_on_as_its_late_request_leaves_reserves_the_next_slot_from_the_send(
    rt: Runtime,
) -> None:
    # Given an order that claimed its slot, another parked behind it, and the schedule's token (start-to-start)
    limits = rt.limits("giftq-demo")
    first, second = "00000000-0000-4000-8000-0000000000c1", "00000000-0000-4000-8000-0000000000c2"
    go, started_ms = _claimed_with_one_behind(rt, limits, first, second)

    # When its request is written 40 ms after the claim, and the hook hands the schedule on in the same moment
    claimed_at = time.monotonic()
    when_sent = _WhenSent(rt, "giftq-demo", rt.store.get(first), started_ms, claimed_at, go.token)
    when_sent(claimed_at + 0.040)

    # Then the next order's slot, reserved by that hand-on, keeps spacing and margin from the send
    assert when_sent.handed_on and when_sent.unnoted is None
    slot_ms = rt.redis.zscore(rt.keys.scheduled("giftq-demo"), second)
    assert slot_ms is not None and slot_ms >= started_ms + 40 + limits.spacing_ms + limits.margin_ms


def test_a_late_start_the_hand_on_could_not_write_is_noted_when_the_task_drives_after_its_call(
    rt: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given an order that claimed its slot and another parked behind it, and Redis refusing the hand-on's call
    limits = rt.limits("giftq-demo")
    first, second = "00000000-0000-4000-8000-0000000000d1", "00000000-0000-4000-8000-0000000000d2"
    go, started_ms = _claimed_with_one_behind(rt, limits, first, second)
    calls = []

    def refuse(*args, **kwargs):  # as a Redis that dropped the connection would
        calls.append(args)
        raise redis.ConnectionError("connection reset")

    monkeypatch.setattr(rt.throttle, "note_sent_and_schedule_next", refuse)
    claimed_at = time.monotonic()
    when_sent = _WhenSent(rt, "giftq-demo", rt.store.get(first), started_ms, claimed_at, go.token)
    when_sent(claimed_at + 0.040)
    assert calls and not when_sent.handed_on and when_sent.unnoted is not None
    monkeypatch.undo()

    # When the task drives the schedule after its call, as place_reserved does when the hand-on failed
    _drive_after_call(rt, "giftq-demo", go.token, when_sent.unnoted)

    # Then the next slot still counts from the send, not from the claim
    slot_ms = rt.redis.zscore(rt.keys.scheduled("giftq-demo"), second)
    assert slot_ms is not None and slot_ms >= started_ms + 40 + limits.spacing_ms + limits.margin_ms
