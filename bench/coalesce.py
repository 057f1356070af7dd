"""Coalescing benchmark (issue 18): a hot product at the provider's card ceiling instead of its order ceiling.

10,000 one-card orders of one account (giftq-demo's 555): 80% of one product, the rest spread evenly over 19 others,
in a shuffled order (fixed seed), sent by task name (`giftq.submit_order`) as fast as one producer can, to 4 worker
processes at concurrency 1. The Bamboo sandbox keeps Bamboo's own limits on the real clock (500 ms between Place
Orders, 6 orders per product per 60 s, 500 cards per order) and giftq its defaults, coalescing on.

It prints: how long the producer took to send every order, and until every order was stored (intake); the drain
(from the first submit until every order is final); the card-level lower bound (the hot product's
ceil(8000 / 500) = 16 orders at 6 a minute: the 16th can start no earlier than (ceil(16 / 6) - 1) x 60 s after
the first); efficiency (bound / drain); cards a second; provider orders placed; violations the limits judge
(sandbox/judge.py) finds in the sandbox's call log; producer orders holding exactly their cards (each member's
decrypted cards against the cards the sandbox issued for the provider order it rode in, by product and face
value); cards charged against cards ordered.

Then (`--off`) the same backlog with coalescing off, on a clock 62.5 times faster (spacing 8 ms, 6 orders per
product per 960 ms), and its drain stated in real time: about 22 minutes of wall time for about 22 hours.

    .venv/bin/python bench/coalesce.py --runs 3
    .venv/bin/python bench/coalesce.py --off
"""

from __future__ import annotations

import argparse
import contextlib
import math
import random
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from celery import Celery

from bench.backlog import PRODUCT_VALUES
from bench.stack import giftq_env, start_workers
from config.settings import settings_from
from sandbox.judge import Rules, calls_from_log, judge
from worker.cli.processes import Sandbox
from worker.cli.redis_server import RedisServer
from worker.orders import states
from worker.runtime import build_runtime

ORDERS, HOT_SHARE, WORKERS, SEED = 10_000, 0.8, 4, 18
HOT = 100002
ACCOUNT = 555
MAX_CARDS, PRODUCT_LIMIT, WINDOW_S = 500, 6, 60.0
DEADLINE_S = 900.0  # for the real-clock drain
OFF_SCALE = 62.5  # the off run's clock: 500 ms -> 8 ms, 60 s -> 960 ms
OFF_DEADLINE_S = 3_600.0
BATCH = 1_000  # orders one pipeline reads


@dataclass(frozen=True)
class Outcome:
    intake_sent_s: float
    intake_stored_s: float
    drain_s: float
    provider_orders: int
    violations: int
    exact: int
    cards_charged: int


def backlog(size: int, seed: int) -> list[dict]:
    """`size` one-card orders: HOT_SHARE of them of the hot product, the rest evenly over 19 others, shuffled."""
    rng = random.Random(seed)
    others = [product for product in PRODUCT_VALUES if product != HOT]
    hot = round(size * HOT_SHARE)
    products = [HOT] * hot + [others[i % len(others)] for i in range(size - hot)]
    rng.shuffle(products)
    return [{"RequestId": str(uuid.UUID(int=rng.getrandbits(128), version=4)), "AccountId": ACCOUNT,
             "Products": [{"ProductId": product, "Quantity": 1, "Value": PRODUCT_VALUES[product]}]}
            for product in products]  # fmt: skip


def card_bound_s(orders: list[dict]) -> float:
    """The card-level lower bound of the drain: the hot product's full orders, 6 a window, from the first."""
    hot_cards = sum(line["Quantity"] for order in orders for line in order["Products"] if line["ProductId"] == HOT)
    needed = math.ceil(hot_cards / MAX_CARDS)
    return (math.ceil(needed / PRODUCT_LIMIT) - 1) * WINDOW_S


def order_bound_s(orders: list[dict]) -> float:
    """The same bound one provider order per producer order: the hot product's orders at 6 a window."""
    hot_orders = sum(1 for order in orders if any(line["ProductId"] == HOT for line in order["Products"]))
    return (math.ceil(hot_orders / PRODUCT_LIMIT) - 1) * WINDOW_S


