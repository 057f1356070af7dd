"""Pytest plugin for the Bamboo sandbox: start the real server as a process, talk to it over HTTP.

Enable with ``pytest_plugins = ["tests.sandbox_fixtures"]`` in ``tests/conftest.py``. Fixtures:
``bamboo_sandbox_process`` (one process per session, on a scaled clock), ``bamboo_sandbox`` (the same,
reset and reconfigured before each test), ``bamboo_client`` (a paced giftq-demo client) and
``webhook_receiver`` (a loopback HTTP server that keeps what it is sent). ``start_sandbox`` starts a
sandbox with any options, for tests and demos that need their own.
"""

import json
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.waiting import wait_for
from worker.cli.processes import Sandbox

REPO_ROOT = Path(__file__).resolve().parents[1]
ADMIN_TIMEOUT_S = 5.0

# Bamboo's limits scaled down so tests run in seconds: spacing 50 ms, 6 orders of a product per 3 s, ...
SCALED_CONFIG: dict[str, Any] = {
    "spacing_ms": 50,
    "product_limit": 6,
    "product_window_ms": 3000,
    "get_order_limit": 120,
    "get_order_window_ms": 3000,
    "fulfil_delay_ms": 300,
    "fail_probability": 0.0,
    "partial_probability": 0.0,
    "webhook_timeout_ms": 2000,
}
SCALED_SEED = 1234


class SandboxProcess:
    """A running sandbox process: its base URL and the admin endpoints as methods."""

    def __init__(self, url: str, process: subprocess.Popen) -> None:
        self.url = url
        self.process = process

    def admin_get(self, path: str) -> Any:
        """GET an admin path (e.g. ``/_sandbox/calls``) and return its JSON body."""
        return _json_or_raise(requests.get(self.url + path, timeout=ADMIN_TIMEOUT_S))

    def admin_post(self, path: str, json: Any = None) -> Any:
        """POST ``json`` to an admin path and return its JSON body."""
        return _json_or_raise(requests.post(self.url + path, json=json, timeout=ADMIN_TIMEOUT_S))

    def admin_delete(self, path: str) -> Any:
        """DELETE an admin path and return its JSON body."""
        return _json_or_raise(requests.delete(self.url + path, timeout=ADMIN_TIMEOUT_S))

    def findings(self) -> dict[str, Any]:
        """Return ``/_sandbox/findings``."""
        return self.admin_get("/_sandbox/findings")

    def calls(self) -> list[dict[str, Any]]:
        """Return the audited calls of ``/_sandbox/calls``."""
        return self.admin_get("/_sandbox/calls")["calls"]

    def reset(self) -> None:
        """Clear calls, orders and faults and restore balances."""
        self.admin_post("/_sandbox/reset")

    def configure(self, **settings: Any) -> dict[str, Any]:
        """Change limits, delays or probabilities (names as in ``GET /_sandbox/config``)."""
        return self.admin_post("/_sandbox/config", settings)

    def schedule_fault(self, kind: str, endpoint: str = "place_order", **options: Any) -> dict[str, Any]:
        """Schedule a fault; give ``count=`` or ``probability=`` and any of its options."""
        return self.admin_post("/_sandbox/faults", {"kind": kind, "endpoint": endpoint, **options})

    def order(self, request_id: str) -> dict[str, Any]:
        """Return the full order, cards included, from ``/_sandbox/orders/{requestId}``."""
        return self.admin_get(f"/_sandbox/orders/{request_id}")


def _json_or_raise(response: requests.Response) -> Any:
    response.raise_for_status()
    return response.json()


@contextmanager
def start_sandbox(port: int | None = None, **options: Any) -> Iterator[SandboxProcess]:
    """Start ``python -m sandbox bamboo`` with ``options`` (``spacing_ms=50`` -> ``--spacing-ms=50``).

    giftq's own starter (worker.cli.processes.Sandbox) picks a free port unless given one, waits for
    ``/_sandbox/health`` with a deadline, and stops the process afterwards.
    """
    with tempfile.TemporaryDirectory(prefix="giftq-sandbox-") as logs:
        server = Sandbox(Path(logs) / "sandbox.log", port=port, **options)
        try:
            yield SandboxProcess(server.url, server.process)
        finally:
            server.stop()


