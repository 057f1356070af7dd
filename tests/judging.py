"""Holding a test's provider calls to the sandbox's rules with the independent judge (sandbox/judge.py).

Flow tests run giftq with its least margin (MIN_MARGIN_ENV), so that any error in its schedule larger than that
shows at the sandbox, and the judge holds the arrivals to the bare rules the sandbox enforces.
"""

from __future__ import annotations

from collections.abc import Iterable

from config.settings import MIN_MARGIN_MS
from sandbox.judge import Report, Rules, calls_from_log, judge
from worker.cli.processes import Sandbox

MIN_MARGIN_ENV = {"GIFTQ_BAMBOO_MARGIN_MS": str(MIN_MARGIN_MS)}


def judged(sandbox: Sandbox, request_ids: Iterable[str]) -> Report:
    """The judge's report on the Place Order and Get Order calls the sandbox saw for these RequestIds."""
    ours = set(request_ids)
    log = [call for call in sandbox.admin("GET", "calls")["calls"] if call["request_id"] in ours]
    return judge(calls_from_log(log), Rules.of_sandbox(sandbox.admin("GET", "config")))


def assert_within_limits(sandbox: Sandbox, request_ids: Iterable[str]) -> Report:
    """Fail, naming each broken rule and the calls that broke it, unless the judge finds every limit kept."""
    ours = set(request_ids)
    report = judged(sandbox, ours)
    assert report.ok, report.describe()
    assert report.place_orders >= len(ours), "some order never reached the provider"
    return report
