"""`giftq demo`: the whole product on one machine, 20 orders end to end through both providers, with a summary.

Starts what is missing (Redis, the Bamboo and BHN sandboxes, one Celery worker), submits orders by task name
exactly as a producer would (every fourth one a Blackhawk Network order), shows progress, and proves the result
from each sandbox's audit and its ledger of charges and issued cards (worker/cli/money_audit.py), a row per
provider.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from celery import Celery
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from config.settings import BAMBOO, BHN, PROVIDER_TITLES, intake_queue, settings_from
from sandbox.judge import CARDS, GET_WINDOW, PRODUCT_WINDOW, SPACING, Rules, calls_from_log, judge
from sandbox.ledger_audit import LedgerAudit
from worker.broker import GIFTQ_ACL_RULES, producer_acl_rules
from worker.cli.money_audit import audit_money
from worker.cli.processes import Child, Sandbox, start_worker
from worker.cli.redis_server import RedisServer
from worker.orders import states
from worker.orders.crypto import new_key
from worker.runtime import Runtime, build_runtime

DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, DEMO_ACCOUNT = "giftq-demo", "demo-secret", 555
DEMO_PRODUCER = "demo-shop"  # the web app the demo plays, sending by task name to its own intake queue
DEMO_PRODUCTS = ((439685, "10"), (100001, "25"), (100002, "50"), (100003, "20"), (100004, "30"))
# The BHN sandbox's seed credential and two of its e-gift products; every BHN_EVERY-th order goes to BHN.
DEMO_BHN_CLIENT_ID, DEMO_BHN_CLIENT_SECRET = "giftq-bhn-demo", "bhn-demo-secret"
DEMO_BHN_PRODUCTS = (("PRD-7Q2K-AMZN-US", "25.00"), ("PRD-9X4M-STBX-US", "10.00"))
BHN_EVERY = 4
FULFIL_DELAY_MS = 2000
DEADLINE_S = 180.0


@dataclass
class ProviderOutcome:
    """One provider's part: its orders' states, its sandbox's findings and the charged-once audit of its ledger."""

    by_state: dict[str, int]
    findings: dict
    money: LedgerAudit  # each order charged once, for its cards, holding the cards it paid for

    @property
    def orders(self) -> int:
        return sum(self.by_state.values())


@dataclass
class Outcome:
    """What the demo measured, from giftq's store and each sandbox's audit and ledger."""

    by_state: dict[str, int]
    providers: dict[str, ProviderOutcome]
    wall_s: float

    @property
    def violations(self) -> int:
        findings = [part.findings for part in self.providers.values()]
        return sum(len(found.get("spacing_violations", [])) + len(found.get("window_violations", []))
                   for found in findings)  # fmt: skip

    def success(self, orders: int) -> bool:
        clean = all(part.money.clean for part in self.providers.values())
        return self.by_state.get(states.FULFILLED, 0) == orders and self.violations == 0 and clean


def run_demo(orders: int = 20, console: Console | None = None) -> int:
    """Run the demo; the exit code is 0 only if every order is fulfilled, nothing broke a limit or paid twice."""
    console = console or Console()
    for signum in (signal.SIGINT, signal.SIGTERM):  # explicit: a shell may start us with SIGINT ignored
        signal.signal(signum, _interrupt)  # Ctrl-C or SIGTERM: stop everything the demo started
    with tempfile.TemporaryDirectory(prefix="giftq-demo-") as workdir, contextlib.ExitStack() as stack:
        try:
            started_stack = _start_stack(stack, Path(workdir), console)
            rt = build_runtime(settings_from(started_stack.env))
            started = time.monotonic()
            request_ids = _submit(started_stack.env, started_stack.producer_url, orders)
            _follow(rt, request_ids, console, started_stack.worker)
            outcome = _measure(rt, started_stack.sandboxes, request_ids, time.monotonic() - started)
            _print_summary(console, rt, outcome, request_ids)
            within_limits = _print_judged_limits(console, started_stack.sandboxes[BAMBOO])
            return 0 if outcome.success(orders) and within_limits else 1
        except KeyboardInterrupt:
            console.print("[yellow]interrupted: stopping everything the demo started[/]")
            return 130


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


@dataclass
class DemoStack:
    """What the demo started: the environment its processes share, the sandbox, the worker, the producer's URL."""

    env: dict[str, str]
    sandboxes: dict[str, Sandbox]  # by provider
    worker: Child
    producer_url: str  # the broker as the demo's producer reaches it (its own ACL user, when the demo runs Redis)