class BambooClient:
    """A minimal Bamboo API client for tests, pacing its Place Order calls like a well-behaved caller."""

    def __init__(self, url: str, client_id: str = "giftq-demo", secret: str = "demo-secret", pace_ms: int = 100):
        self.url = url
        self.auth = (client_id, secret)
        self.pace_s = pace_ms / 1000
        self._last_place_order = 0.0

    def get(self, path: str, timeout: float = 5.0, **params: Any) -> requests.Response:
        """GET a provider path (``/api/...``) with this client's Basic auth."""
        return requests.get(self.url + path, params=params, auth=self.auth, timeout=timeout)

    def post(self, path: str, json: Any, timeout: float = 5.0) -> requests.Response:
        """POST JSON to a provider path with this client's Basic auth."""
        return requests.post(self.url + path, json=json, auth=self.auth, timeout=timeout)

    def place_order(
        self,
        products: list[dict[str, Any]],
        account_id: int = 555,
        request_id: str | None = None,
        paced: bool = True,
        timeout: float = 5.0,
    ) -> requests.Response:
        """POST checkout; waits until ``pace_ms`` after this client's previous Place Order unless unpaced."""
        if paced:
            time.sleep(max(0.0, self._last_place_order + self.pace_s - time.monotonic()))
        self._last_place_order = time.monotonic()
        body = {"RequestId": request_id or str(uuid.uuid4()), "AccountId": account_id, "Products": products}
        url = f"{self.url}/api/integration/v1.0/orders/checkout"
        return requests.post(url, json=body, auth=self.auth, timeout=timeout)

    def get_order(self, request_id: str, timeout: float = 5.0) -> requests.Response:
        """GET an order by RequestId."""
        return self.get(f"/api/integration/v1.0/orders/{request_id}", timeout=timeout)

    def wait_for_final_order(self, request_id: str, timeout_s: float = 5.0) -> dict[str, Any]:
        """Poll Get Order until the order is final; return its body."""

        def final() -> dict[str, Any] | None:
            body = self.get_order(request_id).json()
            return body if body["status"] in ("Succeeded", "Failed", "PartialFailed") else None

        return wait_for(final, timeout_s=timeout_s, what=f"order {request_id} final", every_s=0.03)


class WebhookReceiver:
    """A loopback HTTP server keeping every JSON body POSTed to it."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        received = self.bodies

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                length = int(self.headers.get("Content-Length", 0))
                received.append(json.loads(self.rfile.read(length)))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_port}/bamboo-webhook"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop serving."""
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture(scope="session")
def bamboo_sandbox_process() -> Iterator[SandboxProcess]:
    """One sandbox process for the session, on the scaled clock of SCALED_CONFIG."""
    options = {name: value for name, value in SCALED_CONFIG.items() if not name.endswith("probability")}
    with start_sandbox(seed=SCALED_SEED, **options) as process:
        yield process


@pytest.fixture
def bamboo_sandbox(bamboo_sandbox_process: SandboxProcess) -> SandboxProcess:
    """The session's sandbox, reset to the seeded world and the scaled config before the test."""
    bamboo_sandbox_process.reset()
    bamboo_sandbox_process.configure(**SCALED_CONFIG)
    return bamboo_sandbox_process


@pytest.fixture
def bamboo_client(bamboo_sandbox: SandboxProcess) -> BambooClient:
    """A paced client for giftq-demo (accounts 555 USD, 556 EUR) on the reset sandbox."""
    return BambooClient(bamboo_sandbox.url)


@pytest.fixture
def webhook_receiver() -> Iterator[WebhookReceiver]:
    """A loopback webhook receiver, stopped after the test."""
    receiver = WebhookReceiver()
    yield receiver
    receiver.close()