def run_once(orders: list[dict], logs: Path, *, coalesce: bool, scale: float, deadline_s: float) -> Outcome:
    """Drain `orders` through a fresh Redis, sandbox and 4 workers; what it took, measured on this clock."""
    spacing_ms, window_ms = round(500 / scale), round(WINDOW_S * 1000 / scale)
    sandbox_limits = {} if scale == 1 else {"spacing_ms": spacing_ms, "product_window_ms": window_ms,
                                            "get_order_limit": 100_000, "fulfil_delay_ms": 50}  # fmt: skip
    giftq_limits = {"coalesce": int(coalesce)}
    if scale != 1:
        giftq_limits |= {"spacing_ms": spacing_ms, "product_window_ms": window_ms, "get_limit": 100_000}
    with contextlib.ExitStack() as stack:
        redis_server = stack.enter_context(RedisServer())
        sandbox = Sandbox(logs / f"sandbox-{uuid.uuid4().hex[:6]}.log", **sandbox_limits)
        stack.callback(sandbox.stop)
        prefix = f"bench-{uuid.uuid4().hex[:8]}"
        env = giftq_env(redis_server.url, prefix, sandbox.url, giftq_limits)
        env["GIFTQ_BAMBOO_EXTRA_CLIENTS"] = ""
        env["GIFTQ_ALLOW_VOLATILE_STORE"] = "true"
        if scale != 1:
            env["GIFTQ_POLL_INTERVAL_MS"] = "100"
        start_workers("worker", env, logs, stack, count=WORKERS)
        rt = build_runtime(settings_from(env))
        producer = Celery(broker=redis_server.url)
        producer.conf.broker_transport_options = {"global_keyprefix": env["GIFTQ_BROKER_KEY_PREFIX"]}
        request_ids = [order["RequestId"] for order in orders]
        started = time.monotonic()
        for order in orders:
            producer.send_task("giftq.submit_order", args=[order], queue="giftq")
        sent_s = time.monotonic() - started
        stored_s = _wait(lambda: _stored(rt, request_ids), started, deadline_s, "every order stored")
        drain_s = _wait(lambda: _final(rt, request_ids), started, deadline_s, "every order final")
        producer.close()
        return _audit(rt, sandbox, orders, sent_s, stored_s, drain_s)


def _wait(done, started: float, deadline_s: float, what: str) -> float:
    while not done():
        if time.monotonic() - started > deadline_s:
            raise SystemExit(f"not done within {deadline_s:.0f} s: {what}")
        time.sleep(0.2)
    return time.monotonic() - started


def _stored(rt, request_ids: list[str]) -> bool:
    with rt.redis.pipeline(transaction=False) as pipe:
        for request_id in request_ids:
            pipe.exists(rt.keys.order(request_id))
        return all(pipe.execute())


def _final(rt, request_ids: list[str]) -> bool:
    with rt.redis.pipeline(transaction=False) as pipe:
        for request_id in request_ids:
            pipe.hget(rt.keys.order(request_id), "state")
        return all(state is not None and state.decode() in states.FINAL for state in pipe.execute())


