"""Throughput benchmark (issue 17): what one order costs giftq, and how many it places and fulfils a second.

N credentials (100 by default: the sandbox's load clients, `--load-clients`), each order charged to the account of
its credential, one card of one of 20 products (round robin: credential i % N, product (i // N) % 20), sent by task
name (`giftq.submit_order`) as fast as one producer can. 4 worker processes at concurrency 1 (`--workers`) and a
beat process.

With `--limits opened` (the default) the provider's limits cannot bind: spacing 1 ms in the sandbox and in giftq,
product windows and Get Order far above the load, giftq's minimum margin; what is measured is giftq's own work.
With `--limits bamboo` the sandbox keeps Bamboo's own limits (500 ms, 6 per product per minute, 120 Get Orders a
minute) and giftq its defaults: the provider should be the bottleneck, N x 2 orders a second, with no violation by
the judge (sandbox/judge.py).

It prints orders per second placed and fulfilled (from the first submit), CPU ms per order by process kind
(the producer, i.e. the bench's own send_task, standing where the API would: orders come by task name; worker
consumer; worker pool; beat; sandbox; Redis), p50/p99
submit-to-placed and submit-to-fulfilled, Redis commands per order (INFO commandstats, the bench's own reads taken
out), round trips to Redis per order (requests Redis read from its clients, INFO stats `total_reads_processed`: a
command or a pipeline each, the bench's own taken out; with `appendfsync always` each one that writes may cost a
wait for the disk) and worker RSS. `--profile` samples one worker's consumer and pool processes with py-spy during
the run and prints their top frames (the sampling slows them: take figures from a run without it). `--runs 3`
repeats the run and prints the worst. `--pool solo` runs the workers on Celery's solo pool, to measure what the
hand-off to a pool process costs (README, "What one order costs": why the Procfile does not run it).

    .venv/bin/python bench/throughput.py --orders 2000 --runs 3
    .venv/bin/python bench/throughput.py --limits bamboo
"""

from __future__ import annotations

import argparse
import contextlib
import json
import resource
import signal
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psutil
import redis
from celery import Celery
from prometheus_client import CollectorRegistry
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.samples import Sample

from bench.backlog import PRODUCT_VALUES
from bench.metrics import percentile
from bench.profile import Profiler
from bench.stack import giftq_env, start_workers
from config.settings import MIN_MARGIN_MS
from sandbox.bamboo.seed import LOAD_ACCOUNT_BASE, load_client
from sandbox.judge import Rules, Schedule, calls_from_log, judge
from worker.cli.processes import Child, Sandbox
from worker.cli.redis_server import RedisServer
from worker.keys import Keys
from worker.orders import states
from worker.orders.store import PACKS

WORKERS = 4  # worker processes at concurrency 1 (--workers)
FAR = 1_000_000_000  # a limit the load never reaches
OPENED_SANDBOX = {"spacing_ms": 1, "product_limit": FAR, "get_order_limit": FAR}
OPENED_GIFTQ = {"spacing_ms": 1, "product_limit": FAR, "get_limit": FAR, "margin_ms": MIN_MARGIN_MS}
DEADLINE_S = 900.0  # per run, from the first submit
WATCH_EVERY_S = 0.5
FULFIL_DELAY_MS = 3000  # the sandbox's default: from acceptance until an order is final
TOP_COMMANDS = 8
VIOLATIONS_SHOWN = 5