def _start_stack(stack: contextlib.ExitStack, workdir: Path, console: Console) -> DemoStack:
    env = dict(os.environ)
    env["GIFTQ_KEY_PREFIX"] = prefix = f"giftq-demo-{uuid.uuid4().hex[:8]}"
    env["GIFTQ_BROKER_KEY_PREFIX"] = f"{prefix}:broker:"
    env["GIFTQ_INTAKE_PRODUCERS"] = DEMO_PRODUCER
    producer_url = env.get("GIFTQ_REDIS_URL")
    if not producer_url:
        # As in production (README, "Security"): giftq and the producer each under an ACL user of their own.
        redis_server = stack.enter_context(RedisServer(password=secrets.token_hex(16)))
        env["GIFTQ_REDIS_URL"] = redis_server.add_user("giftq", secrets.token_hex(16), GIFTQ_ACL_RULES)
        rules = producer_acl_rules(intake_queue(DEMO_PRODUCER), key_prefix=env["GIFTQ_BROKER_KEY_PREFIX"])
        producer_url = redis_server.add_user(DEMO_PRODUCER, secrets.token_hex(16), rules)
        console.print(f"started redis-server on redis://127.0.0.1:{redis_server.port}/0 ({redis_server.binary}), "
                      f"with ACL users for giftq and for the producer {DEMO_PRODUCER!r}")  # fmt: skip
    env.setdefault("GIFTQ_FERNET_KEYS", new_key())  # a throwaway key: the demo's cards die with it
    sandbox = Sandbox(workdir / "sandbox.log", fulfil_delay_ms=FULFIL_DELAY_MS)
    stack.callback(sandbox.stop)
    console.print(f"started the Bamboo sandbox on {sandbox.url}")
    bhn = Sandbox(workdir / "bhn-sandbox.log", provider=BHN, fulfil_delay_ms=FULFIL_DELAY_MS)
    stack.callback(bhn.stop)
    console.print(f"started the Blackhawk Network sandbox on {bhn.url}")
    env.update(
        GIFTQ_BAMBOO_BASE_URL=sandbox.url, GIFTQ_BAMBOO_CLIENT_ID=DEMO_CLIENT_ID,
        GIFTQ_BAMBOO_CLIENT_SECRET=DEMO_CLIENT_SECRET, GIFTQ_POLL_INTERVAL_MS="500",
        GIFTQ_BHN_BASE_URL=bhn.url, GIFTQ_BHN_CLIENT_ID=DEMO_BHN_CLIENT_ID,
        GIFTQ_BHN_CLIENT_SECRET=DEMO_BHN_CLIENT_SECRET,
    )  # fmt: skip
    worker = start_worker(workdir / "worker.log", env, concurrency=2, beat=True)
    stack.callback(worker.stop)
    console.print(f"started a Celery worker (concurrency 2, with beat), log: {worker.log_path}")
    return DemoStack(env=env, sandboxes={BAMBOO: sandbox, BHN: bhn}, worker=worker, producer_url=producer_url)


def _submit(env: dict[str, str], producer_url: str, orders: int) -> list[str]:
    """Send orders by task name with a bare Celery client, exactly as a producer's web app would: to its queue."""
    producer = Celery(broker=producer_url)
    producer.conf.broker_transport_options = {"global_keyprefix": env["GIFTQ_BROKER_KEY_PREFIX"]}
    request_ids = []
    for index in range(orders):
        request_id = str(uuid.uuid4())
        order = (
            _bhn_order(request_id, index) if index % BHN_EVERY == BHN_EVERY - 1 else _bamboo_order(request_id, index)
        )
        producer.send_task("giftq.submit_order", args=[order], queue=intake_queue(DEMO_PRODUCER))
        request_ids.append(request_id)
    producer.close()
    return request_ids


def _bamboo_order(request_id: str, index: int) -> dict:
    product_id, value = DEMO_PRODUCTS[index % len(DEMO_PRODUCTS)]
    return {
        "RequestId": request_id,
        "AccountId": DEMO_ACCOUNT,
        "Products": [{"ProductId": product_id, "Quantity": 1 + index % 3, "Value": value}],
    }


def _bhn_order(request_id: str, index: int) -> dict:
    product_id, value = DEMO_BHN_PRODUCTS[index % len(DEMO_BHN_PRODUCTS)]
    return {
        "Provider": BHN,
        "RequestId": request_id,
        "Products": [{"ProductId": product_id, "Quantity": 1 + index % 2, "Value": value, "Currency": "USD"}],
        "Sender": {"Email": "orders@demo-shop.example"},
        "Recipient": {"Email": "friend@example.com"},
    }


def _follow(rt: Runtime, request_ids: list[str], console: Console, worker: Child) -> None:
    columns = (TextColumn("orders final"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.description}"),
               TimeElapsedColumn())  # fmt: skip
    with Progress(*columns, console=console, transient=False) as progress:
        bar = progress.add_task("", total=len(request_ids))
        deadline = time.monotonic() + DEADLINE_S
        while time.monotonic() < deadline:
            worker.check_alive()
            current = _states_of(rt, request_ids)
            done = sum(1 for state in current if state in states.FINAL)
            counts = {state: current.count(state) for state in sorted(set(current))}
            progress.update(bar, completed=done, description=" ".join(f"{k}={v}" for k, v in counts.items()))
            if done == len(request_ids):
                return
            time.sleep(0.2)
    console.print(f"[red]not every order was final after {DEADLINE_S:.0f} s[/]")


