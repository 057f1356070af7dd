"""The `giftq` command: submit and inspect orders, run the demo, start the sandbox."""

from __future__ import annotations

import argparse
import json
import uuid
from datetime import UTC, datetime

import redis
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from config.dotenv import read_env_file
from config.settings import SettingsError, load_log_settings, load_settings
from worker.cli.operator import add_commands
from worker.cli.preflight import check_redis, describe
from worker.errors import GiftqError, OrderRejected
from worker.logs import configure_logging

EXIT_USAGE = 2


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `giftq` console script."""
    from worker.redaction import install_redaction

    install_redaction()
    parser = _parser()
    args, rest = parser.parse_known_args(argv)
    if args.command == "sandbox":
        from sandbox.cli import main as sandbox_main

        return sandbox_main(rest)
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    try:
        if args.command != "demo":  # the demo sets up everything it uses, and reads no deployment's settings
            read_env_file()
        configure_logging(load_log_settings())
        if getattr(args, "uses_redis", False):
            check_redis(load_settings())
        return args.handler(args)
    except (GiftqError, SettingsError) as error:
        Console(stderr=True, soft_wrap=True).print(f"[red]error:[/] {escape(str(error))}")
        return 1
    except redis.RedisError as error:  # Redis went away after the command's first look
        Console(stderr=True, soft_wrap=True).print(f"[red]error:[/] Redis failed: {escape(describe(error))}")
        return 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="giftq", description="Gift-card ordering worker.")
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser("demo", help="run 20 orders end to end against the sandbox and summarise")
    demo.add_argument("--orders", type=int, default=20, help="how many orders to submit (default 20)")
    demo.set_defaults(handler=_demo)

    submit = commands.add_parser("submit", help="submit one order (validated, stored, enqueued)")
    submit.add_argument("--json", dest="order_json", help="the whole order as JSON (Place Order fields)")
    submit.add_argument("--account", type=int, help="AccountId")
    submit.add_argument("--product", type=int, help="ProductId")
    submit.add_argument("--quantity", type=int, default=1, help="cards of the product (default 1)")
    submit.add_argument("--value", help="face value in the product's currency")
    submit.add_argument("--request-id", help="RequestId (a GUID; a new one if omitted)")
    submit.add_argument("--producer", default="", help="the producer to record on the order (default none)")
    submit.set_defaults(uses_redis=True, handler=_submit)

    status = commands.add_parser("status", help="show an order's state and history (never its cards)")
    status.add_argument("request_id")
    status.set_defaults(uses_redis=True, handler=_status)

    keygen = commands.add_parser("keygen", help="print a new key for GIFTQ_FERNET_KEYS")
    keygen.set_defaults(handler=_keygen)

    keys = commands.add_parser("keys", help="card-encryption keys")
    keys_commands = keys.add_subparsers(dest="keys_command", required=True)
    rotate = keys_commands.add_parser("rotate", help="re-encrypt every stored card token under the newest key")
    rotate.set_defaults(uses_redis=True, handler=_rotate_keys)

    api = commands.add_parser("api", help="serve the producers' HTTP API (gunicorn)")
    api.add_argument("--bind", help="host:port to listen on (default GIFTQ_API_BIND)")
    api.set_defaults(uses_redis=True, handler=_api)

    flower = commands.add_parser("flower", help="serve Flower, basic auth on every page (GIFTQ_FLOWER_BASIC_AUTH)")
    flower.add_argument("--bind", help="host:port to listen on (default GIFTQ_FLOWER_BIND)")
    flower.set_defaults(uses_redis=True, handler=_flower)

    apikey = commands.add_parser("apikey", help="make an API key for a producer; prints the key and its entry")
    apikey.add_argument("producer", help="the producer's name (letters, digits, '_', '.', '-')")
    apikey.add_argument("--scope", action="append", choices=("orders", "cards"), default=[],
                        help="what the key may do (repeatable): orders (the default) and/or cards; "
                        "--scope cards alone adds cards to orders")  # fmt: skip
    apikey.set_defaults(handler=_apikey)

    store = commands.add_parser("store", help="the order store: resume placing after a store lost data")
    store_commands = store.add_subparsers(dest="store_command", required=True)
    resume = store_commands.add_parser("resume", help="accept the store as it is now (after reconciling by hand)")
    resume.set_defaults(uses_redis=True, handler=_resume_store)

    acl = commands.add_parser("acl", help="write a Redis ACL file: giftq's user and one user per producer")
    acl.add_argument("--out", required=True, help="the ACL file to write (for redis-server --aclfile); mode 0600")
    acl.add_argument("--producer", action="append", default=[],
                     help="a producer sending by task name (repeatable; default GIFTQ_INTAKE_PRODUCERS)")  # fmt: skip
    acl.add_argument("--host", default="127.0.0.1:6379", help="host:port the URLs printed name (default %(default)s)")
    acl.set_defaults(handler=_acl)

    top = commands.add_parser("top", help="a live view of each credential's schedule and the orders by state")
    top.add_argument("--once", action="store_true", help="print one frame and exit")
    top.add_argument("--interval", type=float, default=1.0, help="seconds between frames (default 1)")
    top.set_defaults(uses_redis=True, handler=_top)

    add_commands(commands)

    doctor = commands.add_parser("doctor", help="check a deployment: one line per check, OK or PROBLEM")
    doctor.set_defaults(uses_redis=True, handler=_doctor)

    commands.add_parser("sandbox", help="start a provider sandbox: giftq sandbox bamboo|bhn --port N", add_help=False)
    return parser


def _top(args: argparse.Namespace) -> int:
    from worker.celery import runtime
    from worker.cli.top import run_top

    if args.interval <= 0:
        raise GiftqError("--interval must be more than 0")
    return run_top(runtime(), once=args.once, interval_s=args.interval)


def _demo(args: argparse.Namespace) -> int:
    from worker.cli.demo import run_demo

    if args.orders < 1:
        raise GiftqError("--orders must be at least 1")
    return run_demo(orders=args.orders)


def _submit(args: argparse.Namespace) -> int:
    from tasks.orders import enqueue_place
    from worker.celery import runtime

    order = _order_from(args)
    rt = runtime()
    try:
        submission = rt.intake(enqueue_place).submit(order, producer=args.producer)
    except OrderRejected as rejected:
        Console(stderr=True).print(f"[red]rejected:[/] {rejected.reason} {rejected.detail}".rstrip())
        return 1
    verb = "accepted" if submission.created else "already submitted"
    print(f"{verb}: {submission.order.request_id} ({submission.order.state})")
    return 0


def _order_from(args: argparse.Namespace) -> dict:
    if args.order_json:
        try:
            order = json.loads(args.order_json)
        except json.JSONDecodeError as error:
            raise GiftqError(f"--json is not valid JSON: {error}") from None
        if not isinstance(order, dict):
            raise GiftqError("--json must be a JSON object with RequestId, AccountId and Products")
        return order
    missing = [flag for flag, value in (("--account", args.account), ("--product", args.product),
                                        ("--value", args.value)) if value is None]  # fmt: skip
    if missing:
        raise GiftqError(f"give --json, or {', '.join(missing)}")
    return {
        "RequestId": args.request_id or str(uuid.uuid4()),
        "AccountId": args.account,
        "Products": [{"ProductId": args.product, "Quantity": args.quantity, "Value": args.value}],
    }


def _status(args: argparse.Namespace) -> int:
    from worker.celery import runtime

    rt = runtime()
    record = rt.store.get(args.request_id)
    if record is None:
        Console(stderr=True).print(f"no order {args.request_id}")
        return 1
    console = Console()
    console.print(
        f"order {record.request_id}: [bold]{record.state}[/]" + (f" ({record.reason})" if record.reason else "")
    )
    if record.summary:
        console.print(f"summary: {json.dumps(record.summary, sort_keys=True)}")
    table = Table("at (UTC)", "from", "to", "note")
    for entry in rt.store.history(record.request_id):
        at = datetime.fromtimestamp(entry["at_ms"] / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
        table.add_row(at, entry.get("from", ""), entry["to"], entry.get("note", ""))
    console.print(table)
    return 0


def _keygen(_: argparse.Namespace) -> int:
    from worker.orders.crypto import new_key

    print(new_key())
    return 0


def _rotate_keys(_: argparse.Namespace) -> int:
    """Rewrite every order's cards under the newest key of GIFTQ_FERNET_KEYS; 1 if a token decrypts under none."""
    from config.settings import load_settings
    from worker.runtime import build_runtime

    # No start-up key check: rotation must reach, and report, a token that no configured key decrypts.
    report = build_runtime(load_settings(), check_keys=False).vault.rotate_all()
    print(f"rotated the cards of {report.rotated} orders under the newest key")
    if report.undecryptable:
        Console(stderr=True).print(
            f"[red]error:[/] {len(report.undecryptable)} orders have cards no configured key decrypts "
            f"(left as they were): {', '.join(report.undecryptable)}"
        )
        return 1
    return 0