@dataclass
class RunFigures:
    """What one run measured."""

    orders: int
    placed: int
    fulfilled: int
    placed_per_s: float
    fulfilled_per_s: float
    provider_orders: int  # Place Orders the provider accepted (a pack is one)
    provider_orders_per_s: float  # from the first submit to the last accepted Place Order
    ceiling_per_s: float  # the most Place Orders a second the provider's limits allow for what each credential placed
    cpu_ms: dict[str, float]  # per order, by process kind
    redis_commands: float  # per order
    top_commands: dict[str, float]  # per order, the most frequent commands
    round_trips: float  # per order: requests Redis read from its clients (INFO stats total_reads_processed)
    tasks: float  # task messages published per order (LPUSH to a queue)
    get_orders: float  # Get Order calls per order
    submit_to_placed_s: tuple[float, float]  # p50, p99
    submit_to_fulfilled_s: tuple[float, float]
    worker_rss_mb: float
    workers: int
    violations: int
    place_429s: int
    violation_lines: tuple[str, ...] = ()  # the judge's description of each violation (the first few)
    task_cpu: tuple[tuple[str, float, float], ...] = ()  # task name, runs per order, CPU ms per run (pool processes)
    claim_lateness: tuple[tuple[float, float], ...] = ()  # (bucket's upper bound s, share of claims at or under it)

    def lines(self) -> list[str]:
        cpu = ", ".join(f"{kind} {ms:.1f}" for kind, ms in self.cpu_ms.items())
        return [
            f"placed {self.placed}/{self.orders}: {self.placed_per_s:.1f} orders/s; fulfilled {self.fulfilled}: "
            f"{self.fulfilled_per_s:.1f} orders/s (from the first submit)",
            f"provider orders {self.provider_orders}: {self.provider_orders_per_s:.1f}/s, "
            + (
                f"{self.provider_orders_per_s * 100 / self.ceiling_per_s:.0f}% of the provider's ceiling "
                f"{self.ceiling_per_s:.0f}/s"
                if self.ceiling_per_s
                else "no credential placed two"
            ),
            f"CPU ms per order: {cpu}; total {sum(self.cpu_ms.values()):.1f}",
            f"task messages per order: {self.tasks:.2f}; Get Order calls per order: {self.get_orders:.2f}",
            "pool CPU per task run (giftq_task_cpu_seconds; runs per order): "
            + ", ".join(f"{name} {ms:.2f} ms ({runs:.2f})" for name, runs, ms in self.task_cpu),
            "slots claimed within (giftq_slot_claim_lateness_seconds): "
            + ", ".join(f"{bound * 1000:.0f} ms {share:.0%}" for bound, share in self.claim_lateness),
            f"Redis commands per order: {self.redis_commands:.1f} ("
            + ", ".join(f"{name} {n:.1f}" for name, n in self.top_commands.items())
            + f"); round trips to Redis per order: {self.round_trips:.1f}",
            f"submit->placed p50 {self.submit_to_placed_s[0] * 1000:.0f} ms, "
            f"p99 {self.submit_to_placed_s[1] * 1000:.0f} ms; "
            f"submit->fulfilled p50 {self.submit_to_fulfilled_s[0] * 1000:.0f} ms, "
            f"p99 {self.submit_to_fulfilled_s[1] * 1000:.0f} ms",
            f"worker RSS {self.worker_rss_mb:.0f} MB ({self.workers} consumers and their pools); violations (judge) "
            f"{self.violations}; Place Order 429s {self.place_429s}",
            *(f"  {line}" for line in self.violation_lines),
        ]


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    print(f"command: {' '.join(sys.argv)}")
    print(f"{args.orders} orders over {args.credentials} credentials and {len(PRODUCT_VALUES)} products, "
          f"limits {args.limits}, {args.workers} workers ({args.pool} pool, concurrency 1), task events "
          f"{'on' if args.task_events else 'off'}, first poll after {args.poll_interval_ms} ms, "
          f"appendfsync {args.appendfsync}, task lines {'off' if args.no_task_lines else 'on'}")  # fmt: skip
    # A SIGTERM (timeout, kill) unwinds the with-blocks below, so the servers and workers started are stopped.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    runs = []
    with RedisServer() as redis_server, tempfile.TemporaryDirectory(prefix="giftq-bench-throughput-") as tmp:
        if args.appendfsync != "always":
            redis.Redis.from_url(redis_server.url).config_set("appendfsync", args.appendfsync)
        for number in range(1, args.runs + 1):
            figures = run_once(redis_server.url, Path(tmp), args)
            runs.append(figures)
            print(f"run {number} of {args.runs}:")
            print("\n".join(f"  {line}" for line in figures.lines()))
    if len(runs) > 1:
        worst = min(runs, key=lambda each: min(each.placed_per_s, each.fulfilled_per_s))
        print("worst run:")
        print("\n".join(f"  {line}" for line in worst.lines()))
    return 0 if all(each.fulfilled == each.orders and each.violations == 0 for each in runs) else 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=10_000)
    parser.add_argument("--credentials", type=int, default=100)
    parser.add_argument("--limits", choices=("opened", "bamboo"), default="opened")
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--workers", type=int, default=WORKERS, help="worker processes, each at concurrency 1")
    parser.add_argument("--pool", choices=("prefork", "solo"), default="prefork",
                        help="the workers' Celery pool (solo: each runs its tasks itself, its CPU all under "
                             "'worker consumer'; not what the Procfile runs)")  # fmt: skip
    parser.add_argument("--set", action="append", default=[], metavar="LIMIT=VALUE",
                        help="override one of giftq's limits (GIFTQ_BAMBOO_<LIMIT>), e.g. margin_ms=10")  # fmt: skip
    parser.add_argument("--poll-interval-ms", type=int, default=FULFIL_DELAY_MS,
                        help="GIFTQ_POLL_INTERVAL_MS, giftq's first wait before Get Order (default: the sandbox's "
                        "fulfilment time, so one Get Order finds an order final)")  # fmt: skip
    parser.add_argument("--task-events", action="store_true",
                        help="GIFTQ_TASK_EVENTS=true (as where a Flower watches); giftq's default is off")  # fmt: skip
    parser.add_argument("--no-task-lines", action="store_true",
                        help="GIFTQ_LOG_TASK_LINES=false: no Celery INFO line per task received or done")  # fmt: skip
    parser.add_argument("--profile", action="store_true", help="sample one worker with py-spy and print top frames")
    parser.add_argument("--appendfsync", choices=("always", "everysec"), default="always",
                        help="the Redis's appendfsync: giftq's store requires always; everysec shows what the fsync "
                        "of every write costs (giftq is then run with GIFTQ_ALLOW_APPENDFSYNC=everysec)")  # fmt: skip
    return parser


