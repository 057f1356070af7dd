"""`giftq top`: a live terminal view of each credential's schedule and of the orders by state.

Per credential: orders parked (and the products they wait for), slots reserved and not yet claimed, Place
Order calls started in the last minute against the most the spacing allows in a minute, and a 429 hold still
running. Then the orders in each state. It only reads Redis; `--once` prints one frame and exits.
"""

from __future__ import annotations

import time

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table

from worker.orders import states
from worker.runtime import Runtime

MINUTE_MS = 60_000
MOST_PRODUCTS_SHOWN = 5  # per credential: the products with the most parked orders


def frame(rt: Runtime) -> Group:
    """One frame of the view, as of now."""
    now_ms = rt.now_ms()
    schedules = Table(title="schedules (per credential)", show_header=True)
    for column in ("credential", "parked", "waiting for", "reserved", "calls last minute", "hold"):
        schedules.add_column(column, justify="left" if column in ("credential", "waiting for") else "right")
    for credential in rt.settings.credentials():
        view = rt.throttle.view(credential.key, now_ms=now_ms)
        limits = credential.limits
        most = MINUTE_MS // (limits.spacing_ms + limits.margin_ms)  # what the spacing allows in a minute
        busiest = sorted(view.parked_by_product.items(), key=lambda item: (-item[1], item[0]))[:MOST_PRODUCTS_SHOWN]
        waiting = ", ".join(f"{product}: {count}" for product, count in busiest) or "-"
        hold = f"{view.hold_ms / 1000:.1f} s" if view.hold_ms else "-"
        schedules.add_row(credential.key, str(view.parked), waiting, str(view.reserved),
                          f"{view.started_last_minute} / {most}", hold)  # fmt: skip
    by_state = Table(title="orders by state", show_header=True)
    counts = rt.store.count_by_state()
    for state in states.ALL:
        by_state.add_column(state, justify="right")
    by_state.add_row(*(str(counts[state]) for state in states.ALL))
    return Group(schedules, by_state)


def run_top(rt: Runtime, *, once: bool, interval_s: float, console: Console | None = None) -> int:
    """Print one frame (`once`), or refresh the view every `interval_s` until Ctrl-C."""
    console = console or Console()
    if once:
        console.print(frame(rt))
        return 0
    try:
        with Live(frame(rt), console=console, refresh_per_second=4) as live:
            while True:
                time.sleep(interval_s)
                live.update(frame(rt))
    except KeyboardInterrupt:
        return 0
