"""Throttle benchmark (issue 6): scheduler decisions per second, and giftq's submit-to-Place-Order overhead.

1. Lua decisions/s against one private redis-server, through `worker.throttle.scheduler.Throttle` on an explicit clock
   (Bamboo's real limits, 20 products): rounds of park + schedule_next + claim, with 1 client and with 4
   threads (one credential each). Measured with the store's durable configuration (AOF, appendfsync always,
   as giftq requires of its store Redis) and with appendfsync everysec.
2. Overhead when nothing waits: one giftq worker process (concurrency 1), the sandbox at Bamboo's real limits,
   2 warm-up orders then 60 measured ones, submitted one at a time 1.1 s apart over 2 credentials and 5
   products (each credential sees one order every 2.2 s, each product one every 11 s, so at most 6 a minute):
   from the submit to the Place Order arrival, p50 / p99 (nearest rank: with 60 samples the p99 is the max).

Run from the repository root (about 2 minutes):

    .venv/bin/python bench/throttle.py
"""

from __future__ import annotations

import contextlib
import statistics
import sys
import tempfile
import uuid
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import redis
from rich.console import Console
from rich.table import Table

from bench.lua_rate import Rate, measure_rate
from bench.metrics import percentile
from bench.overhead import Sample, measure_overhead
from worker.cli.redis_server import RedisServer

SECONDS_PER_RATE = 3.0
OVERHEAD_ORDERS, OVERHEAD_GAP_S = 60, 1.1
COMMAND = ".venv/bin/python bench/throttle.py"


def main() -> int:
    """Measure both figures against a private redis-server and print them."""
    console = Console(width=None if sys.stdout.isatty() else 160)
    logs = Path(tempfile.mkdtemp(prefix="giftq-bench-throttle-"))
    console.print(f"command: {COMMAND}\nlogs in {logs}")
    with contextlib.ExitStack() as stack:
        server = stack.enter_context(RedisServer())
        rates = _measure_rates(server.url)
        console.print(_rate_table(rates))
        samples = measure_overhead(server.url, logs, orders=OVERHEAD_ORDERS, gap_s=OVERHEAD_GAP_S)
    console.print(_overhead_table(samples))
    slowest = sorted(samples, key=lambda sample: -sample.arrived_s)[:3]
    console.print("slowest (order index: ms): " + ", ".join(f"{s.index}: {s.arrived_s * 1000:.1f}" for s in slowest))
    for line in _figure_lines(rates, samples):
        console.print(line, soft_wrap=True, markup=False)
    return 0 if len(samples) == OVERHEAD_ORDERS else 1


def _measure_rates(redis_url: str) -> list[tuple[str, Rate]]:
    client = redis.Redis.from_url(redis_url)
    rates = []
    for fsync in ("always", "everysec"):
        client.config_set("appendfsync", fsync)
        for clients in (1, 4):
            prefix = f"bench-{uuid.uuid4().hex[:8]}"
            rates.append((f"appendfsync {fsync}", measure_rate(redis_url, prefix, clients=clients,
                                                               seconds=SECONDS_PER_RATE)))  # fmt: skip
    client.config_set("appendfsync", "always")
    client.close()
    return rates


def _rate_table(rates: list[tuple[str, Rate]]) -> Table:
    table = Table(title="scheduler Lua against one Redis (park + schedule_next + claim per round)")
    for column in ("redis", "clients", "rounds/s (orders scheduled)", "Lua decisions/s", "answers"):
        table.add_column(column, justify="left" if column in ("redis", "answers") else "right")
    for fsync, rate in rates:
        answers = " ".join(f"{kind}={count}" for kind, count in sorted(rate.decisions.items()))
        table.add_row(fsync, str(rate.clients), f"{rate.rounds_per_s:,.0f}", f"{rate.lua_calls_per_s:,.0f}", answers)
    return table


def _overhead_table(samples: list[Sample]) -> Table:
    table = Table(title=f"submit -> Place Order when nothing waits ({len(samples)} orders, 1 worker, real limits)")
    for column in ("from submit to", "p50 ms", "p99 ms", "max ms"):
        table.add_column(column, justify="left" if column == "from submit to" else "right")
    for label, values in _overhead_series(samples):
        table.add_row(label, *(f"{value * 1000:.1f}" for value in _p50_p99_max(values)))
    return table


def _overhead_series(samples: list[Sample]) -> list[tuple[str, list[float]]]:
    return [
        ("order stored (accepted)", [s.stored_s for s in samples]),
        ("slot claimed (submitting)", [s.claimed_s for s in samples]),
        ("Place Order arrival at the sandbox", [s.arrived_s for s in samples]),
    ]


def _p50_p99_max(values: list[float]) -> tuple[float, float, float]:
    return statistics.median(values), percentile(values, 0.99), max(values)


def _figure_lines(rates: list[tuple[str, Rate]], samples: list[Sample]) -> list[str]:
    lines = [
        f"lua_decisions_per_s[{fsync}, clients={rate.clients}]={rate.lua_calls_per_s:.0f} "
        f"rounds_per_s={rate.rounds_per_s:.0f}"
        for fsync, rate in rates
    ]
    arrived = [sample.arrived_s for sample in samples]
    p50, p99, _ = _p50_p99_max(arrived)
    lines.append(f"submit_to_place_order_ms p50={p50 * 1000:.1f} p99={p99 * 1000:.1f} (n={len(arrived)})")
    return lines


if __name__ == "__main__":
    sys.exit(main())
