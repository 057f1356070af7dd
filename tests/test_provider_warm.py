"""A provider client has its connection open before each Place Order (opened again if the provider closed the last),
and the call goes out on it: no handshake between a slot's claim and its send."""

from __future__ import annotations

import socket
import ssl
import threading
import time
import uuid
from collections.abc import Iterator
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from config.settings import Credential, Limits
from tests.test_callback_tls import self_signed
from tests.waiting import wait_for
from worker.cli.processes import Sandbox
from worker.errors import OrderNotFound, UnknownOutcome
from worker.providers import http
from worker.providers.bamboo import CHECKOUT_PATH, BambooClient
from worker.providers.base import OrderLine, PlaceRequest

CREDENTIAL = Credential(client_id="giftq-demo", client_secret="demo-secret", limits=Limits())


@pytest.fixture
def connects(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every TCP connection a provider client opens (to a plain-http provider), in order."""
    opened: list[str] = []
    connect = http._Connection.connect
    monkeypatch.setattr(http._Connection, "connect", lambda self: opened.append(self.host) or connect(self))
    return opened


def test_a_warmed_client_places_its_first_order_on_the_connection_it_opened(
    sandbox: Sandbox, connects: list[str]
) -> None:
    client = BambooClient(sandbox.url, CREDENTIAL, timeout_s=5)

    client.warm()
    client.warm()  # the pooled connection is open: none opened again
    assert len(connects) == 1

    line = OrderLine(product_id=100010, quantity=1, value=Decimal("25"))
    assert client.place(PlaceRequest(request_id=str(uuid.uuid4()), account_id=555, lines=(line,)))
    assert len(connects) == 1  # the first Place Order opened no connection of its own


def test_a_connection_the_provider_closed_after_its_answer_is_opened_again_before_the_next_call_not_in_it(
    sandbox: Sandbox, connects: list[str]
) -> None:
    # Given a client that has had an answer, from a provider that closes each connection after its answer
    client = BambooClient(sandbox.url, CREDENTIAL, timeout_s=5)
    unknown = str(uuid.uuid4())
    client.warm()
    with pytest.raises(OrderNotFound):
        client.get(unknown)
    pool = http._direct_pool(client._session, sandbox.url + CHECKOUT_PATH)
    pooled = [connection for connection in pool.pool.queue if connection]
    wait_for(lambda: not pooled[-1].is_connected, timeout_s=5, what="the provider closing the connection")

    # When it warms before the next call (as a placing task does before its claim), then calls
    client.warm()
    before_the_call = len(connects)
    with pytest.raises(OrderNotFound):
        client.get(unknown)

    # Then the connection was opened again by the warm, and the call opened none
    assert (before_the_call, len(connects)) == (2, 2)


def test_a_warm_while_the_provider_is_unreachable_leaves_the_failure_to_the_call() -> None:
    client = BambooClient("http://127.0.0.1:1", CREDENTIAL, timeout_s=5)
    client.warm()  # refused: no exception here
    with pytest.raises(UnknownOutcome):
        client.get(str(uuid.uuid4()))


class _ClosingHandler(BaseHTTPRequestHandler):
    """Answers `{}` and closes the connection, as a provider may after each answer."""

    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *_: object) -> None:
        pass


class _CountingServer(ThreadingHTTPServer):
    daemon_threads = True
    accepted = 0

    def get_request(self):  # type: ignore[no-untyped-def]
        accepted = super().get_request()
        self.accepted += 1
        return accepted


@pytest.fixture
def tls_provider(tmp_path: Path) -> Iterator[tuple[_CountingServer, Path]]:
    """An https provider on loopback (TLS 1.3, the default) that closes each connection after its answer, and the
    certificate to trust it by."""
    cert, key = self_signed(tmp_path, "localhost")
    server = _CountingServer(("127.0.0.1", 0), _ClosingHandler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server, cert
    server.shutdown()
    server.server_close()


def test_a_tls_connection_opened_ahead_of_a_call_is_the_one_the_call_goes_out_on(
    tls_provider: tuple[_CountingServer, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given an https provider that closes each connection after its answer, trusted by its certificate
    server, cert = tls_provider
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(cert))
    session = http.session()
    url = f"https://localhost:{server.server_port}/orders"

    # When each of 5 calls is warmed for first (its session tickets arrive after the handshake)
    for _ in range(5):
        http.open_connection(session, url, timeout_s=5)
        assert session.get(url, timeout=5).json() == {}

    # Then each call went out on the connection opened for it: 5 connections, not 10
    assert server.accepted == 5


def test_a_handshake_refused_to_the_warm_leaves_no_half_connection_for_the_call(
    tls_provider: tuple[_CountingServer, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given an https provider whose certificate the client does not trust
    server, _ = tls_provider
    (tmp_path / "other").mkdir()
    other, _ = self_signed(tmp_path / "other", "localhost")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(other))
    client = BambooClient(f"https://localhost:{server.server_port}", CREDENTIAL, timeout_s=5)

    # When it warms (the handshake is refused), then calls
    client.warm()

    # Then the call meets the refusal itself, as an unknown outcome, and sends nothing in clear
    with pytest.raises(UnknownOutcome):
        client.get(str(uuid.uuid4()))


def test_a_warm_gives_up_on_a_provider_that_never_answers_its_handshake_within_the_timeout() -> None:
    # Given a provider that takes connections but never answers (its backlog accepts them)
    silent = socket.create_server(("127.0.0.1", 0))
    try:
        client = BambooClient(f"https://localhost:{silent.getsockname()[1]}", CREDENTIAL, timeout_s=0.5)

        # When it warms, then the warm returns once its timeout has passed, well before anything else would
        started = time.monotonic()
        client.warm()
        assert time.monotonic() - started < 5
    finally:
        silent.close()
