"""The real Lua throttle against the provider's rules, not against a copy of itself.

Random histories of the placing protocol (tests/throttle_history.py) drive `Throttle` on a real Redis with an
explicit clock: orders of one to three products arriving at random, claims early, on time, late and past their
lease, requests written at once or late after their claim, calls answered 200 or 429 (a hold), holds from
elsewhere, both spacing modes (end-to-start with releases), orders over the card limit, and Get Order
reservations. The calls that start go to the independent judge (sandbox/judge.py), at the moment their requests
were written, with the rules widened by giftq's margin, which is what the throttle promises on its own clock (half
the margin covers a call's way to the provider).
"""

from __future__ import annotations

import uuid
from collections import Counter

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sandbox.judge import GET_ORDER, PLACE_ORDER, SPACING, Call, Rules, judge
from tests.throttle_history import CREDENTIAL, History
from worker.keys import Keys
from worker.throttle.scheduler import (
    END_TO_START,
    START_TO_START,
    Deferral,
    Go,
    Limits,
    Packing,
    Parked,
    Slot,
    Throttle,
    Wait,
)

PRODUCTS = (101, 102, 103, 104)
START_MS = 1_000_000


def small_limits(mode: str) -> Limits:
    return Limits(
        spacing_ms=100, margin_ms=5, spacing_mode=mode, product_limit=2, product_window_ms=1000, max_cards=500,
        get_limit=3, get_window_ms=1000, lease_ms=2000, max_wait_ms=500,
    )  # fmt: skip


def promised_rules(limits: Limits) -> Rules:
    """The provider's rules in these limits' terms, widened by the margin the throttle keeps on top of them."""
    rules = Rules(spacing_ms=limits.spacing_ms, product_limit=limits.product_limit,
                  product_window_ms=limits.product_window_ms, get_limit=limits.get_limit,
                  get_window_ms=limits.get_window_ms, max_cards=limits.max_cards,
                  end_to_start=limits.spacing_mode == END_TO_START)  # fmt: skip
    return rules.widened(limits.margin_ms)


class Draws:
    """Each random step of a history, drawn from hypothesis; faults that re-park an order are bounded."""

    def __init__(self, data: st.DataObject, lease_ms: int):
        self.data, self.lease_ms = data, lease_ms
        self.past_lease, self.rate_limited = 2, 3

    def __call__(self, name: str):
        draw = self.data.draw
        if name == "claim offset":
            kind = draw(st.sampled_from(["on time", "late", "early", "past lease"]), label=name)
            if kind == "past lease" and self.past_lease:
                self.past_lease -= 1
                return draw(st.integers(self.lease_ms + 1, self.lease_ms + 200), label="past lease by")
            return {"on time": 0, "late": draw(st.integers(1, 150), label="late by"),
                    "early": -draw(st.integers(1, 40), label="early by")}.get(kind, 0)  # fmt: skip
        if name == "answer":
            duration = draw(st.integers(1, 300), label="call duration")
            if self.rate_limited and draw(st.booleans(), label="answered 429"):
                self.rate_limited -= 1
                return duration, 429, draw(st.integers(1, 1500), label="429 wait")
            return duration, 200, 0
        if name == "send delay":  # 0, or late enough to be noted (more than 2 ms), up to past the spacing
            return draw(st.sampled_from([0, 0, 3, 40, 250]), label=name)
        return draw(st.sampled_from([0, 1, 20]), label=name)  # retry delay, hand-on delay


orders = st.lists(
    st.tuples(st.integers(0, 400), st.lists(st.sampled_from(PRODUCTS), min_size=1, max_size=3, unique=True),
              st.one_of(st.integers(1, 3), st.just(501))),
    min_size=1, max_size=10,
)  # fmt: skip


@pytest.fixture(scope="module")
def lua_client(redis_url: str):
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