def _states_of(rt: Runtime, request_ids: list[str]) -> list[str]:
    return [(record.state if (record := rt.store.get(rid)) else "queued") for rid in request_ids]


def _measure(rt: Runtime, sandboxes: dict[str, Sandbox], request_ids: list[str], wall_s: float) -> Outcome:
    current = _states_of(rt, request_ids)
    parts = {}
    for provider, sandbox in sandboxes.items():
        mine = [rid for rid in request_ids if (record := rt.store.get(rid)) and record.provider == provider]
        mine_states = _states_of(rt, mine)
        parts[provider] = ProviderOutcome(
            by_state={state: mine_states.count(state) for state in set(mine_states)},
            findings=sandbox.admin("GET", "findings"),
            money=audit_money(rt, sandbox.url, mine, provider=provider),
        )
    return Outcome(by_state={state: current.count(state) for state in set(current)}, providers=parts, wall_s=wall_s)


def _print_summary(console: Console, rt: Runtime, outcome: Outcome, request_ids: list[str]) -> None:
    table = Table(title="giftq demo summary", show_header=True)
    table.add_column("measure")
    table.add_column("value", justify="right")
    for state in states.ALL:
        if outcome.by_state.get(state):
            table.add_row(f"orders {state}", str(outcome.by_state[state]))
    table.add_row("wall time", f"{outcome.wall_s:.1f} s")
    console.print(table)
    _print_per_provider(console, outcome)
    _print_one_order_cards(console, rt, request_ids)


def _print_per_provider(console: Console, outcome: Outcome) -> None:
    """A row per provider: its orders, what its sandbox saw, and the charged-once audit of its ledger."""
    table = Table(title="per provider, from each sandbox's audit and ledger", show_header=True,
                  caption="placed, lookups: Place/Create order and Get order calls the sandbox saw (Bamboo's orders "
                          "of one account may ride together: fewer than orders); twice, stray: "
                          "orders charged twice, charges for no order; cards: charged / ordered; held: orders "
                          "holding exactly the cards issued")  # fmt: skip
    for column in ("provider", "orders", "fulfilled", "placed", "lookups", "twice", "stray", "cards", "held"):
        table.add_column(column, justify="left" if column == "provider" else "right")
    for provider, part in outcome.providers.items():
        found, money = part.findings, dict(part.money.rows())
        placed = found.get("place_order_calls", found.get("create_order_calls", 0))
        table.add_row(provider, str(part.orders), str(part.by_state.get(states.FULFILLED, 0)),
                      str(placed), str(found.get("get_order_calls", 0)), money["orders charged twice"],
                      money["charges for no order"], money["cards charged / cards ordered"],
                      money["orders holding the cards the provider issued"])  # fmt: skip
    console.print(table)


def _print_judged_limits(console: Console, sandbox: Sandbox) -> bool:
    """Hold the sandbox's whole call log to Bamboo's stated limits with the independent judge; print its counts."""
    report = judge(
        calls_from_log(sandbox.admin("GET", "calls")["calls"]), Rules.of_sandbox(sandbox.admin("GET", "config"))
    )
    table = Table(title="Bamboo's limits, judged from the sandbox's call log (sandbox/judge.py)", show_header=True)
    table.add_column("measure")
    table.add_column("value", justify="right")
    for rule, what in ((SPACING, "Place Order spacing"), (PRODUCT_WINDOW, "orders per product per window"),
                       (GET_WINDOW, "Get Order calls per window"), (CARDS, "cards per order")):  # fmt: skip
        table.add_row(f"judge: {what} violations", str(report.count(rule)))
    table.add_row("judge: schedule efficiency (LB / span)", f"{report.efficiency:.2f}")
    console.print(table)
    for violation in report.violations:
        console.print(violation.describe(), style="red", markup=False, highlight=False)
    return report.ok


def _print_one_order_cards(console: Console, rt: Runtime, request_ids: list[str]) -> None:
    """The decrypted cards of the first order of each provider that holds some, masked."""
    shown: set[str] = set()
    for request_id in request_ids:
        record = rt.store.get(request_id)
        if not record or not record.cards_token or record.provider in shown:
            continue
        shown.add(record.provider)
        cards = rt.cipher.decrypt(record.cards_token, record.cards_context)
        title = f"cards of {PROVIDER_TITLES[record.provider]} order {request_id} (decrypted, shown masked)"
        table = Table(title=title)
        for column in ("product", "serial", "code or e-gift URL", "pin", "cards", "expires"):
            table.add_column(column)
        for card in cards:
            secret = card["code"] or card.get("egift_url", "")
            table.add_row(str(card["product_id"]), card["serial_number"], mask(secret), mask(card["pin"], 0),
                          str(card.get("quantity", 1)), card["expiration"])  # fmt: skip
        console.print(table)


def mask(secret: str, visible: int = 4) -> str:
    """`secret` with all but its last `visible` characters hidden."""
    if not secret:
        return ""
    shown = secret[-visible:] if visible and len(secret) > visible else ""
    return "•" * max(len(secret) - len(shown), 4) + shown
