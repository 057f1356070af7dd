"""The drain benchmark's results: measured from the sandbox's audit, printed as a table and one line per figure."""

from __future__ import annotations

import math
from dataclasses import dataclass

from rich.console import Console
from rich.table import Table

from bench.backlog import BenchOrder
from bench.metrics import CredentialFigures, Scale, accepted_starts, credential_figures, gap_summary, percentile
from sandbox.judge import GET_WINDOW, PRODUCT_WINDOW, SPACING, Rules, calls_from_log, judge


@dataclass
class DrainResult:
    """The figures of one strategy's drain."""

    name: str
    drained: bool
    placed: int
    orders: int
    drain_s: float  # first submit -> last accepted Place Order arrival (or -> the deadline, if not drained)
    lower_bound_s: float  # worst credential's minimum from its first start to its last
    efficiency: float  # worst credential's LB / (last start - first start)
    idle_s: float  # summed over credentials
    p99_submit_to_placed_s: float  # inf when more than 1% of the orders were never placed
    spacing_violations: int  # this and the next two: found by the judge (sandbox/judge.py) in the call log
    window_violations: int
    get_violations: int
    too_many_requests: int  # Place Order calls answered 429
    credentials: list[CredentialFigures]
    slots_missed: int | None = None  # giftq only: slots given up (bench/stack.py SLOT_MISSED)
    sandbox_violations: int = 0  # what the sandbox's own findings count (spacing + window), a cross-check
    violation_lines: tuple[str, ...] = ()  # the judge's description of each violation

    @property
    def violations(self) -> int:
        return self.spacing_violations + self.window_violations + self.get_violations

    def one_line(self) -> str:
        """The figures on one line, for logs and the issue note."""
        bound = "" if self.drained else "<="
        drain = "" if self.drained else ">"
        return (
            f"{self.name}: drained={self.drained} placed={self.placed}/{self.orders} drain_s={drain}{self.drain_s:.2f} "
            f"min_drain_s={self.lower_bound_s:.2f} efficiency={bound}{self.efficiency:.3f} "
            f"idle_slot_s={self.idle_s:.2f} "
            f"p99_submit_to_placed_s={_seconds(self.p99_submit_to_placed_s, self.drain_s)} "
            f"violations={self.violations} (spacing={self.spacing_violations} window={self.window_violations} "
            f"get={self.get_violations}; sandbox's findings={self.sandbox_violations}) "
            f"place_429s={self.too_many_requests}"
            + ("" if self.slots_missed is None else f" slots_missed={self.slots_missed}")
        )


def measure(
    name: str,
    orders: list[BenchOrder],
    submitted: dict[str, float],
    calls: list[dict],
    findings: dict,
    scale: Scale,
    *,
    rules: Rules,
    drained: bool,
    stopped_at: float,
) -> DrainResult:
    """The figures of one drain from the sandbox's call log and findings and the bench's submit times.

    Violations are the judge's, holding the call log to `rules` (the sandbox's, as Bamboo states them).
    """
    verdict = judge(calls_from_log(calls), rules)
    starts = accepted_starts(calls)
    per_credential = [
        credential_figures(
            credential,
            starts.get(credential, []),
            [order for order in orders if order.credential == credential],
            submitted,
            scale,
            stopped_at=stopped_at,
        )
        for credential in sorted({order.credential for order in orders})
    ]
    placed_at = {start.request_id: start.at for each in starts.values() for start in each}
    latencies = [placed_at.get(order.request_id, math.inf) - submitted[order.request_id] for order in orders]
    first_submit = min(submitted.values())
    return DrainResult(
        name=name,
        drained=drained,
        placed=len(placed_at),
        orders=len(orders),
        drain_s=(max(placed_at.values()) if drained else stopped_at) - first_submit,
        lower_bound_s=max(figures.lower_bound_s for figures in per_credential),
        efficiency=min(figures.efficiency for figures in per_credential),
        idle_s=sum(figures.idle_s for figures in per_credential),
        p99_submit_to_placed_s=percentile(latencies, 0.99),
        spacing_violations=verdict.count(SPACING),
        window_violations=verdict.count(PRODUCT_WINDOW),
        get_violations=verdict.count(GET_WINDOW),
        too_many_requests=sum(1 for c in calls if c["endpoint"] == "place_order" and c["status"] == 429),
        credentials=per_credential,
        sandbox_violations=len(findings["spacing_violations"]) + len(findings["window_violations"]),
        violation_lines=tuple(violation.describe() for violation in verdict.violations),
    )


def print_results(console: Console, results: list[DrainResult], scale: Scale, command: str) -> None:
    """The summary table, the per-credential table, then one line per strategy."""
    console.print(_summary_table(results))
    console.print(_credential_table(results, scale))
    console.print(f"command: {command}")
    for result in results:
        console.print(result.one_line(), soft_wrap=True, markup=False)


def _summary_table(results: list[DrainResult]) -> Table:
    table = Table(title="drain of the backlog: 4 worker processes per strategy (from the sandbox's audit)")
    for column in ("strategy", "placed", "drain time", "min drain (LB)", "efficiency", "idle slot time",
                   "p99 submit->placed", "violations (spacing+window+get)", "429s"):  # fmt: skip
        table.add_column(column, justify="left" if column == "strategy" else "right")
    for r in results:
        placed = f"{r.placed}/{r.orders}" + ("" if r.drained else " (not drained)")
        efficiency = f"{r.efficiency:.3f}" if r.drained else f"<= {r.efficiency:.3f}"
        drain = f"{r.drain_s:.2f} s" if r.drained else f"> {r.drain_s:.0f} s"
        table.add_row(
            r.name, placed, drain, f"{r.lower_bound_s:.2f} s", efficiency, f"{r.idle_s:.2f} s",
            _seconds(r.p99_submit_to_placed_s, r.drain_s) + " s",
            f"{r.violations} ({r.spacing_violations}+{r.window_violations}+{r.get_violations})",
            str(r.too_many_requests),
        )  # fmt: skip
    return table


def _credential_table(results: list[DrainResult], scale: Scale) -> Table:
    title = f"per credential: accepted starts, gaps between them (spacing {scale.spacing_s * 1000:.0f} ms)"
    table = Table(title=title)
    for column in ("strategy", "credential", "placed", "LB", "first->last start", "efficiency", "idle",
                   "gap min / median / max ms"):  # fmt: skip
        table.add_column(column, justify="left" if column in ("strategy", "credential") else "right")
    for r in results:
        for c in r.credentials:
            table.add_row(
                r.name, c.credential, f"{c.placed}/{c.orders}", f"{c.lower_bound_s:.2f} s", f"{c.span_s:.2f} s",
                f"{c.efficiency:.3f}", f"{c.idle_s:.2f} s", gap_summary(c.gaps_s),
            )  # fmt: skip
    return table


def _seconds(value: float, bound: float) -> str:
    """A duration in seconds, or "> bound" for one that never ended."""
    return f"{value:.2f}" if math.isfinite(value) else f">{bound:.0f}"
