"""The sandbox command line: ``python -m sandbox bamboo|bhn --port N [options]``.

Every option defaults to the provider's real value (or, for BHN's unpublished ones, the sandbox's documented
choice); scale them down to run tests on a faster clock. ``giftq sandbox bamboo|bhn ...`` calls ``main`` with the
same arguments.
"""

import argparse

from sandbox.bamboo.app import create_app
from sandbox.bamboo.seed import add_load_clients
from sandbox.bamboo.settings import Settings
from sandbox.bhn import create_app as create_bhn_app
from sandbox.bhn.settings import Settings as BhnSettings
from sandbox.common.server import make_sandbox_server, serve_until_signalled


def main(argv: list[str] | None = None) -> int:
    """Run the sandbox named in ``argv`` until SIGTERM or SIGINT; return the exit status (0)."""
    args = build_parser().parse_args(argv)
    return run_bhn(args) if args.provider == "bhn" else run_bamboo(args)


def build_parser() -> argparse.ArgumentParser:
    """Return the parser of ``python -m sandbox``: one subcommand per provider."""
    parser = argparse.ArgumentParser(prog="python -m sandbox", description="Provider API simulators for giftq.")
    providers = parser.add_subparsers(dest="provider", required=True)
    bamboo = providers.add_parser("bamboo", help="the Bamboo Integration API")
    defaults = Settings()
    bamboo.add_argument("--port", type=int, required=True, help="TCP port; 0 picks a free one")
    bamboo.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    for name, help_text in (
        ("spacing_ms", "min gap between Place Order arrivals of one client (ms)"),
        ("product_limit", "max orders containing a product per window, per client"),
        ("product_window_ms", "rolling window of --product-limit (ms)"),
        ("get_order_limit", "max Get Order calls per window, per client"),
        ("get_order_window_ms", "rolling window of --get-order-limit (ms)"),
        ("fulfil_delay_ms", "from acceptance until the order is final (ms)"),
        ("webhook_timeout_ms", "timeout of each webhook POST (ms)"),
    ):
        _option(bamboo, name, int, getattr(defaults, name), help_text)
    _option(bamboo, "fail_probability", float, 0.0, "chance an order fails entirely")
    _option(bamboo, "partial_probability", float, 0.0, "chance an order fails partially (PartialFailed)")
    bamboo.add_argument("--seed", type=int, default=None, help="seed for faults, fates and card codes")
    load_help = "seed N more clients: giftq-load-001.. (secret load-secret-001.., USD account 30001..)"
    bamboo.add_argument("--load-clients", type=int, default=0, metavar="N", help=load_help)
    bamboo.add_argument("--access-log", action="store_true", help="log every request to stderr")
    _add_bhn(providers)
    return parser


def _add_bhn(providers: argparse._SubParsersAction) -> None:
    """The ``bhn`` subcommand: one option per BHN sandbox setting (``--token-lifetime-s``, ``--webhook-url``...)."""
    bhn = providers.add_parser("bhn", help="the Blackhawk Network Order Management API and its identity endpoint")
    bhn.add_argument("--port", type=int, required=True, help="TCP port; 0 picks a free one")
    bhn.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    for field in BhnSettings.__dataclass_fields__.values():
        if field.name == "seed":
            continue
        _option(bhn, field.name, field.type, field.default, field.name.replace("_", " "))
    bhn.add_argument("--seed", type=int, default=None, help="seed for faults, order ids and fates")
    bhn.add_argument("--access-log", action="store_true", help="log every request to stderr")


def _option(parser: argparse.ArgumentParser, name: str, kind: type, default: object, help_text: str) -> None:
    flag = "--" + name.replace("_", "-")
    parser.add_argument(flag, dest=name, type=kind, default=default, help=f"{help_text} (default {default})")


def run_bamboo(args: argparse.Namespace) -> int:
    """Serve the Bamboo sandbox with the settings in ``args`` until signalled; return 0."""
    changes = {name: getattr(args, name) for name in Settings.__dataclass_fields__ if name != "seed"}
    try:
        settings = Settings(seed=args.seed).updated(changes)
    except ValueError as problem:
        raise SystemExit(f"python -m sandbox bamboo: {problem}") from None
    add_load_clients(args.load_clients)
    app, sandbox = create_app(settings)
    server = make_sandbox_server(args.host, args.port, app, access_log=args.access_log)
    print(f"bamboo sandbox listening on http://{args.host}:{server.port}", flush=True)
    serve_until_signalled(server, on_stop=sandbox.close)
    return 0


def run_bhn(args: argparse.Namespace) -> int:
    """Serve the BHN sandbox with the settings in ``args`` until signalled; return 0."""
    changes = {name: getattr(args, name) for name in BhnSettings.__dataclass_fields__ if name != "seed"}
    try:
        settings = BhnSettings(seed=args.seed).updated(changes)
    except ValueError as problem:
        raise SystemExit(f"python -m sandbox bhn: {problem}") from None
    app, sandbox = create_bhn_app(settings)
    server = make_sandbox_server(args.host, args.port, app, access_log=args.access_log)
    print(f"bhn sandbox listening on http://{args.host}:{server.port}", flush=True)
    serve_until_signalled(server, on_stop=sandbox.close)
    return 0