def new_throttle(client: redis.Redis) -> Throttle:
    return Throttle(client, Keys(f"p-{uuid.uuid4().hex[:8]}"))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    mode=st.sampled_from([START_TO_START, END_TO_START]),
    arrivals=orders,
    holds=st.lists(st.tuples(st.integers(0, 3000), st.integers(1, 1500)), max_size=3),
    gets=st.lists(st.integers(0, 3000), max_size=8),
    data=st.data(),
)
def test_every_call_the_throttle_starts_keeps_the_rules_and_no_slot_stands_idle_while_an_order_could_use_it(
    lua_client: redis.Redis, mode: str, arrivals: list, holds: list, gets: list, data: st.DataObject
) -> None:
    """Safety: the judge finds no rule broken by the calls that started and the Get Orders reserved.

    No idle slot, as the provider's rules allow it: whenever the throttle answers its driver (at an arrival, after
    each claim or, end-to-start, each call's end, and when a Wait comes due) at time `now`, let e(o) be the earliest
    T >= now at which parked order o could start without breaking a rule widened by the margin, counting every slot
    handed out so far from its real start (a slot given up stays counted; end-to-start, a call ends when answered,
    a slot given up at its own start, and an unanswered call lease_ms after it began) and the latest hold. Then a Go
    for o at T has T >= e(o) and T <= min over parked orders of e; a Wait comes only when that minimum is after now,
    and asks to be driven again no later than it (and within max_wait). A Get Order is deferred exactly until its
    window has room. Idle time while the driver itself is missing (a task past its lease) is not judged: the
    throttle acts only when called. Liveness: Parked only while a driver is still to come, and in the end every
    order within the card limit was placed exactly once.
    """
    limits = small_limits(mode)
    history = History(new_throttle(lua_client), limits, Draws(data, limits.lease_ms), start_ms=START_MS)
    at = START_MS
    for index, (gap, products, cards) in enumerate(arrivals):
        at += gap
        history.orders[f"r{index}"] = (at, tuple(products), cards)
        history.at(at, "arrive", f"r{index}")
    for offset, wait_ms in holds:
        history.at(START_MS + offset, "hold", wait_ms)
    for offset in gets:
        history.at(START_MS + offset, "get", 1)

    history.run()

    placed = Counter(call.request_id for call in history.calls if call.endpoint == PLACE_ORDER and call.status == 200)
    assert placed == Counter(rid for rid in history.orders if rid not in history.rejected)
    report = judge(history.calls, promised_rules(limits))
    assert report.ok, report.describe()


def test_a_late_claim_moves_the_next_slot_to_the_calls_real_start(lua_client: redis.Redis) -> None:
    # Given r1 owning the first slot and r2 parked behind it (spacing 100 ms, margin 5 ms)
    limits, throttle, now = small_limits(START_TO_START), new_throttle(lua_client), START_MS
    first = throttle.park_and_schedule(CREDENTIAL, limits, request_id="r1", age_ms=0, product_ids=[101], cards=1,
                                       now_ms=now)  # fmt: skip
    parked = throttle.park_and_schedule(CREDENTIAL, limits, request_id="r2", age_ms=1, product_ids=[102], cards=1,
                                        now_ms=now)  # fmt: skip
    assert isinstance(first, Go) and isinstance(parked, Parked)

    # When r1's task claims 50 ms late, then drives the schedule on
    assert throttle.claim(CREDENTIAL, limits, "r1", first.slot_ms, now_ms=now + 50).outcome == "call"
    second = throttle.schedule_next(CREDENTIAL, limits, first.token, now_ms=now + 50)

    # Then r2's slot keeps spacing and margin from r1's real start, not from its slot
    assert isinstance(second, Go) and second.request_id == "r2"
    starts = [Call(CREDENTIAL, PLACE_ORDER, now + 50, "r1", (101,)), Call(CREDENTIAL, PLACE_ORDER, second.slot_ms)]
    report = judge(starts, promised_rules(limits))
    assert report.ok, report.describe()
    assert second.slot_ms == now + 50 + 105


