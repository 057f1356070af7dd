"""Figures of one drain, computed from the sandbox's audit of Place Order arrivals (not from the workers).

Definitions follow /work/shared/DESIGN.md ("Provider limits and the throttle"): per credential, the accepted
Place Order arrivals are the schedule's starts; the lower bound of the last start after the first is
LB = max((N - 1) * s, max_p floor((n_p - 1) / k) * W); schedule efficiency = LB / (last start - first start),
and the worst credential is the figure.
"""

from __future__ import annotations

import bisect
import math
import statistics
from collections import defaultdict
from dataclasses import dataclass

from bench.backlog import BenchOrder


@dataclass(frozen=True)
class Scale:
    """The provider limits of a run, in seconds and counts."""

    spacing_s: float
    product_limit: int
    window_s: float


@dataclass(frozen=True)
class Start:
    """An accepted Place Order arrival."""

    at: float
    request_id: str
    product_id: int


@dataclass(frozen=True)
class CredentialFigures:
    """The schedule of one credential: its lower bound, span, efficiency, idle slot time and gaps."""

    credential: str
    placed: int
    orders: int
    lower_bound_s: float
    span_s: float
    efficiency: float
    idle_s: float
    gaps_s: tuple[float, ...]


def accepted_starts(calls: list[dict]) -> dict[str, list[Start]]:
    """The accepted (200) Place Order arrivals of each credential, in arrival order."""
    starts: dict[str, list[Start]] = defaultdict(list)
    for call in calls:
        if call["endpoint"] == "place_order" and call["status"] == 200 and call["client"]:
            product_id = (call["products"] or [{}])[0].get("ProductId")
            starts[call["client"]].append(Start(call["at"], call["request_id"], product_id))
    return {client: sorted(each, key=lambda start: start.at) for client, each in starts.items()}


def lower_bound_s(product_counts: list[int], scale: Scale) -> float:
    """The least time from the first start to the last for these per-product order counts."""
    total = sum(product_counts)
    by_window = max((math.floor((n - 1) / scale.product_limit) for n in product_counts if n), default=0)
    return max((total - 1) * scale.spacing_s, by_window * scale.window_s, 0.0)


def credential_figures(
    credential: str,
    starts: list[Start],
    orders: list[BenchOrder],
    submitted: dict[str, float],
    scale: Scale,
    *,
    stopped_at: float,
) -> CredentialFigures:
    """The figures of one credential.

    A credential that did not drain by `stopped_at` is judged on its whole backlog, with its span counted up to
    `stopped_at`: its efficiency is then an upper bound.
    """
    counts: dict[int, int] = defaultdict(int)
    for order in orders:
        counts[order.product_id] += 1
    bound = lower_bound_s(list(counts.values()), scale)
    span = starts[-1].at - starts[0].at if starts else math.inf
    if starts and len(starts) < len(orders):
        span = max(span, stopped_at - starts[0].at)
    gaps = tuple(later.at - earlier.at for earlier, later in zip(starts, starts[1:], strict=False))
    return CredentialFigures(
        credential=credential,
        placed=len(starts),
        orders=len(orders),
        lower_bound_s=bound,
        span_s=span if starts else 0.0,
        efficiency=bound / span if span > 0 else 1.0,
        idle_s=idle_slot_time_s(starts, orders, submitted, scale),
        gaps_s=gaps,
    )


def idle_slot_time_s(starts: list[Start], orders: list[BenchOrder], submitted: dict[str, float], scale: Scale) -> float:
    """Time a slot stood idle while some waiting order could have used it, summed over consecutive starts.

    For consecutive starts a < b, t0 is the earliest time >= a + s at which an order still waiting (placed at
    or after b, or never, and submitted by then) had its product's window free (fewer than k of the product's
    starts in (t - W, t]); the idle time is b - t0 when positive. An order never placed counts as waiting.
    """
    placed_at = {start.request_id: start.at for start in starts}
    by_product: dict[int, list[float]] = defaultdict(list)
    for start in starts:
        by_product[start.product_id].append(start.at)
    idle = 0.0
    for earlier, later in zip(starts, starts[1:], strict=False):
        waiting = [order for order in orders if placed_at.get(order.request_id, math.inf) >= later.at]
        earliest = min(
            (_usable_from(order, earlier.at, submitted, by_product, scale) for order in waiting), default=math.inf
        )
        idle += max(0.0, later.at - earliest)
    return idle


def _usable_from(
    order: BenchOrder, after: float, submitted: dict[str, float], by_product: dict[int, list[float]], scale: Scale
) -> float:
    """The earliest time >= after + s at which `order` was submitted and its product's window had room."""
    earliest = max(after + scale.spacing_s, submitted[order.request_id])
    product_starts = by_product[order.product_id]
    seen = product_starts[: bisect.bisect_right(product_starts, after)]
    if len(seen) >= scale.product_limit:
        earliest = max(earliest, seen[-scale.product_limit] + scale.window_s)
    return earliest


def percentile(values: list[float], fraction: float) -> float:
    """The nearest-rank percentile of `values` (nan when empty)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def gap_summary(gaps: tuple[float, ...]) -> str:
    """min / median / max of consecutive start gaps, in ms."""
    if not gaps:
        return "-"
    return f"{min(gaps) * 1000:.0f} / {statistics.median(gaps) * 1000:.0f} / {max(gaps) * 1000:.0f}"