def run_once(redis_url: str, tmp: Path, args: argparse.Namespace) -> RunFigures:
    """Start a sandbox, workers and beat on a fresh key prefix, send the orders, wait for them, measure."""
    logs = Path(tempfile.mkdtemp(prefix="run-", dir=tmp))
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    opened = args.limits == "opened"
    limits = (OPENED_GIFTQ if opened else {}) | dict(_limit(entry) for entry in args.set)
    orders = make_orders(args.orders, args.credentials)
    client = redis.Redis.from_url(redis_url)
    with contextlib.ExitStack() as stack:
        sandbox = Sandbox(logs / "sandbox.log", load_clients=args.credentials, **(OPENED_SANDBOX if opened else {}))
        stack.callback(sandbox.stop)
        env = _env(redis_url, prefix, sandbox.url, args.credentials, limits, task_events=args.task_events,
                   poll_interval_ms=args.poll_interval_ms, task_lines=not args.no_task_lines)  # fmt: skip
        if args.appendfsync != "always":
            env["GIFTQ_ALLOW_APPENDFSYNC"] = args.appendfsync
        workers = start_workers("worker", env, logs, stack, count=args.workers, pool=args.pool,
                                metrics_under=logs / "metrics")  # fmt: skip
        beat = Child("celery beat", [sys.executable, "-m", "celery", "-A", "worker", "beat", "--schedule",
                                     str(logs / "beat-schedule")], logs / "beat.log", env=env)  # fmt: skip
        stack.callback(beat.stop)
        kinds = _process_kinds(workers, beat, sandbox)
        before = _cpu_s(kinds), _redis_cpu_s(client), _commands(client), _reads(client)
        profiler = Profiler(workers[0].process.pid, logs) if args.profile else None
        submitted, producer_cpu_s = _submit(env, orders)
        if profiler:
            profiler.start()
        watched = _wait(client, Keys(prefix), sandbox, len(orders), min(submitted.values()) + DEADLINE_S)
        after = _cpu_s(kinds), _redis_cpu_s(client), _commands(client), _reads(client)
        rss_mb = sum(_rss(proc) for proc in kinds["worker consumer"] + kinds["worker pool"]) / 2**20
        calls = sandbox.admin("GET", "calls")["calls"]
        rules = Rules.of_sandbox(sandbox.admin("GET", "config"))
        if profiler:
            profiler.report()
    fulfilled_at = _fulfilled_at(client, Keys(prefix), list(submitted))
    placed_as = _placed_as(client, Keys(prefix), list(submitted))
    client.close()
    cpu = {"producer": producer_cpu_s} | {kind: after[0][kind] - before[0][kind] for kind in before[0]}
    cpu["redis"] = after[1] - before[1]
    commands = after[2] - before[2]
    commands.subtract({"zcard": 2 * watched, "info": 3})
    reads = after[3] - before[3] - watched - 3  # the bench's own: its watching, and the INFOs after the first read
    figures = _figures(submitted, calls, fulfilled_at, placed_as, cpu, commands, reads, rss_mb, rules,
                       len(workers))  # fmt: skip
    return replace(figures, task_cpu=_task_cpu(logs / "metrics", len(orders)),
                   claim_lateness=_claim_lateness(logs / "metrics"))  # fmt: skip


