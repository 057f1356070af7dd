"""Holding a test's provider calls to the sandbox's rules with the independent judge (sandbox/judge.py).

Flow tests run giftq with its least margin (MIN_MARGIN_ENV), so that any error in its schedule larger than that
shows at the sandbox, and the judge holds the arrivals to the bare rules the sandbox enforces.
"""

from __future__ import annotations

from collections.abc import Iterable

from config.settings import MIN_MARGIN_MS
from sandbox.judge import Report, Rules, calls_from_log, judge
from worker.cli.processes import Sandbox
from worker.runtime import Runtime

MIN_MARGIN_ENV = {"GIFTQ_BAMBOO_MARGIN_MS": str(MIN_MARGIN_MS)}


def provider_ids(rt: Runtime, request_ids: Iterable[str]) -> list[str]:
    """The provider RequestIds the producer orders `request_ids` were placed under: a pack's, for an order that
    rode in one (coalescing), else its own."""
    ids = list(request_ids)
    records = rt.store.get_many(ids)
    return sorted({record.pack or record.provider_request_id or rid if record else rid
                   for rid, record in zip(ids, records, strict=True)})  # fmt: skip


def judged(sandbox: Sandbox, request_ids: Iterable[str], rt: Runtime | None = None) -> Report:
    """The judge's report on the Place Order and Get Order calls the sandbox saw for these RequestIds (with `rt`:
    producer orders' RequestIds, judged by the provider orders they were placed under)."""
    ours = set(provider_ids(rt, request_ids) if rt else request_ids)
    log = [call for call in sandbox.admin("GET", "calls")["calls"] if call["request_id"] in ours]
    return judge(calls_from_log(log), Rules.of_sandbox(sandbox.admin("GET", "config")))


def assert_within_limits(sandbox: Sandbox, request_ids: Iterable[str], rt: Runtime | None = None) -> Report:
    """Fail, naming each broken rule and the calls that broke it, unless the judge finds every limit kept (with
    `rt`, of the provider orders the producer orders `request_ids` were placed under)."""
    ours = set(provider_ids(rt, request_ids) if rt else request_ids)
    report = judged(sandbox, ours)
    assert report.ok, report.describe()
    assert report.place_orders >= len(ours), "some order never reached the provider"
    return report
