"""Helpers of the coalescing tests: orders by their lines, and a backlog parked behind a first order."""

from __future__ import annotations

import uuid

from celery import Celery

from tests.waiting import wait_for
from worker.runtime import Runtime


def an_order(lines: list[tuple[int, str, int]], account_id: int = 555) -> dict:
    return {"RequestId": str(uuid.uuid4()), "AccountId": account_id,
            "Products": [{"ProductId": p, "Value": v, "Quantity": q} for p, v, q in lines]}  # fmt: skip


def park_behind_the_first(rt: Runtime, producer: Celery, start_workers, orders: list[dict],
                          credential: str = "giftq-demo") -> None:  # fmt: skip
    """Submit `orders` to a worker that takes orders in but runs no slot's task: the first gets the first slot,
    the others wait parked behind it until a worker that places orders starts."""
    start_workers(1, queues=("giftq",))
    producer.send_task("giftq.submit_order", args=[orders[0]])
    scheduled = rt.keys.scheduled(credential)
    wait_for(lambda: rt.redis.zscore(scheduled, orders[0]["RequestId"]) is not None, timeout_s=30,
             what="the first order holding the first slot")  # fmt: skip
    for order in orders[1:]:
        producer.send_task("giftq.submit_order", args=[order])
    parked = rt.keys.parked(credential)
    rest = [order["RequestId"] for order in orders[1:]]
    wait_for(lambda: all(rt.redis.hexists(parked, rid) for rid in rest), timeout_s=30, what="the orders parked")