def _task_cpu(metrics_under: Path, orders: int) -> tuple[tuple[str, float, float], ...]:
    """From the workers' metrics (`giftq_task_cpu_seconds`): each task run at least once per 100 orders, with its
    runs per order and CPU ms per run, the costliest in all first. Runs of the workers' start are in too."""
    runs: Counter[str] = Counter()
    seconds: Counter[str] = Counter()
    for each in _worker_samples(metrics_under):
        if each.name == "giftq_task_cpu_seconds_count":
            runs[each.labels["task"]] += each.value
        elif each.name == "giftq_task_cpu_seconds_sum":
            seconds[each.labels["task"]] += each.value
    shown = [task for task, _ in seconds.most_common() if runs[task] * 100 >= orders]
    return tuple((task, runs[task] / orders, seconds[task] * 1000 / runs[task]) for task in shown)


def _worker_samples(metrics_under: Path) -> Iterator[Sample]:
    """Every sample of every worker's metrics (each worker shares its own directory under `metrics_under`)."""
    for folder in sorted(metrics_under.iterdir()):
        scrape = CollectorRegistry()
        MultiProcessCollector(scrape, path=str(folder))
        for family in scrape.collect():
            yield from family.samples


def _claim_lateness(metrics_under: Path) -> tuple[tuple[float, float], ...]:
    """From the workers' metrics (`giftq_slot_claim_lateness_seconds`): the share of all claims within 10, 50, 250
    ms and 1 s of their slot."""
    within: Counter[float] = Counter()
    for each in _worker_samples(metrics_under):
        if each.name == "giftq_slot_claim_lateness_seconds_bucket":
            within[float(each.labels["le"])] += each.value
    claims = within[float("inf")]
    return tuple((bound, within[bound] / claims) for bound in (0.01, 0.05, 0.25, 1.0)) if claims else ()


def _ceiling_per_s(schedules: tuple[Schedule, ...]) -> float:
    """The most Place Orders a second the provider's limits allow for what each credential placed: its orders
    over the judge's lower bound of their span (DESIGN.md's LB), summed over the credentials."""
    return sum((each.orders - 1) * 1000 / each.lower_bound_ms for each in schedules if each.lower_bound_ms > 0)