def test_a_late_claim_moves_its_product_window_entry_to_the_calls_real_start(lua_client: redis.Redis) -> None:
    # Given product 101 limited to 2 orders per 1005 ms: r1 claims its slot 400 ms late, r2 (101) goes on time
    limits, throttle, now = small_limits(START_TO_START), new_throttle(lua_client), START_MS
    starts = []
    decisions = [throttle.park_and_schedule(CREDENTIAL, limits, request_id=f"r{index}", age_ms=index,
                                            product_ids=[101], cards=1, now_ms=now) for index in range(3)]  # fmt: skip
    decision = decisions[0]
    for late_ms in (400, 0):
        assert isinstance(decision, Go)
        now = decision.slot_ms + late_ms
        assert throttle.claim(CREDENTIAL, limits, decision.request_id, decision.slot_ms, now_ms=now).outcome == "call"
        starts.append(Call(CREDENTIAL, PLACE_ORDER, now, decision.request_id, (101,)))
        decision = throttle.schedule_next(CREDENTIAL, limits, decision.token, now_ms=now)

    # When the driver comes back when told, until r2's window lets the third order go
    while not isinstance(decision, Go):
        now = decision.due_ms
        decision = throttle.schedule_next(CREDENTIAL, limits, decision.token, now_ms=now)
    starts.append(Call(CREDENTIAL, PLACE_ORDER, decision.slot_ms, decision.request_id, (101,)))

    # Then no 3 orders of 101 fall in one window counted from the real starts, and the third goes as soon as allowed
    report = judge(starts, promised_rules(limits))
    assert report.ok and report.count(SPACING) == 0, report.describe()
    assert decision.slot_ms == starts[0].at_ms + 1005


def test_a_request_written_late_after_its_claim_moves_the_next_slot_to_when_it_left(lua_client: redis.Redis) -> None:
    # Given r1 claiming its slot on time and r2 (another product) parked behind it (spacing 100 ms, margin 5 ms)
    limits, throttle, now = small_limits(START_TO_START), new_throttle(lua_client), START_MS
    first = throttle.park_and_schedule(CREDENTIAL, limits, request_id="r1", age_ms=0, product_ids=[101], cards=1,
                                       now_ms=now)  # fmt: skip
    throttle.park_and_schedule(CREDENTIAL, limits, request_id="r2", age_ms=1, product_ids=[101], cards=1, now_ms=now)
    assert isinstance(first, Go) and throttle.claim(CREDENTIAL, limits, "r1", now, now_ms=now).outcome == "call"

    # When r1's process is descheduled and its request leaves 40 ms after the claim (more than the margin), which
    # its task notes before it hands the schedule on
    assert throttle.note_sent(CREDENTIAL, "r1", now, now + 40, [101], now_ms=now + 40)
    second = throttle.schedule_next(CREDENTIAL, limits, first.token, now_ms=now + 40)

    # Then r2's slot keeps spacing and margin from when r1's request left, which the provider sees as its start
    assert isinstance(second, Go) and second.request_id == "r2"
    arrivals = [Call(CREDENTIAL, PLACE_ORDER, now + 40, "r1", (101,)), Call(CREDENTIAL, PLACE_ORDER, second.slot_ms)]
    report = judge(arrivals, promised_rules(limits))
    assert report.ok, report.describe()
    assert second.slot_ms == now + 40 + 105


def test_a_get_order_written_late_after_its_reservation_keeps_its_window_from_when_it_left(
    lua_client: redis.Redis,
) -> None:
    # Given a credential's Get Order window full (3 per 1,000 ms, margin 5 ms), its first call reserved at the start
    limits, throttle, now = small_limits(START_TO_START), new_throttle(lua_client), START_MS
    first = throttle.reserve_get(CREDENTIAL, limits, now_ms=now)
    assert isinstance(first, Slot) and first.entry
    for offset in (100, 200):
        assert isinstance(throttle.reserve_get(CREDENTIAL, limits, now_ms=now + offset), Slot)

    # When the first call's request left 40 ms after its reservation (its process was descheduled), as noted
    assert throttle.note_get_sent(CREDENTIAL, limits, first, now + 40, now_ms=now + 40)

    # Then the fourth call waits for the window counted from when the first left, not from its reservation
    early = throttle.reserve_get(CREDENTIAL, limits, now_ms=now + 1005 + 10)
    assert early == Deferral(30)
    fourth = throttle.reserve_get(CREDENTIAL, limits, now_ms=now + 1045)
    assert isinstance(fourth, Slot)
    gets = [Call(CREDENTIAL, GET_ORDER, at, seq=i) for i, at in enumerate((now + 40, now + 100, now + 200, now + 1045))]
    report = judge(gets, promised_rules(limits))
    assert report.ok, report.describe()