def _audit(rt, sandbox: Sandbox, orders: list[dict], sent_s: float, stored_s: float, drain_s: float) -> Outcome:
    """Provider orders, the judge's violations, members holding exactly their cards, cards charged."""
    records = {}
    for start in range(0, len(orders), BATCH):
        batch = [order["RequestId"] for order in orders[start : start + BATCH]]
        records.update(zip(batch, rt.store.get_many(batch), strict=True))
    provider_ids = sorted({record.pack or record.provider_request_id for record in records.values()})
    accepted = set(sandbox.admin("GET", "findings")["accepted_request_ids"])
    placed = [rid for rid in provider_ids if rid in accepted]
    log = [call for call in sandbox.admin("GET", "calls")["calls"] if call["request_id"] in set(provider_ids)]
    report = judge(calls_from_log(log), Rules.of_sandbox(sandbox.admin("GET", "config")))
    line_of, charged = {}, 0
    for provider_id in placed:
        issued = sandbox.admin("GET", f"orders/{provider_id}")
        for item in issued["items"]:
            charged += len(item["cards"])
            for card in item["cards"]:
                line_of[card["cardCode"]] = (item["productId"], Decimal(str(item["productFaceValue"])))
    exact, seen = 0, Counter()
    for order in orders:
        record = records[order["RequestId"]]
        cards = rt.cipher.decrypt(record.cards_token, record.cards_context) if record.cards_token else []
        codes = [card["code"] for card in cards]
        seen.update(codes)
        wanted = Counter({(line["ProductId"], Decimal(line["Value"])): line["Quantity"] for line in order["Products"]})
        exact += record.state == states.FULFILLED and Counter(line_of.get(code) for code in codes) == wanted
    if any(count > 1 for count in seen.values()):
        exact = -1  # a card held by two orders: nothing is exact
    return Outcome(sent_s, stored_s, drain_s, len(placed), len(report.violations), exact, charged)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    orders = backlog(args.orders, SEED)
    logs = Path(tempfile.mkdtemp(prefix="giftq-bench-coalesce-"))
    cards = sum(line["Quantity"] for order in orders for line in order["Products"])
    bound = card_bound_s(orders)
    print(f"{len(orders)} one-card orders of account {ACCOUNT}: {HOT_SHARE:.0%} of product {HOT}, the rest over 19 "
          f"others; Bamboo's limits on the real clock; {WORKERS} workers; logs in {logs}")  # fmt: skip
    print(f"card-level lower bound: {bound:.0f} s (ceil({round(cards * HOT_SHARE)} / {MAX_CARDS}) orders of the hot "
          f"product, {PRODUCT_LIMIT} per {WINDOW_S:.0f} s)")  # fmt: skip
    results = []
    for number in range(1, args.runs + 1):
        outcome = run_once(orders, logs, coalesce=True, scale=1, deadline_s=DEADLINE_S)
        results.append(outcome)
        print(f"run {number}: intake {outcome.intake_sent_s:.1f} s sent, {outcome.intake_stored_s:.1f} s stored; "
              f"drain {outcome.drain_s:.1f} s; efficiency {bound / outcome.drain_s:.3f} "
              f"({outcome.drain_s / bound if bound else math.inf:.2f}x the bound); "
              f"{cards / outcome.drain_s:.0f} cards/s; "
              f"provider orders {outcome.provider_orders}; violations {outcome.violations}; "
              f"orders with exactly their cards {outcome.exact} of {len(orders)}; "
              f"cards charged {outcome.cards_charged} for {cards} ordered", flush=True)  # fmt: skip
    ok = all(each.violations == 0 and each.exact == len(orders) and each.cards_charged == cards
             and each.drain_s <= 1.25 * bound for each in results)  # fmt: skip
    if results:
        worst = max(each.drain_s for each in results)
        print(f"worst of {len(results)}: drain {worst:.1f} s, efficiency {bound / worst:.3f}")
    if args.off:
        off = run_once(orders, logs, coalesce=False, scale=OFF_SCALE, deadline_s=OFF_DEADLINE_S)
        real_s = off.drain_s * OFF_SCALE
        print(f"coalescing off, on a clock {OFF_SCALE}x faster: drain {off.drain_s:.0f} s, i.e. {real_s / 3600:.1f} h "
              f"in real time (the order-level bound: {order_bound_s(orders) / 3600:.1f} h); provider orders "
              f"{off.provider_orders}; violations {off.violations}; exact {off.exact} of {len(orders)}")  # fmt: skip
        ok = ok and off.violations == 0
    return 0 if ok else 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=ORDERS, help=f"backlog size (default {ORDERS})")
    parser.add_argument("--runs", type=int, default=1, help="coalescing-on runs on the real clock (default 1)")
    parser.add_argument("--off", action="store_true", help="then the same backlog with coalescing off, 62.5x clock")
    return parser


if __name__ == "__main__":
    sys.exit(main())
