"""The Lua throttle and the plain Python model of its rules make the same decisions on the same random histories.

The model follows the Lua step by step, so their agreement pins the two together and proves no rule: that the
decisions keep the provider's rules is tests/test_throttle_properties.py's, judged by sandbox/judge.py.
"""

from __future__ import annotations

import uuid
from itertools import pairwise

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.throttle_model import ModelThrottle
from worker.errors import OrderRejected
from worker.keys import Keys
from worker.throttle.scheduler import END_TO_START, START_TO_START, Go, Idle, Limits, Throttle, Wait

PRODUCTS = [101, 102, 103, 104]


def small_limits(mode: str) -> Limits:
    """Limits small enough for short histories to reach every rule. Coalescing off: the model schedules one order
    per slot. Packing and its bottleneck hold are held to the provider's rules by tests/test_throttle_properties.py
    and pinned by tests/test_packing.py (with it on, the hold makes the Lua wait where the model goes)."""
    return Limits(
        spacing_ms=100, margin_ms=5, spacing_mode=mode, product_limit=2, product_window_ms=1000, max_cards=500,
        get_limit=3, get_window_ms=1000, lease_ms=2000, max_wait_ms=500, coalesce=0,
    )  # fmt: skip


operation = st.one_of(
    st.tuples(
        st.just("park"),
        st.integers(0, 11),
        st.lists(st.sampled_from(PRODUCTS), min_size=1, max_size=3),
        st.integers(1, 520),
    ),  # fmt: skip
    st.tuples(st.just("drive"), st.sampled_from(["current", "stale", "none"])),
    st.tuples(st.just("claim"), st.integers(0, 11)),
    st.tuples(st.just("release")),
    st.tuples(st.just("hold"), st.integers(0, 3000)),
    st.tuples(st.just("get")),
)
history = st.lists(st.tuples(st.integers(0, 700), operation), min_size=1, max_size=40)


@pytest.fixture(scope="module")
def lua_client(redis_url: str):
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(mode=st.sampled_from([START_TO_START, END_TO_START]), steps=history)
def test_lua_and_model_agree_on_every_decision(lua_client: redis.Redis, mode: str, steps: list) -> None:
    limits = small_limits(mode)
    lua, model = Throttle(lua_client, Keys(f"h-{uuid.uuid4().hex[:8]}")), ModelThrottle(limits)
    now, token, slots = 1_000_000, "", {}
    for delta, op in steps:
        now += delta
        expected, actual = apply(model, lua, limits, op, now, token, slots)
        assert actual == expected, f"{op} at {now}"
        if isinstance(actual, (Go, Wait)):
            token = actual.token
        if isinstance(actual, Go):
            slots[actual.request_id] = actual.slot_ms


def apply(model: ModelThrottle, lua: Throttle, limits: Limits, op: tuple, now: int, token: str, slots: dict):
    kind = op[0]
    if kind == "park":
        rid = f"r{op[1]:02d}"
        try:
            actual = lua.park_and_schedule("c", limits, request_id=rid, age_ms=op[1], product_ids=op[2],
                                           cards=op[3], now_ms=now)  # fmt: skip
        except OrderRejected as rejected:
            actual = rejected.reason
        return model.park_and_schedule(rid, op[1], op[2], op[3], now), actual
    if kind == "drive":
        caller = {"current": token, "stale": "0", "none": ""}[op[1]]
        return model.schedule_next(caller, now), lua.schedule_next("c", limits, caller, now_ms=now)
    if kind == "claim":
        rid = f"r{op[1]:02d}"
        slot = slots.get(rid, now)
        claim = lua.claim("c", limits, rid, slot, now_ms=now)
        return model.claim(rid, slot, now), (claim.outcome, claim.ms)
    if kind == "release":
        return model.release(now), lua.release("c", now_ms=now)
    if kind == "hold":
        return model.hold(op[1], now), lua.hold("c", op[1], now_ms=now)
    return model.reserve_get(now), lua.reserve_get("c", limits, now_ms=now)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    orders=st.lists(st.tuples(st.integers(0, 3000), st.sampled_from(PRODUCTS)), min_size=1, max_size=30),
)
def test_a_driven_schedule_keeps_every_limit_and_never_leaves_a_usable_slot_idle(
    lua_client: redis.Redis, orders: list
) -> None:
    # Given orders arriving at random times for random products, and a driver that acts exactly when told
    limits = small_limits(START_TO_START)
    lua = Throttle(lua_client, Keys(f"s-{uuid.uuid4().hex[:8]}"))
    arrivals = sorted((at, f"r{i:02d}", product) for i, (at, product) in enumerate(orders))
    placed: list[tuple[int, int, str]] = []  # (slot, product, rid)
    product_of = {rid: product for _, rid, product in arrivals}
    events = [(at, "arrive", rid) for at, rid, _ in arrivals]
    token = ""
    while events:
        events.sort()
        now, kind, value = events.pop(0)
        if kind == "arrive":
            decision = lua.park_and_schedule("c", limits, request_id=value, age_ms=now, product_ids=[product_of[value]],
                                             cards=1, now_ms=now)  # fmt: skip
        else:
            if value != token:
                continue
            decision = lua.schedule_next("c", limits, value, now_ms=now)
        if isinstance(decision, Go):
            placed.append((decision.slot_ms, product_of[decision.request_id], decision.request_id))
        if isinstance(decision, (Go, Wait)):
            token = decision.token
            events.append((decision.slot_ms if isinstance(decision, Go) else decision.due_ms, "drive", token))
        assert not isinstance(decision, Idle) or kind == "drive"

    # Then every order got exactly one slot, and no limit was broken
    assert sorted(rid for _, _, rid in placed) == sorted(product_of)
    starts = sorted(slot for slot, _, _ in placed)
    assert all(b - a >= limits.spacing_ms + limits.margin_ms for a, b in pairwise(starts))
    window = limits.product_window_ms + limits.margin_ms
    for product in PRODUCTS:
        times = sorted(slot for slot, p, _ in placed if p == product)
        for i in range(len(times) - limits.product_limit):
            assert times[i + limits.product_limit] - times[i] >= window
    # And no slot stood idle while some waiting order could have used it
    assert starts[0] == min(at for at, _, _ in arrivals)
    for a, b in pairwise(starts):
        for t in idle_candidates(a + limits.spacing_ms + limits.margin_ms, b, arrivals, placed, window):
            waiting = [rid for at, rid, _ in arrivals if at <= t and dict((r, s) for s, _, r in placed)[rid] >= b]
            usable = [rid for rid in waiting if product_free(placed, product_of[rid], t, limits.product_limit, window)]
            assert not usable, f"slot free at {t} (between {a} and {b}) while {usable} could go"


def idle_candidates(start: int, end: int, arrivals: list, placed: list, window: int) -> list[int]:
    """The moments in [start, end) at which an order could first have become able to go."""
    moments = {start} | {at for at, _, _ in arrivals} | {slot + window for slot, _, _ in placed}
    return sorted(t for t in moments if start <= t < end)


def product_free(placed: list, product: int, t: int, limit: int, window: int) -> bool:
    return sum(1 for slot, p, _ in placed if p == product and t - window < slot <= t) < limit
