"""giftq's overhead from a producer's submit to the Place Order call's arrival at the provider, when nothing waits.

One giftq worker process (concurrency 1) and the sandbox at Bamboo's real limits. Orders are submitted one at a
time, each well after the previous one and rotating over both credentials and the five products, so neither the
spacing nor a product window ever makes one wait: what is measured is giftq's own path (submit_order ->
place_order -> place_reserved -> Place Order), timed from the bench's submit to the sandbox's arrival time.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import redis
from celery import Celery

from bench.backlog import CREDENTIALS, PRODUCT_VALUES
from bench.stack import giftq_env, start_workers
from worker.cli.processes import Sandbox
from worker.keys import Keys
from worker.orders.store import OrderStore

PRODUCTS = tuple(PRODUCT_VALUES)
WARM_UP = 2  # first orders, not measured: each credential's first order pays the pool process's start-up


@dataclass(frozen=True)
class Sample:
    """One order's path, in seconds from its submit: stored (accepted), slot claimed (submitting), arrival."""

    index: int  # submit order, from 0
    stored_s: float
    claimed_s: float
    arrived_s: float


def order(index: int) -> dict:
    """Order `index`: credentials alternate, and each credential's orders rotate over the five products."""
    credential = sorted(CREDENTIALS)[index % 2]
    product_id = PRODUCTS[(index // 2) % len(PRODUCTS)]
    return {
        "RequestId": str(uuid.uuid4()),
        "AccountId": CREDENTIALS[credential][1],
        "Products": [{"ProductId": product_id, "Quantity": 1, "Value": PRODUCT_VALUES[product_id]}],
    }


def measure_overhead(redis_url: str, logs: Path, *, orders: int, gap_s: float) -> list[Sample]:
    """Start a sandbox and one worker, submit `orders` orders (after WARM_UP ones) `gap_s` apart; return their paths."""
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    with contextlib.ExitStack() as stack:
        sandbox = Sandbox(logs / "sandbox-real-limits.log")
        stack.callback(sandbox.stop)
        env = giftq_env(redis_url, prefix, sandbox.url, {"get_limit": 120, "get_window_ms": 60_000})
        start_workers("worker", env, logs, stack, count=1)
        submitted = _submit_spaced(redis_url, f"{prefix}:broker:", orders + WARM_UP, gap_s)
        _wait_for_arrivals(sandbox, len(submitted), deadline_s=30.0)
        submitted = dict(list(submitted.items())[WARM_UP:])
        calls = sandbox.admin("GET", "calls")["calls"]
    return _samples(redis_url, prefix, submitted, calls)


def _submit_spaced(redis_url: str, broker_prefix: str, orders: int, gap_s: float) -> dict[str, float]:
    producer = Celery(broker=redis_url)
    producer.conf.broker_transport_options = {"global_keyprefix": broker_prefix}
    submitted = {}
    try:
        producer.connection_for_write().ensure_connection()
        next_at = time.monotonic()
        for index in range(orders):
            time.sleep(max(0.0, next_at - time.monotonic()))
            each = order(index)
            submitted[each["RequestId"]] = time.time()
            producer.send_task("giftq.submit_order", args=[each], queue="giftq")
            next_at += gap_s
    finally:
        producer.close()
    return submitted


def _wait_for_arrivals(sandbox: Sandbox, count: int, *, deadline_s: float) -> None:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline and sandbox.admin("GET", "findings")["accepted_orders"] < count:
        time.sleep(0.2)


def _samples(redis_url: str, prefix: str, submitted: dict[str, float], calls: list[dict]) -> list[Sample]:
    """Each order's stored, claimed and arrival times after its submit (orders never placed are left out)."""
    arrivals = {c["request_id"]: c["at"] for c in calls if c["endpoint"] == "place_order" and c["status"] == 200}
    client = redis.Redis.from_url(redis_url)
    store = OrderStore(client, Keys(prefix))
    samples = []
    for index, (request_id, at) in enumerate(submitted.items()):
        record = store.get(request_id)
        claimed = [entry["at_ms"] for entry in store.history(request_id) if entry["to"] == "submitting"]
        if request_id in arrivals and record and claimed:
            stored, claimed_at = record.created_ms / 1000 - at, claimed[0] / 1000 - at
            samples.append(Sample(index, stored, claimed_at, arrivals[request_id] - at))
    client.close()
    return samples
