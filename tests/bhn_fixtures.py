"""Pytest plugin for giftq against the BHN sandbox: the sandbox process, giftq's BHN settings, a BHN order.

Enabled in `tests/conftest.py`. Fixtures: `bhn_sandbox` (one BHN sandbox for the session, reset by `bhn_now`) and
`bhn_env` (the test's giftq environment with a BHN credential on it, beside the Bamboo one).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from worker.cli.processes import Sandbox

BHN_CLIENT_ID, BHN_CLIENT_SECRET = "giftq-bhn-demo", "bhn-demo-secret"
BHN_CREDENTIAL = f"bhn:{BHN_CLIENT_ID}"  # the credential's key inside giftq
BHN_PRODUCTS = (("PRD-7Q2K-AMZN-US", "25.00"), ("PRD-3H8D-TRGT-US", "50.00"), ("PRD-9X4M-STBX-US", "10.00"))
BHN_WEBHOOK_SECRET = "bhn-webhook-secret-for-tests"


@pytest.fixture(scope="session")
def bhn_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    """A BHN sandbox process with a short fulfilment delay, shared by a session."""
    server = Sandbox(tmp_path_factory.mktemp("bhn") / "bhn.log", provider="bhn", fulfil_delay_ms=300)
    yield server
    server.stop()


@pytest.fixture
def bhn_now(bhn_sandbox: Sandbox) -> Iterator[Sandbox]:
    """The session's BHN sandbox, reset; settings a test changes are put back after it."""
    bhn_sandbox.admin("POST", "reset")
    settings = bhn_sandbox.admin("GET", "config")
    yield bhn_sandbox
    bhn_sandbox.admin("POST", "config", json={name: value for name, value in settings.items() if name != "seed"})


@pytest.fixture
def bhn_env(giftq_env: dict[str, str], bhn_now: Sandbox) -> dict[str, str]:
    """giftq with a BHN credential on the BHN sandbox (beside the Bamboo one), short timeouts."""
    giftq_env.update(
        GIFTQ_BHN_BASE_URL=bhn_now.url,
        GIFTQ_BHN_CLIENT_ID=BHN_CLIENT_ID,
        GIFTQ_BHN_CLIENT_SECRET=BHN_CLIENT_SECRET,
        GIFTQ_BHN_TIMEOUT_S="2",
        GIFTQ_BHN_WEBHOOK_SECRET=BHN_WEBHOOK_SECRET,
    )
    return giftq_env


def a_bhn_order(product_id: str = BHN_PRODUCTS[0][0], value: str = BHN_PRODUCTS[0][1], quantity: int = 1) -> dict:
    return {
        "Provider": "bhn",
        "RequestId": str(uuid.uuid4()),
        "Products": [{"ProductId": product_id, "Quantity": quantity, "Value": value, "Currency": "USD"}],
        "Sender": {"Email": "orders@shop.example"},
        "Recipient": {"Email": "friend@example.com"},
    }


def bhn_charges(sandbox: Sandbox, request_ids: list[str]) -> dict[str, int]:
    """How many times BHN's ledger charged each order (its external_id is the order's RequestId)."""
    charges = sandbox.admin("GET", "ledger")["charges"]
    return {rid: sum(1 for charge in charges if charge["externalId"] == rid) for rid in request_ids}


def bhn_creates(sandbox: Sandbox, request_ids: set[str] | None = None) -> list[dict]:
    """The Create order calls the sandbox saw (of these orders, if given)."""
    calls = [call for call in sandbox.admin("GET", "calls")["calls"] if call["endpoint"] == "place_order"]
    return [call for call in calls if request_ids is None or call.get("request_id") in request_ids]