packable_orders = st.lists(
    st.tuples(st.integers(0, 300), st.sampled_from([555, 556]),
              st.lists(st.tuples(st.sampled_from(PRODUCTS), st.sampled_from(["5", "10"]), st.integers(1, 4)),
                       min_size=1, max_size=2, unique_by=lambda line: line[0])),
    min_size=1, max_size=14,
)  # fmt: skip


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(arrivals=packable_orders, hold_ms=st.sampled_from([0, 150, 400]))
def test_packs_keep_the_rules_hold_each_order_once_and_leave_behind_no_order_that_could_have_ridden(
    lua_client: redis.Redis, arrivals: list, hold_ms: int
) -> None:
    """Coalescing, driven as the placing tasks drive it (every slot claimed on time, the schedule handed on at once)
    on an explicit clock: the judge finds no rule broken by the provider orders (a pack counts once in each of its
    products' windows, its cards all count); every producer order rides in exactly one provider order; a provider
    order carries one account; and when a slot is given, no order of its account is left parked whose products
    are all in it and whose cards fit what room it has left."""
    limits = Limits(spacing_ms=100, margin_ms=5, product_limit=2, product_window_ms=1000, max_cards=10, lease_ms=2000,
                    max_wait_ms=500, coalesce=1, coalesce_hold_ms=hold_ms)  # fmt: skip
    throttle = new_throttle(lua_client)
    orders, events, at = {}, [], START_MS
    for index, (gap, account, lines) in enumerate(arrivals):
        at += gap
        orders[f"r{index}"] = (account, lines)
        events.append((at, index, "arrive", f"r{index}"))
    waiting: dict[str, int] = {}  # parked (or about to be), by arrival time
    rides: Counter = Counter()
    calls, sequence = [], len(events)

    def follow(decision, now: int) -> None:
        nonlocal sequence
        sequence += 1
        if isinstance(decision, Go):
            pack = throttle.pack(CREDENTIAL, decision.request_id)
            members = pack.member_ids if pack else [decision.request_id]
            rides.update(members)
            for member in members:
                waiting.pop(member)
            lines = [line for member in members for line in orders[member][1]]
            products = {product for product, _, _ in lines}
            cards = sum(quantity for _, _, quantity in lines)
            assert len({orders[member][0] for member in members}) == 1, "one account per provider order"
            for other, arrived in waiting.items():
                account, other_lines = orders[other]
                fits = cards + sum(q for _, _, q in other_lines) <= limits.max_cards
                assert not (arrived <= now and account == orders[members[0]][0] and fits
                            and {p for p, _, _ in other_lines} <= products), f"{other} could have ridden"  # fmt: skip
            calls.append(Call(CREDENTIAL, PLACE_ORDER, decision.slot_ms, decision.request_id, tuple(sorted(products)),
                              cards))  # fmt: skip
            events.append((decision.slot_ms, sequence, "claim", decision))
        elif isinstance(decision, Wait):
            events.append((decision.due_ms, sequence, "drive", decision.token))

    for _ in range(3000):
        if not events:
            break
        events.sort(key=lambda event: (event[0], event[1]))
        now, _, kind, payload = events.pop(0)
        if kind == "arrive":
            account, lines = orders[payload]
            waiting[payload] = now
            packing = Packing(account, [{"ProductId": p, "Value": v, "Quantity": q} for p, v, q in lines])
            cards, products = sum(q for _, _, q in lines), [p for p, _, _ in lines]
            decision = throttle.park_and_schedule(CREDENTIAL, limits, request_id=payload, age_ms=now, cards=cards,
                                                  product_ids=products, packing=packing, now_ms=now)  # fmt: skip
            follow(decision, now)
        elif kind == "claim":
            assert throttle.claim(CREDENTIAL, limits, payload.request_id, payload.slot_ms, now_ms=now).outcome == "call"
            follow(throttle.schedule_next(CREDENTIAL, limits, payload.token, now_ms=now), now)
        else:
            follow(throttle.schedule_next(CREDENTIAL, limits, payload, now_ms=now), now)

    assert rides == Counter(list(orders)), "every order rides in exactly one provider order"
    report = judge(calls, promised_rules(limits))
    assert report.ok, report.describe()
