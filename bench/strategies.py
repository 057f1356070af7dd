"""The four ways the drain benchmark places its backlog, each on 4 Celery worker processes.

A strategy starts its workers (stopped by the caller's ExitStack) and says which task each order is sent to.
giftq gets the order as a producer sends it (`giftq.submit_order`); the naive tasks get the whole order.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from pathlib import Path

from celery import Celery

from bench import naive
from bench.backlog import CREDENTIALS, BenchOrder
from bench.stack import base_env, giftq_env, start_workers


@dataclass(frozen=True)
class Run:
    """What one strategy run needs: the Redis URL, a fresh key prefix, the sandbox, the limits, a log folder."""

    redis_url: str
    prefix: str
    sandbox_url: str
    limits: dict[str, int]  # GIFTQ_BAMBOO_* names in lower case: spacing_ms, product_limit, ...
    logs: Path
    workers: int


@dataclass(frozen=True)
class Strategy:
    """One way to place the backlog: a name, how it starts its workers, and what a producer sends."""

    name: str
    task: str
    queue: str
    rate_limit_divisor: int | None = None  # naive rate_limit strategies: provider rate / this, per worker
    is_giftq: bool = False

    def start(self, run: Run, stack: contextlib.ExitStack) -> None:
        """Start this strategy's worker processes and wait until they are ready."""
        if self.is_giftq:
            env = giftq_env(run.redis_url, run.prefix, run.sandbox_url, run.limits)
            start_workers("worker", env, run.logs, stack, count=run.workers)
        else:
            start_workers("bench.naive", self._naive_env(run), run.logs, stack, count=run.workers)

    def message(self, order: BenchOrder) -> list:
        """The task arguments of one order."""
        if self.is_giftq:
            return [order.as_request()]
        return [order.credential, order.request_id, order.account_id, order.products]

    def broker_prefix(self, run: Run) -> str:
        return f"{run.prefix}:broker:"

    def _naive_env(self, run: Run) -> dict[str, str]:
        env = base_env()
        provider_rate_per_s = 1000 / run.limits["spacing_ms"]
        env.update(
            BENCH_BROKER_URL=run.redis_url,
            BENCH_BROKER_PREFIX=self.broker_prefix(run),
            BENCH_SANDBOX_URL=run.sandbox_url,
            BENCH_SPACING_MS=str(run.limits["spacing_ms"]),
            BENCH_CLIENTS=",".join(f"{cid}:{secret}" for cid, (secret, _) in CREDENTIALS.items()),
        )
        if self.rate_limit_divisor:
            env["BENCH_RATE_LIMIT"] = f"{provider_rate_per_s / self.rate_limit_divisor:g}/s"
        return env


def strategies(workers: int) -> list[Strategy]:
    """giftq, then the three naive strategies of issue 6."""
    return [
        Strategy("giftq", "giftq.submit_order", "giftq", is_giftq=True),
        Strategy("celery rate_limit = provider rate", naive.RATE_LIMITED_TASK, naive.QUEUE, rate_limit_divisor=1),
        Strategy(
            f"celery rate_limit = rate / {workers}", naive.RATE_LIMITED_TASK, naive.QUEUE, rate_limit_divisor=workers
        ),  # fmt: skip
        Strategy("redis lock + sleep", naive.LOCKED_TASK, naive.QUEUE),
    ]


def submit_backlog(strategy: Strategy, run: Run, orders: list[BenchOrder]) -> dict[str, float]:
    """Send every order as a producer would (a bare Celery client); return each RequestId's submit time."""
    producer = Celery(broker=run.redis_url)
    producer.conf.broker_transport_options = {"global_keyprefix": strategy.broker_prefix(run)}
    submitted = {}
    try:
        for order in orders:
            submitted[order.request_id] = time.time()
            producer.send_task(strategy.task, args=strategy.message(order), queue=strategy.queue)
    finally:
        producer.close()
    return submitted