def _api(args: argparse.Namespace) -> int:
    from api.server import serve
    from config.settings import load_settings

    serve(load_settings(), bind=args.bind)
    return 0


def _flower(args: argparse.Namespace) -> int:
    """Flower over giftq's Celery app; refuses to start open unless GIFTQ_FLOWER_UNAUTHENTICATED=true (loopback)."""
    from config.flower import load_flower_settings
    from worker.celery import app
    from worker.cli.flower import serve_flower

    serve_flower(app, load_flower_settings(bind=args.bind))
    return 0


def _doctor(_: argparse.Namespace) -> int:
    """Every check of worker/cli/doctor.py, one line each; 1 if any is a problem."""
    from config import celery as celery_config
    from worker.cli.doctor import run_checks
    from worker.runtime import build_runtime

    settings = load_settings()
    # No start-up refusals: the doctor must reach, and name, a store that is not durable or keys that do not fit.
    rt = build_runtime(settings, check_store=False, check_keys=False)
    broker = redis.Redis.from_url(settings.broker_redis_url())
    kick_s = float(celery_config.beat_schedule["kick-schedules"]["schedule"])
    checks = run_checks(rt, broker, kick_interval_s=kick_s)
    broker.close()
    console = Console(soft_wrap=True)
    for name, ok, detail in checks:
        console.print(f"{'[green]OK[/]     ' if ok else '[red]PROBLEM[/]'} {name}: {escape(detail)}")
    problems = [name for name, ok, _ in checks if not ok]
    console.print(f"{len(problems)} problems" + (f": {', '.join(problems)}" if problems else ""))
    return 1 if problems else 0


