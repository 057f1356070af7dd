"""The naive strategies of the drain benchmark: a bench-only Celery app, as a plain Celery user would write it.

Started as `python -m celery -A bench.naive worker`, configured from BENCH_* variables set by bench/drain.py.
Each task gets the whole order in its arguments and calls the sandbox with giftq's own Bamboo client. It knows
the provider's spacing but not the per-product window; on 429 it retries after the time the provider names.

- `bench.place_rate_limited`: Celery's own `rate_limit` (BENCH_RATE_LIMIT, per worker process, e.g. "5/s").
- `bench.place_locked`: a redis-py Lock per credential; inside it, sleep until last start + spacing, call,
  record the start, release.
"""

from __future__ import annotations

import functools
import logging
import os
import time
from decimal import Decimal

import redis
from celery import Celery, Task

from config.settings import Credential, Limits
from worker.errors import OrderRejected, RateLimited, UnknownOutcome
from worker.providers.bamboo import BambooClient
from worker.providers.base import OrderLine, PlaceRequest

RATE_LIMITED_TASK, LOCKED_TASK = "bench.place_rate_limited", "bench.place_locked"
QUEUE = "bench"
UNKNOWN_RETRY_S = 1.0  # wait before re-sending the same RequestId after a timeout or 5xx
LOCK_TIMEOUT_S = 10.0  # a lock holder that died frees the credential after this long

logger = logging.getLogger(__name__)

app = Celery("bench-naive", broker=os.environ.get("BENCH_BROKER_URL", "redis://127.0.0.1:6379/0"))
app.conf.update(
    broker_transport_options={"global_keyprefix": os.environ.get("BENCH_BROKER_PREFIX", "bench:")},
    task_default_queue=QUEUE,
    task_serializer="json",
    accept_content=["json"],
    task_ignore_result=True,
    worker_hijack_root_logger=False,
    task_annotations={RATE_LIMITED_TASK: {"rate_limit": os.environ.get("BENCH_RATE_LIMIT") or None}},
)


@app.task(name=RATE_LIMITED_TASK, bind=True, max_retries=None)
def place_rate_limited(self: Task, credential: str, request_id: str, account_id: int, products: list[dict]) -> str:
    """Place the order now; Celery's rate_limit on this task is the only throttle."""
    return _place_or_retry(self, credential, _place_request(request_id, account_id, products))


@app.task(name=LOCKED_TASK, bind=True, max_retries=None)
def place_locked(self: Task, credential: str, request_id: str, account_id: int, products: list[dict]) -> str:
    """Place the order inside the credential's lock, one spacing after the previous start."""
    request = _place_request(request_id, account_id, products)
    client = _redis()
    prefix = os.environ.get("BENCH_BROKER_PREFIX", "bench:")
    with client.lock(f"{prefix}lock:{credential}", timeout=LOCK_TIMEOUT_S):
        last_start = float(client.get(f"{prefix}last_start:{credential}") or 0)
        time.sleep(max(0.0, last_start + _spacing_s() - time.time()))
        client.set(f"{prefix}last_start:{credential}", time.time())
        return _place_or_retry(self, credential, request)


def _place_or_retry(task: Task, credential: str, request: PlaceRequest) -> str:
    """One Place Order call; a 429 or an unknown outcome is retried by Celery with the same RequestId."""
    try:
        _client(credential).place(request)
    except RateLimited as limited:
        raise task.retry(countdown=limited.wait_s) from None
    except UnknownOutcome:
        raise task.retry(countdown=UNKNOWN_RETRY_S) from None
    except OrderRejected as rejected:
        logger.warning("order %s rejected: %s", request.request_id, rejected.reason)
        return "rejected"
    return "placed"


def _place_request(request_id: str, account_id: int, products: list[dict]) -> PlaceRequest:
    lines = tuple(
        OrderLine(product_id=line["ProductId"], quantity=line["Quantity"], value=Decimal(line["Value"]))
        for line in products
    )
    return PlaceRequest(request_id=request_id, account_id=account_id, lines=lines)


@functools.cache
def _client(credential: str) -> BambooClient:
    secrets = dict(entry.split(":", 1) for entry in os.environ["BENCH_CLIENTS"].split(","))
    identity = Credential(client_id=credential, client_secret=secrets[credential], limits=Limits())
    return BambooClient(os.environ["BENCH_SANDBOX_URL"], identity, timeout_s=10.0)


@functools.cache
def _redis() -> redis.Redis:
    return redis.Redis.from_url(os.environ["BENCH_BROKER_URL"])


def _spacing_s() -> float:
    return int(os.environ["BENCH_SPACING_MS"]) / 1000
