"""Pytest plugin for flow tests under faults: a reset sandbox on a scaled clock, giftq settings that recover in
seconds, and the checks every such test ends with (fulfilled, charged once by the ledger, no limit broken).

Enabled in `tests/conftest.py`. Fixtures: `sandbox_now` (the module's scaled sandbox, reset, its settings
restored after the test) and `fault_env` (the test's giftq environment on it).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from sandbox.ledger_audit import LedgerAudit
from tests.judging import MIN_MARGIN_ENV, assert_within_limits, provider_ids
from tests.waiting import final_state, wait_for
from worker.cli.money_audit import HOLDS_CARDS, audit_money
from worker.cli.processes import Sandbox
from worker.orders import states
from worker.runtime import Runtime


@pytest.fixture
def sandbox_now(scaled_sandbox: Sandbox) -> Iterator[Sandbox]:
    """The module's scaled sandbox, reset; settings a test changes (fulfilment delay, ...) are put back after it."""
    scaled_sandbox.admin("POST", "reset")
    settings = scaled_sandbox.admin("GET", "config")
    yield scaled_sandbox
    scaled_sandbox.admin("POST", "config", json={name: value for name, value in settings.items() if name != "seed"})


@pytest.fixture
def fault_env(giftq_env: dict[str, str], sandbox_now: Sandbox) -> dict[str, str]:
    """giftq on the scaled sandbox: 100 ms spacing, 1 s timeouts, reconcile every second (when beat runs)."""
    giftq_env.update(
        GIFTQ_BAMBOO_BASE_URL=sandbox_now.url,
        GIFTQ_BAMBOO_SPACING_MS="100",
        GIFTQ_BAMBOO_PRODUCT_WINDOW_MS="3000",
        GIFTQ_BAMBOO_TIMEOUT_S="1",
        GIFTQ_BAMBOO_LEASE_MS="3000",
        GIFTQ_VISIBILITY_TIMEOUT_S="6",
        GIFTQ_RECONCILE_INTERVAL_S="1",
        GIFTQ_STUCK_AFTER_S="3",
        **MIN_MARGIN_ENV,  # so that a timing error larger than giftq's least margin shows to the judge
    )
    return giftq_env


def an_order(product_id: int = 100001, value: str = "25", account_id: int = 555, quantity: int = 1) -> dict:
    return {
        "RequestId": str(uuid.uuid4()),
        "AccountId": account_id,
        "Products": [{"ProductId": product_id, "Quantity": quantity, "Value": value}],
    }


def checkout_calls(sandbox: Sandbox) -> list[dict]:
    return [call for call in sandbox.admin("GET", "calls")["calls"] if call["path"].endswith("/orders/checkout")]


def assert_charged_once(rt: Runtime, sandbox: Sandbox, request_ids: list[str], *, count_strays: bool = True,
                        charges: int = 1, provider: str = "bamboo") -> LedgerAudit:  # fmt: skip
    """Audit the orders against the sandbox's ledger (printed): each charged `charges` times, for the cards it
    ordered, holding exactly the cards issued. `count_strays=False` when the sandbox is shared with other tests."""
    money = audit_money(rt, sandbox.url, request_ids, count_strays=count_strays, provider=provider)
    print("\n".join(f"{measure}: {value}" for measure, value in money.rows()))
    assert money.clean, money
    assert money.charges_per_order == dict.fromkeys(request_ids, charges), "charges per order, from the ledger"
    holding = [rid for rid in request_ids if (record := rt.store.get(rid)) and record.state in HOLDS_CARDS]
    assert money.cards_checked == len(holding)
    return money


def assert_fulfilled_once(rt: Runtime, sandbox: Sandbox, request_ids: list[str], timeout_s: float = 40) -> dict:
    """Wait for the orders to be final; each fulfilled, charged once (the ledger audit), no limit broken."""
    wait_for(lambda: all(final_state(rt, rid) for rid in request_ids), timeout_s=timeout_s, what="final orders")
    assert {final_state(rt, rid) for rid in request_ids} == {states.FULFILLED}
    findings = sandbox.admin("GET", "findings")
    placed_as = provider_ids(rt, request_ids)
    assert sorted(findings["accepted_request_ids"]) == placed_as, "each provider order charged exactly once"
    assert findings["spacing_violations"] == [] and findings["window_violations"] == []
    assert_within_limits(sandbox, placed_as)
    assert_charged_once(rt, sandbox, request_ids)
    return findings
