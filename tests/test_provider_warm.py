"""A provider client has its connection open before each Place Order (opened again if the provider closed the last),
and the call goes out on it: no handshake between a slot's claim and its send."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest

from config.settings import Credential, Limits
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
    pool = http.connection_pool(client._session, sandbox.url + CHECKOUT_PATH)
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
