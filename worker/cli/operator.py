"""`giftq orders` and `giftq dead-letters`: what an operator looks at, and the replay of parked messages."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime

from rich.console import Console
from rich.table import Table

from worker.errors import GiftqError
from worker.orders import states
from worker.redaction import task_argsrepr

MAX_PAGE = 500  # orders one page may show


def add_commands(commands: argparse._SubParsersAction) -> None:
    """The operator's commands, on the `giftq` parser."""
    orders = commands.add_parser("orders", help="list the orders in one state, oldest first, a page at a time")
    orders.add_argument("--state", required=True, choices=states.ALL, help="the state to list")
    orders.add_argument("--limit", type=int, default=50, help=f"orders per page, 1..{MAX_PAGE} (default 50)")
    orders.add_argument("--cursor", help="where the previous page stopped (its 'next page' line)")
    orders.set_defaults(uses_redis=True, handler=_orders)

    letters = commands.add_parser("dead-letters", help="task messages parked after too many deliveries")
    letters_commands = letters.add_subparsers(dest="letters_command", required=True)
    listing = letters_commands.add_parser("list", help="every parked message, oldest first")
    listing.set_defaults(uses_redis=True, handler=_list_letters)
    show = letters_commands.add_parser("show", help="one parked message: its task, queue and arguments")
    show.add_argument("task_id")
    show.set_defaults(uses_redis=True, handler=_show_letter)
    replay = letters_commands.add_parser("replay", help="send a parked message again, through its queue's door")
    replay.add_argument("task_id", nargs="?")
    replay.add_argument("--all", action="store_true", help="replay every parked message")
    replay.set_defaults(uses_redis=True, handler=_replay)


def _runtime():
    from worker.celery import runtime

    return runtime()


def _at(ms: float) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _orders(args: argparse.Namespace) -> int:
    if not 1 <= args.limit <= MAX_PAGE:
        raise GiftqError(f"--limit must be within 1..{MAX_PAGE}")
    page = _runtime().store.page(args.state, limit=args.limit, after=args.cursor)
    table = Table("request id", "producer", "provider", "credential", "created (UTC)", "updated (UTC)", "reason",
                  title=f"orders {args.state}")  # fmt: skip
    for record in page.orders:
        table.add_row(record.request_id, record.producer, record.provider, record.credential, _at(record.created_ms),
                      _at(record.updated_ms), record.reason)  # fmt: skip
    console = Console(soft_wrap=True)
    console.print(table)
    if page.next_cursor:
        console.print(f"next page: giftq orders --state {args.state} --limit {args.limit} --cursor {page.next_cursor}")
    else:
        console.print("last page")
    return 0


def _list_letters(_: argparse.Namespace) -> int:
    from tasks.dead_letters import dead_letters

    letters = dead_letters(_runtime())
    table = Table("task id", "task", "queue", "parked (UTC)", "arguments", title=f"{len(letters)} dead letters")
    for letter in letters:
        shown = task_argsrepr(letter.args) if letter.args is not None else "(digest only)"
        table.add_row(letter.id, letter.task, letter.queue or "", _at(letter.at * 1000), shown)
    Console(soft_wrap=True).print(table)
    return 0


def _show_letter(args: argparse.Namespace) -> int:
    from tasks.dead_letters import find

    letter = find(_runtime(), args.task_id)
    if letter is None:
        raise GiftqError(f"no dead letter {args.task_id}")
    print(json.dumps(json.loads(letter.raw), indent=2, sort_keys=True))
    return 0


def _replay(args: argparse.Namespace) -> int:
    from tasks.dead_letters import NotReplayable, dead_letters, find, replay

    if bool(args.all) == bool(args.task_id):
        raise GiftqError("give a task id, or --all")
    rt = _runtime()
    letters = dead_letters(rt) if args.all else [find(rt, args.task_id)]
    if letters == [None]:
        raise GiftqError(f"no dead letter {args.task_id}")
    failed = 0
    for letter in letters:
        try:
            sent = replay(rt, letter)
        except NotReplayable as refused:
            Console(stderr=True, soft_wrap=True).print(f"[red]not replayed:[/] {refused}")
            failed += 1
            continue
        print(f"replayed {letter.id} ({letter.task}) to {letter.queue} as {sent}")
    print(f"{len(letters) - failed} replayed, {failed} not")
    return 1 if failed else 0
