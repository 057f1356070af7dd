"""The spacing throttle on a real Redis: starts of one credential never closer than the spacing."""

from __future__ import annotations

import threading
import time

import redis

from worker.keys import Keys
from worker.throttle import Deferral, Slot, Throttle


def test_a_second_reservation_within_the_spacing_is_deferred_for_the_remaining_time(
    redis_client: redis.Redis, key_prefix: str
) -> None:
    throttle = Throttle(redis_client, Keys(key_prefix))
    first = throttle.reserve_or_defer("client-a", spacing_ms=500)
    second = throttle.reserve_or_defer("client-a", spacing_ms=500)
    assert isinstance(first, Slot)
    assert isinstance(second, Deferral)
    assert 0 < second.wait_ms <= 500


def test_credentials_do_not_share_their_spacing(redis_client: redis.Redis, key_prefix: str) -> None:
    throttle = Throttle(redis_client, Keys(key_prefix))
    assert isinstance(throttle.reserve_or_defer("client-a", spacing_ms=500), Slot)
    assert isinstance(throttle.reserve_or_defer("client-b", spacing_ms=500), Slot)


def test_concurrent_callers_get_slots_at_least_the_spacing_apart(redis_url: str, key_prefix: str) -> None:
    slots: list[int] = []
    lock = threading.Lock()
    deadline = time.monotonic() + 10

    def caller() -> None:
        client = redis.Redis.from_url(redis_url)
        throttle = Throttle(client, Keys(key_prefix))
        while time.monotonic() < deadline:
            with lock:
                if len(slots) >= 12:
                    return
            decision = throttle.reserve_or_defer("client-a", spacing_ms=50)
            if isinstance(decision, Slot):
                with lock:
                    slots.append(decision.at_ms)
            else:
                time.sleep(decision.wait_ms / 1000)

    threads = [threading.Thread(target=caller) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    slots.sort()
    assert len(slots) >= 12
    assert min(b - a for a, b in zip(slots, slots[1:], strict=False)) >= 50
