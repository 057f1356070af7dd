"""giftq's own Prometheus metrics, every one defined here, and the registry a scrape reads.

Labels are operator-configured names only (provider, credential key, task name) or giftq's own fixed words
(state, outcome, reason): never a RequestId, a card, a secret or anything a producer wrote.

Processes that fork (gunicorn's workers, Celery's prefork pool) share their values through files: with
GIFTQ_METRICS_DIR set, PROMETHEUS_MULTIPROC_DIR is set to it here, before prometheus_client is imported, so every
process of the tree writes there and a scrape sums them (`registry`); a process that imported it before (Celery's
command line does) is switched to file-backed values too. `clean_dir` empties it at the start of a
worker or API process tree. Gauges of the store and the throttle are read from Redis at scrape (`RedisCollector`).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from config.settings import metrics_dir
from worker.errors import NotSent, OrderNotFound, OrderRejected, ProviderRefused, RateLimited, UnknownOutcome

METRICS_DIR = metrics_dir()  # read once: prometheus_client chooses file-backed values at its import, just below
if METRICS_DIR:
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = METRICS_DIR
    Path(METRICS_DIR).mkdir(parents=True, exist_ok=True)

from prometheus_client import (  # noqa: E402
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    Summary,
    generate_latest,
    start_http_server,
)
from prometheus_client import multiprocess as _multiprocess  # noqa: E402
from prometheus_client import values as _values  # noqa: E402
from prometheus_client.core import GaugeMetricFamily  # noqa: E402
from prometheus_client.registry import REGISTRY, Collector  # noqa: E402

if METRICS_DIR and _values.ValueClass is _values.MutexValue:
    # Imported earlier in this process: `celery worker` loads its command plugins, flower's among them, and flower
    # imports prometheus_client. Metrics created from here on take file-backed values all the same.
    _values.ValueClass = _values.get_value_class()

PLACE_ORDER, GET_ORDER = "place_order", "get_order"
CONTENT_TYPE = CONTENT_TYPE_LATEST  # of `text`: Prometheus's text format
# Bamboo's Place Order answers in about a second; Get Order faster. The buckets span a fast sandbox to a timeout.
LATENCY_BUCKETS_S = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

ORDERS_PLACED = Counter("giftq_orders_placed_total", "Orders the provider has: moved to placed.", ["provider"])
CARDS_ISSUED = Counter("giftq_cards_issued_total", "Cards issued in final orders.", ["provider"])
PLACE_ORDER_SECONDS = Histogram("giftq_place_order_seconds", "Place Order calls by outcome (ok, rejected, "
                                "rate_limited, unknown, refused, not_sent, error).", ["provider", "outcome"],
                                buckets=LATENCY_BUCKETS_S)  # fmt: skip
GET_ORDER_SECONDS = Histogram("giftq_get_order_seconds", "Get Order calls by outcome (ok, not_found, "
                              "rate_limited, unknown, refused, error).", ["provider", "outcome"],
                              buckets=LATENCY_BUCKETS_S)  # fmt: skip
RATE_LIMITED = Counter("giftq_provider_rate_limited_total", "Provider calls answered 429.", ["provider", "call"])
UNKNOWN_OUTCOMES = Counter("giftq_unknown_outcomes_total", "Provider calls whose outcome is unknown (timeout, "
                           "connection error, 5xx).", ["provider", "call"])  # fmt: skip
SLOTS_USED = Counter("giftq_slots_used_total", "Place Order slots claimed to call.", ["credential"])
# A slot claimed late wastes the provider's capacity: the credential's next slot counts from the claim.
CLAIM_LATENESS_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
SLOT_CLAIM_LATENESS = Histogram("giftq_slot_claim_lateness_seconds", "How long after its slot each Place Order "
                                "slot was claimed (a claim that called, or one past the lease).", ["credential"],
                                buckets=CLAIM_LATENESS_BUCKETS_S)  # fmt: skip
SLOTS_GIVEN_UP = Counter("giftq_slots_given_up_total", "Place Order slots given up, the order parked again: "
                         "not_sent (not sent in time), late (past the lease), held (429 hold).",
                         ["credential", "reason"])  # fmt: skip
THROTTLE_HOLDS = Counter("giftq_throttle_holds_total", "Credentials put on hold after a 429.", ["credential"])
NEEDS_ATTENTION = Counter("giftq_needs_attention_total", "Orders moved to needs_attention: refused (by the "
                          "provider, for good) or poll_deadline.", ["cause"])  # fmt: skip
DEAD_LETTERS = Counter("giftq_dead_letters_total", "Task messages parked as dead letters.", ["task"])
TASK_CPU_SECONDS = Summary("giftq_task_cpu_seconds", "CPU time (user and system) of each task run, by task: what "
                           "a worker's pool processes spend on it, the broker's and Celery's work around it apart.",
                           ["task"])  # fmt: skip
NOTIFICATIONS = Counter("giftq_notification_attempts_total", "Attempts at telling a producer its order is final, "
                        "by outcome (delivered, failing, abandoned).", ["outcome"])  # fmt: skip

_OUTCOMES = ((NotSent, "not_sent"), (OrderRejected, "rejected"), (RateLimited, "rate_limited"),
             (OrderNotFound, "not_found"), (ProviderRefused, "refused"), (UnknownOutcome, "unknown"))  # fmt: skip


@contextmanager
def provider_call(call: str, provider: str) -> Iterator[None]:
    """Time one Place Order or Get Order call (`call`) and count a 429 or an unknown outcome; re-raises."""
    histogram = PLACE_ORDER_SECONDS if call == PLACE_ORDER else GET_ORDER_SECONDS
    started, outcome = time.perf_counter(), "ok"
    try:
        yield
    except Exception as error:
        outcome = next((name for kind, name in _OUTCOMES if isinstance(error, kind)), "error")
        raise
    finally:
        histogram.labels(provider, outcome).observe(time.perf_counter() - started)
        if outcome == "rate_limited":
            RATE_LIMITED.labels(provider, call).inc()
        elif outcome == "unknown":
            UNKNOWN_OUTCOMES.labels(provider, call).inc()


class RedisCollector(Collector):
    """Gauges read from Redis at scrape: orders by state and provider (the store's indexes) and parked orders per
    credential."""

    def __init__(self, count_by_state_and_provider: Callable[[], Mapping[tuple[str, str], int]],
                 parked: Callable[[], Mapping[str, int]]):  # fmt: skip
        self._count_by_state_and_provider = count_by_state_and_provider
        self._parked = parked

    def collect(self) -> Iterator[GaugeMetricFamily]:
        orders = GaugeMetricFamily("giftq_orders", "Orders in the store, by state and provider.",
                                   labels=["state", "provider"])  # fmt: skip
        for (state, provider), count in sorted(self._count_by_state_and_provider().items()):
            orders.add_metric([state, provider], count)
        yield orders
        parked = GaugeMetricFamily("giftq_parked_orders", "Orders parked in a credential's schedule, waiting for "
                                   "a slot.", labels=["credential"])  # fmt: skip
        for credential, count in sorted(self._parked().items()):
            parked.add_metric([credential], count)
        yield parked


class _ThisProcess(Collector):
    """This process's own metrics, when no GIFTQ_METRICS_DIR makes them shared."""

    def collect(self) -> Iterator:
        yield from REGISTRY.collect()


def registry(from_redis: Collector | None = None) -> CollectorRegistry:
    """A registry for one scrape: every process's metrics (or this process's, without GIFTQ_METRICS_DIR), plus the
    gauges `from_redis` reads."""
    scrape = CollectorRegistry()
    if METRICS_DIR:
        _multiprocess.MultiProcessCollector(scrape)
    else:
        scrape.register(_ThisProcess())
    if from_redis is not None:
        scrape.register(from_redis)
    return scrape


def serve(port: int, addr: str, scrape: CollectorRegistry) -> None:
    """Serve `scrape` at http://addr:port/metrics from a thread of this process (OSError if the port is taken)."""
    start_http_server(port, addr=addr, registry=scrape)


def text(scrape: CollectorRegistry) -> bytes:
    """`scrape`'s metrics in Prometheus's text format."""
    return generate_latest(scrape)


def clean_dir() -> None:
    """Empty GIFTQ_METRICS_DIR of a previous process tree's files: call once, at the start of a worker or the API."""
    if METRICS_DIR:
        for path in Path(METRICS_DIR).glob("*.db"):
            path.unlink(missing_ok=True)


def mark_process_dead(pid: int) -> None:
    """A child process of the tree exited: drop its live gauges (gunicorn's child_exit, Celery's pool)."""
    if METRICS_DIR:
        _multiprocess.mark_process_dead(pid)