def make_orders(count: int, credentials: int) -> list[dict]:
    """`count` one-card orders: credential i % N charged to its own account, product (i // N) % 20."""
    products = list(PRODUCT_VALUES)
    orders = []
    for index in range(count):
        product_id = products[(index // credentials) % len(products)]
        orders.append({
            "RequestId": str(uuid.uuid4()),
            "AccountId": LOAD_ACCOUNT_BASE + index % credentials + 1,
            "Products": [{"ProductId": product_id, "Quantity": 1, "Value": PRODUCT_VALUES[product_id]}],
        })  # fmt: skip
    return orders


def _env(
    redis_url: str,
    prefix: str,
    sandbox_url: str,
    credentials: int,
    limits: dict[str, int],
    *,
    task_events: bool,
    poll_interval_ms: int,
    task_lines: bool,
) -> dict[str, str]:
    """giftq's environment on the sandbox's load clients, each routed the account of its own."""
    clients = [load_client(number) for number in range(1, credentials + 1)]
    env = giftq_env(redis_url, prefix, sandbox_url, limits)
    env["GIFTQ_TASK_EVENTS"] = "true" if task_events else "false"
    env["GIFTQ_POLL_INTERVAL_MS"] = str(poll_interval_ms)
    env["GIFTQ_LOG_TASK_LINES"] = "true" if task_lines else "false"
    env.update(
        GIFTQ_BAMBOO_CLIENT_ID=clients[0].client_id,
        GIFTQ_BAMBOO_CLIENT_SECRET=clients[0].secret,
        GIFTQ_BAMBOO_EXTRA_CLIENTS=",".join(f"{client.client_id}:{client.secret}" for client in clients[1:]),
        GIFTQ_BAMBOO_ACCOUNT_CLIENTS=",".join(f"{client.accounts[0].id}={client.client_id}" for client in clients),
    )
    return env


def _process_kinds(workers: list[Child], beat: Child, sandbox: Sandbox) -> dict[str, list[psutil.Process]]:
    consumers = [psutil.Process(worker.process.pid) for worker in workers]
    return {
        "worker consumer": consumers,
        "worker pool": [child for consumer in consumers for child in consumer.children(recursive=True)],
        "beat": [psutil.Process(beat.process.pid)],
        "sandbox": [psutil.Process(sandbox.process.pid)],
    }


def _cpu_s(kinds: dict[str, list[psutil.Process]]) -> dict[str, float]:
    return {kind: sum(_cpu_of(proc) for proc in procs) for kind, procs in kinds.items()}


def _cpu_of(proc: psutil.Process) -> float:
    try:
        times = proc.cpu_times()
    except psutil.NoSuchProcess:
        return 0.0
    return times.user + times.system


def _rss(proc: psutil.Process) -> int:
    try:
        return proc.memory_info().rss
    except psutil.NoSuchProcess:
        return 0


def _redis_cpu_s(client: redis.Redis) -> float:
    info = client.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def _reads(client: redis.Redis) -> int:
    """Requests Redis has read from its clients so far: a command, or a pipeline that arrived at once."""
    return int(client.info("stats")["total_reads_processed"])


def _commands(client: redis.Redis) -> Counter[str]:
    """Commands Redis has run so far, by name."""
    return Counter({name.removeprefix("cmdstat_"): int(stats["calls"])
                    for name, stats in client.info("commandstats").items()})  # fmt: skip


def _submit(env: dict[str, str], orders: list[dict]) -> tuple[dict[str, float], float]:
    """Send every order by task name; return each RequestId's submit time and the CPU seconds sending took."""
    producer = Celery(broker=env["GIFTQ_REDIS_URL"])
    producer.conf.broker_transport_options = {"global_keyprefix": env["GIFTQ_BROKER_KEY_PREFIX"]}
    producer.connection_for_write().ensure_connection()
    start = resource.getrusage(resource.RUSAGE_SELF)
    submitted = {}
    try:
        for order in orders:
            submitted[order["RequestId"]] = time.time()
            producer.send_task("giftq.submit_order", args=[order], queue="giftq")
    finally:
        producer.close()
    end = resource.getrusage(resource.RUSAGE_SELF)
    return submitted, (end.ru_utime - start.ru_utime) + (end.ru_stime - start.ru_stime)


def _wait(client: redis.Redis, keys: Keys, sandbox: Sandbox, orders: int, deadline: float) -> int:
    """Wait until every order is fulfilled or the deadline (unix time) passes; return how many ZCARDs it sent."""
    sent = 0
    while time.time() < deadline:
        sent += 1
        with client.pipeline(transaction=False) as pipe:  # producer orders: packs' own records are indexed apart too
            all_fulfilled, packs = pipe.zcard(keys.state_index(states.FULFILLED)).zcard(
                keys.provider_state_index(PACKS, states.FULFILLED)).execute()  # fmt: skip
        if all_fulfilled - packs >= orders:
            break
        time.sleep(WATCH_EVERY_S)
    return sent


def _fulfilled_at(client: redis.Redis, keys: Keys, request_ids: list[str]) -> dict[str, float]:
    """When each order became fulfilled (unix time), from its history."""
    with client.pipeline(transaction=False) as pipe:
        for request_id in request_ids:
            pipe.lrange(keys.history(request_id), -1, -1)
        lasts = pipe.execute()
    fulfilled = {}
    for request_id, last in zip(request_ids, lasts, strict=True):
        entry = json.loads(last[0]) if last else {}
        if entry.get("to") == states.FULFILLED:
            fulfilled[request_id] = entry["at_ms"] / 1000
    return fulfilled


def _placed_as(client: redis.Redis, keys: Keys, request_ids: list[str]) -> dict[str, str]:
    """The provider RequestId each order was placed under: its pack's, if it rode in one (coalescing)."""
    with client.pipeline(transaction=False) as pipe:
        for request_id in request_ids:
            pipe.hget(keys.order(request_id), "pack")
        packs = pipe.execute()
    return {rid: pack.decode() if pack else rid for rid, pack in zip(request_ids, packs, strict=True)}


def _figures(submitted: dict[str, float], calls: list[dict], fulfilled_at: dict[str, float],
             placed_as: dict[str, str], cpu_s: dict[str, float], commands: Counter[str], reads: int,
             rss_mb: float, rules: Rules, workers: int) -> RunFigures:  # fmt: skip
    call_at = {c["request_id"]: c["at"] for c in calls if c["endpoint"] == "place_order" and c["status"] == 200}
    placed_at = {rid: call_at[placed_as[rid]] for rid in submitted if placed_as.get(rid) in call_at}
    first, count = min(submitted.values()), len(submitted)
    to_placed = [placed_at[rid] - at for rid, at in submitted.items() if rid in placed_at]
    to_fulfilled = [fulfilled_at[rid] - at for rid, at in submitted.items() if rid in fulfilled_at]
    verdict = judge(calls_from_log(calls), rules)
    return RunFigures(
        orders=count,
        placed=len(placed_at),
        fulfilled=len(fulfilled_at),
        placed_per_s=len(placed_at) / (max(placed_at.values(), default=first) - first or 1),
        fulfilled_per_s=len(fulfilled_at) / (max(fulfilled_at.values(), default=first) - first or 1),
        provider_orders=len(call_at),
        provider_orders_per_s=len(call_at) / (max(call_at.values(), default=first) - first or 1),
        ceiling_per_s=_ceiling_per_s(verdict.schedules),
        cpu_ms={kind: seconds * 1000 / count for kind, seconds in cpu_s.items()},
        redis_commands=commands.total() / count,
        top_commands={name: n / count for name, n in commands.most_common(TOP_COMMANDS)},
        round_trips=reads / count,
        tasks=commands["lpush"] / count,
        get_orders=sum(1 for c in calls if c["endpoint"] == "get_order") / count,
        submit_to_placed_s=(percentile(to_placed, 0.5), percentile(to_placed, 0.99)),
        submit_to_fulfilled_s=(percentile(to_fulfilled, 0.5), percentile(to_fulfilled, 0.99)),
        worker_rss_mb=rss_mb,
        workers=workers,
        violations=len(verdict.violations),
        place_429s=sum(1 for c in calls if c["endpoint"] == "place_order" and c["status"] == 429),
        violation_lines=tuple(violation.describe() for violation in verdict.violations[:VIOLATIONS_SHOWN]),
    )


def _limit(entry: str) -> tuple[str, int]:
    name, _, value = entry.partition("=")
    return name.strip().lower(), int(value)


if __name__ == "__main__":
    sys.exit(main())
