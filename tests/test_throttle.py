"""The throttle on a real Redis, through its Python face: Redis's clock, credentials apart, failing closed."""

from __future__ import annotations

import threading
import uuid
from dataclasses import replace
from itertools import pairwise

import pytest
import redis

from config.settings import END_TO_START, Limits
from worker.errors import OrderRejected
from worker.keys import Keys
from worker.throttle.scheduler import Go, Parked, Throttle, Wait

LIMITS = Limits(spacing_ms=100, margin_ms=5, product_limit=2, product_window_ms=2000)


def park(throttle: Throttle, credential: str, product: int = 1, cards: int = 1, request_id: str | None = None):
    return throttle.park_and_schedule(
        credential, LIMITS, request_id=request_id or str(uuid.uuid4()), age_ms=0, product_ids=[product], cards=cards
    )


def test_the_first_order_goes_now_by_redis_clock_and_the_next_one_parks_behind_its_driver(
    redis_client: redis.Redis, key_prefix: str
) -> None:
    throttle = Throttle(redis_client, Keys(key_prefix))
    seconds, micros = redis_client.time()
    first = park(throttle, "client-a")
    assert isinstance(first, Go)
    assert abs(first.slot_ms - (seconds * 1000 + micros // 1000)) < 1000
    assert isinstance(park(throttle, "client-a"), Parked)


def test_the_driver_gives_the_next_slot_one_spacing_and_margin_later(
    redis_client: redis.Redis, key_prefix: str
) -> None:
    throttle = Throttle(redis_client, Keys(key_prefix))
    first = park(throttle, "client-a", product=1)
    park(throttle, "client-a", product=2)
    second = throttle.schedule_next("client-a", LIMITS, first.token)
    assert isinstance(second, Go)
    assert second.slot_ms - first.slot_ms == LIMITS.spacing_ms + LIMITS.margin_ms


def test_credentials_do_not_share_their_schedule(redis_client: redis.Redis, key_prefix: str) -> None:
    throttle = Throttle(redis_client, Keys(key_prefix))
    assert isinstance(park(throttle, "client-a"), Go)
    assert isinstance(park(throttle, "client-b"), Go)


def test_a_hot_product_waits_for_its_window_while_the_driver_says_when(
    redis_client: redis.Redis, key_prefix: str
) -> None:
    throttle = Throttle(redis_client, Keys(key_prefix))
    decision = park(throttle, "client-a", product=7)
    for _ in range(2):
        park(throttle, "client-a", product=7)
        decision = throttle.schedule_next("client-a", LIMITS, decision.token)
    assert isinstance(decision, Wait)


def test_an_order_over_the_card_limit_is_refused_and_never_parked(redis_client: redis.Redis, key_prefix: str) -> None:
    throttle = Throttle(redis_client, Keys(key_prefix))
    with pytest.raises(OrderRejected) as refused:
        park(throttle, "client-a", cards=501)
    assert refused.value.reason == "CardsLimitExceeded"


def test_a_second_claim_of_one_slot_finds_nothing(redis_client: redis.Redis, key_prefix: str) -> None:
    throttle = Throttle(redis_client, Keys(key_prefix))
    go = park(throttle, "client-a", request_id="r1")
    assert throttle.claim("client-a", LIMITS, "r1", go.slot_ms).outcome == "call"
    assert throttle.claim("client-a", LIMITS, "r1", go.slot_ms).outcome == "missing"


def test_a_slot_reserved_before_a_429_hold_is_given_up_at_its_claim_and_the_order_goes_after_the_hold(
    redis_client: redis.Redis, key_prefix: str
) -> None:
    # Given a slot reserved for r1, then a 429 that holds the credential for 1 s
    throttle = Throttle(redis_client, Keys(key_prefix))
    go = park(throttle, "client-a", request_id="r1")
    throttle.hold("client-a", 1000, now_ms=go.slot_ms)

    # When r1's task claims its slot, hands the schedule on, and parks the order again
    claim = throttle.claim("client-a", LIMITS, "r1", go.slot_ms, now_ms=go.slot_ms)
    throttle.schedule_next("client-a", LIMITS, go.token, now_ms=go.slot_ms)
    again = throttle.park_and_schedule("client-a", LIMITS, request_id="r1", age_ms=0, product_ids=[1], cards=1,
                                       now_ms=go.slot_ms)  # fmt: skip

    # Then the claim is refused for the rest of the hold, and the order's new slot comes after it
    assert (claim.outcome, claim.ms) == ("held", 1000)
    assert isinstance(again, Go) and again.slot_ms == go.slot_ms + 1000


def test_with_end_to_start_spacing_a_slot_given_up_during_a_hold_does_not_stall_the_credential_for_a_lease(
    redis_client: redis.Redis, key_prefix: str
) -> None:
    # Given end-to-start spacing, a slot reserved for r1, then a 429 that holds the credential for 1 s
    limits, now = replace(LIMITS, spacing_mode=END_TO_START), 1_000_000
    throttle = Throttle(redis_client, Keys(key_prefix))
    go = throttle.park_and_schedule("client-a", limits, request_id="r1", age_ms=0, product_ids=[1], cards=1,
                                    now_ms=now)  # fmt: skip
    throttle.hold("client-a", 1000, now_ms=now)

    # When r1's task claims its slot (given up: held), parks the order again and drives the schedule on
    assert throttle.claim("client-a", limits, "r1", go.slot_ms, now_ms=now).outcome == "held"
    throttle.park_and_schedule("client-a", limits, request_id="r1", age_ms=0, product_ids=[1], cards=1, now_ms=now)
    again = throttle.schedule_next("client-a", limits, go.token, now_ms=now)

    # Then the order goes when the hold ends: the slot given up was no call left running for a lease (30 s)
    assert isinstance(again, Go) and again.slot_ms == now + 1000


def test_a_hold_longer_than_max_wait_hands_out_no_slot_but_a_look_again_within_max_wait(
    redis_client: redis.Redis, key_prefix: str
) -> None:
    # Given a credential held for 30 s (the provider answered 429 "Please wait for 30 seconds")
    throttle = Throttle(redis_client, Keys(key_prefix))
    now = 1_000_000
    throttle.hold("client-a", 30_000, now_ms=now)

    # When an order is parked, and its driver looks again when told, until the hold is over
    decision = throttle.park_and_schedule("client-a", LIMITS, request_id="r1", age_ms=0, product_ids=[1], cards=1,
                                          now_ms=now)  # fmt: skip
    looks = 0
    while isinstance(decision, Wait):
        assert decision.due_ms - now <= LIMITS.max_wait_ms
        now, looks = decision.due_ms, looks + 1
        decision = throttle.schedule_next("client-a", LIMITS, decision.token, now_ms=now)

    # Then the slot comes at the end of the hold, handed out no earlier than max_wait before it
    assert isinstance(decision, Go) and decision.slot_ms == 1_000_000 + 30_000
    assert decision.slot_ms - now <= LIMITS.max_wait_ms and looks == 30_000 // LIMITS.max_wait_ms - 1


def test_concurrent_drivers_never_reserve_two_slots_closer_than_the_spacing(redis_url: str, key_prefix: str) -> None:
    # Given 6 threads that each park orders and drive the schedule with whatever token they hold
    slots: list[int] = []
    lock = threading.Lock()

    def caller() -> None:
        client = redis.Redis.from_url(redis_url)
        throttle = Throttle(client, Keys(key_prefix))
        token = ""
        for index in range(20):
            decision = park(throttle, "client-a", product=index % 10) if index % 2 else None
            decision = decision or throttle.schedule_next("client-a", LIMITS, token)
            if isinstance(decision, (Go, Wait)):
                token = decision.token
            if isinstance(decision, Go):
                with lock:
                    slots.append(decision.slot_ms)
        client.close()

    threads = [threading.Thread(target=caller) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Then every reserved slot keeps the spacing and margin from the one before
    slots.sort()
    assert len(slots) >= 2
    assert min(b - a for a, b in pairwise(slots)) >= LIMITS.spacing_ms + LIMITS.margin_ms


def test_an_unreachable_redis_gives_no_slot() -> None:
    from worker.cli.redis_server import free_port

    dead = redis.Redis.from_url(f"redis://127.0.0.1:{free_port()}/0", socket_connect_timeout=0.5)
    with pytest.raises(redis.ConnectionError):
        park(Throttle(dead, Keys("x")), "client-a")
