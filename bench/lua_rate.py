"""How many scheduler decisions one Redis makes per second, through giftq's own `worker.throttle.scheduler.Throttle`.

One round is what the throttle does for each order: park it (`park_and_schedule`, while another driver is
alive: answered PARKED), drive the schedule as the driver (`schedule_next`: GO for the oldest order every limit
allows, or WAIT), and claim the slot (`claim`). The clock is explicit (`now_ms`), jumping from slot to slot on
Bamboo's real limits, so the windows roll as they would over hours. Each round is 3 Lua calls.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass

import redis

from config.settings import Limits
from worker.keys import Keys
from worker.throttle.scheduler import Decision, Go, Throttle, Wait

PRODUCTS = tuple(range(200001, 200021))  # 20 products: Bamboo's spacing and window are then both in play
BACKLOG = 200  # orders kept parked while measuring


@dataclass(frozen=True)
class Rate:
    """Rounds and Lua calls per second of one measurement, and what the scheduler answered."""

    clients: int
    rounds: int
    lua_calls: int
    seconds: float
    decisions: dict[str, int]  # answers of park_and_schedule and schedule_next by kind (Go, Wait, Parked)

    @property
    def rounds_per_s(self) -> float:
        return self.rounds / self.seconds

    @property
    def lua_calls_per_s(self) -> float:
        return self.lua_calls / self.seconds


class _Driver:
    """One credential's schedule driven as fast as Redis answers, on an explicit clock."""

    def __init__(self, client: redis.Redis, prefix: str, seed: int):
        self.throttle = Throttle(client, Keys(prefix))
        self.credential = f"bench-{uuid.uuid4().hex[:8]}"
        self.limits = Limits()
        self.rng = random.Random(seed)
        self.now_ms = 1_000_000_000
        self.age_ms = 0
        self.token = ""
        self.lua_calls = 0
        self.decisions: Counter[str] = Counter()
        for _ in range(BACKLOG):
            self._park()

    def round(self) -> None:
        """Park one new order, then drive the schedule one step as its driver."""
        self._park()
        self._follow(self.throttle.schedule_next(self.credential, self.limits, self.token, now_ms=self.now_ms))

    def _park(self) -> None:
        self.age_ms += 1
        decision = self.throttle.park_and_schedule(
            self.credential, self.limits, request_id=str(uuid.UUID(int=self.rng.getrandbits(128), version=4)),
            age_ms=self.age_ms, product_ids=[self.rng.choice(PRODUCTS)], cards=1, now_ms=self.now_ms,
        )  # fmt: skip
        self._follow(decision)

    def _follow(self, decision: Decision) -> None:
        """As the placing task would: on GO move the clock to the slot and claim it; on WAIT move it to the due time."""
        self.lua_calls += 1
        self.decisions[type(decision).__name__] += 1
        if isinstance(decision, Go):
            self.now_ms, self.token = decision.slot_ms, decision.token
            claim = self.throttle.claim(self.credential, self.limits, decision.request_id, decision.slot_ms,
                                        now_ms=self.now_ms)  # fmt: skip
            assert claim.outcome == "call", claim
            self.lua_calls += 1
        elif isinstance(decision, Wait):
            self.now_ms, self.token = decision.due_ms, decision.token


def measure_rate(redis_url: str, prefix: str, *, clients: int, seconds: float) -> Rate:
    """Drive `clients` credentials at once (one thread and one connection each) for `seconds`."""
    drivers = [_Driver(redis.Redis.from_url(redis_url), prefix, seed) for seed in range(clients)]
    for driver in drivers:
        driver.lua_calls = 0
        driver.decisions.clear()
    rounds = [0] * clients
    stop = threading.Event()

    def loop(index: int) -> None:
        while not stop.is_set():
            drivers[index].round()
            rounds[index] += 1

    threads = [threading.Thread(target=loop, args=(index,)) for index in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    time.sleep(seconds)
    stop.set()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    decisions = sum((driver.decisions for driver in drivers), Counter())
    return Rate(clients, sum(rounds), sum(driver.lua_calls for driver in drivers), elapsed, dict(decisions))
