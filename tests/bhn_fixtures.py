"""Pytest plugin for the BHN sandbox: the real server as a process (worker.cli.processes.Sandbox), over HTTP.

Fixtures: ``bhn_sandbox_process`` (one process per session, on a scaled clock), ``bhn_sandbox`` (the same, reset
and reconfigured before each test), ``bhn_api`` (a raw HTTP caller holding a token of giftq-bhn-demo) and
``bhn_webhook_receiver`` (a loopback server keeping each POST's headers and body); ``bhn_env`` (the test's giftq
environment with a BHN credential on that sandbox, beside the Bamboo one) and what giftq's BHN tests share.
"""

from __future__ import annotations

import json
import tempfile
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests

from sandbox.bhn.settings import Settings as BhnSandboxSettings
from worker.cli.processes import Sandbox

BHN_CLIENT_ID, BHN_CLIENT_SECRET = "giftq-bhn-demo", "bhn-demo-secret"
BHN_CREDENTIAL = f"bhn:{BHN_CLIENT_ID}"  # the credential's key inside giftq
BHN_PRODUCTS = (("PRD-7Q2K-AMZN-US", "25.00"), ("PRD-3H8D-TRGT-US", "50.00"), ("PRD-9X4M-STBX-US", "10.00"))
BHN_WEBHOOK_SECRET = "bhn-webhook-secret-for-tests"
TOKEN_PATH = "/realms/dev-experience/protocol/openid-connect/token"
DEMO_CLIENT = ("giftq-bhn-demo", "bhn-demo-secret")
SECOND_CLIENT = ("giftq-bhn-demo-2", "bhn-demo-secret-2")
AMAZON, TARGET, TIMS_CAD, VISA_PHYSICAL = "PRD-7Q2K-AMZN-US", "PRD-3H8D-TRGT-US", "PRD-5C1T-TIMS-CA", "PRD-2V6P-VISA-US"
# BHN's unpublished settings scaled for tests; every test starts from these.
SCALED_CONFIG: dict[str, Any] = {
    "token_lifetime_s": 3600,
    "fulfil_delay_ms": 300,
    "reject_probability": 0.0,
    "cancel_probability": 0.0,
    "partial_probability": 0.0,
    "spacing_ms": 0,
    "get_limit": 0,
    "get_window_ms": 60_000,
    "webhook_url": "",
    # the sandbox's own, which a test may change (test_webhooks.py) and a reset keeps
    "webhook_secret": BhnSandboxSettings.webhook_secret,
    "webhook_secret_header": BhnSandboxSettings.webhook_secret_header,
}


def egift_line(product_id: str = AMAZON, quantity: int = 1, amount: str = "25.00", currency: str = "USD") -> dict:
    """An order item of an e-gift product, with the recipient email such a line needs."""
    return {"product_id": product_id, "quantity": quantity, "amount": {"amount": amount, "currency": currency},
            "recipient": {"email": "friend@example.com"}}  # fmt: skip


def order_body(*lines: dict, external_id: str | None = None, **fields: Any) -> dict:
    """A valid create-order body: a fresh external_id, a sender by email, one e-gift line unless given lines."""
    body = {"external_id": external_id or uuid.uuid4().hex[:20], "sender": {"email": "shop@example.com"},
            "order_items": list(lines) or [egift_line()]}  # fmt: skip
    return body | fields


class BhnApi:
    """Raw HTTP calls to the BHN sandbox as one client, with its own token."""

    def __init__(self, url: str, client: tuple[str, str] = DEMO_CLIENT) -> None:
        self.url = url
        self.client = client
        self.token = self.fetch_token().json()["access_token"]

    def fetch_token(self, **form: str) -> requests.Response:
        """POST the identity endpoint with this client's credentials (``form`` overrides fields)."""
        fields = {"grant_type": "client_credentials", "client_id": self.client[0], "client_secret": self.client[1],
                  "scope": "openid"} | form  # fmt: skip
        return requests.post(self.url + TOKEN_PATH, data=fields, timeout=5)

    def headers(self, **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", **extra}

    def create(self, body: Any, timeout: float = 5.0, **headers: str) -> requests.Response:
        """POST /v3/orders; ``headers`` by name, e.g. ``**{"X-Synchronous": "true"}``."""
        return requests.post(self.url + "/v3/orders", json=body, headers=self.headers(**headers), timeout=timeout)

    def get(self, path: str, timeout: float = 5.0, **params: str) -> requests.Response:
        return requests.get(self.url + path, params=params, headers=self.headers(), timeout=timeout)

    def list_orders(self, external_id: str, **params: str) -> list[dict]:
        response = self.get("/v3/orders", external_id=external_id, **params)
        response.raise_for_status()
        return response.json()["orders"]


class WebhookReceiver:
    """A loopback HTTP server keeping every POST's headers and JSON body."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], dict]] = []
        received = self.received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                length = int(self.headers.get("Content-Length", 0))
                received.append((dict(self.headers), json.loads(self.rfile.read(length))))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_port}/bhn-webhook"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture(scope="session")
def bhn_sandbox_process() -> Iterator[Sandbox]:
    """One BHN sandbox process for the session."""
    with tempfile.TemporaryDirectory(prefix="giftq-bhn-") as logs:
        sandbox = Sandbox(Path(logs) / "bhn.log", provider="bhn", seed=4321, fulfil_delay_ms=300)
        try:
            yield sandbox
        finally:
            sandbox.stop()


@pytest.fixture
def bhn_sandbox(bhn_sandbox_process: Sandbox) -> Sandbox:
    """The session's BHN sandbox, reset to the seeded world and SCALED_CONFIG before the test."""
    bhn_sandbox_process.admin("POST", "reset")
    bhn_sandbox_process.admin("POST", "config", json=SCALED_CONFIG)
    return bhn_sandbox_process


@pytest.fixture
def bhn_api(bhn_sandbox: Sandbox) -> BhnApi:
    """Raw calls as giftq-bhn-demo, with a fresh token."""
    return BhnApi(bhn_sandbox.url)


@pytest.fixture
def bhn_webhook_receiver() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver()
    yield receiver
    receiver.close()


@pytest.fixture
def bhn_env(giftq_env: dict[str, str], bhn_sandbox: Sandbox) -> dict[str, str]:
    """giftq with a BHN credential on the BHN sandbox (beside the Bamboo one), short timeouts."""
    giftq_env.update(
        GIFTQ_BHN_BASE_URL=bhn_sandbox.url,
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