def _resume_store(_: argparse.Namespace) -> int:
    """Placing stopped because the store lost data; the operator has reconciled with the provider: go on."""
    from worker.celery import runtime

    reason = runtime().continuity.resume()
    print(f"placing resumed (it had stopped: {reason})" if reason else "placing had not stopped; nothing to do")
    return 0


def _acl(args: argparse.Namespace) -> int:
    """Write an ACL file with fresh passwords: default user off, giftq's user, one user per producer's queue."""
    import os
    import secrets

    from config.settings import intake_queue, load_settings
    from worker.broker import GIFTQ_ACL_RULES, producer_acl_rules

    settings = load_settings()
    producers = args.producer or list(settings.intake_producers)
    if not producers:
        raise GiftqError("name the producers: --producer NAME (or set GIFTQ_INTAKE_PRODUCERS)")
    passwords = {name: secrets.token_urlsafe(24) for name in ("giftq", *producers)}
    lines = ["user default off", f"user giftq on >{passwords['giftq']} {' '.join(GIFTQ_ACL_RULES)}"]
    for name in producers:
        rules = producer_acl_rules(intake_queue(name), key_prefix=settings.broker_key_prefix)
        lines.append(f"user {name} on >{passwords[name]} {' '.join(rules)}")
    descriptor = os.open(args.out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="latin-1") as out:
        out.write("\n".join(lines) + "\n")
    print(f"wrote {args.out}: start the Redis with --aclfile {args.out}")
    print(f"giftq's processes: GIFTQ_REDIS_URL=redis://giftq:{passwords['giftq']}@{args.host}/0")
    for name in producers:
        print(f"producer {name}: broker redis://{name}:{passwords[name]}@{args.host}/0, queue {intake_queue(name)}")
    return 0


def _apikey(args: argparse.Namespace) -> int:
    import re

    from api.apikeys import key_entry, new_api_key

    if not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", args.producer):
        raise GiftqError("a producer name is 1 to 64 letters, digits, '_', '.' or '-'")
    scopes = tuple(scope for scope in ("orders", "cards") if scope in {"orders", *args.scope})
    key = new_api_key()
    print(f"API key for {args.producer} (give it to the producer; giftq keeps only its digest):\n{key}")
    print(f"add to GIFTQ_API_KEYS (comma-separated):\n{key_entry(args.producer, key, scopes)}")
    return 0
