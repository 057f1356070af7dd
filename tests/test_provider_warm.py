"""A provider client opens its connection before the first Place Order, and that call reuses it."""

from __future__ import annotations

import uuid
from decimal import Decimal

from config.settings import Credential, Limits
from worker.cli.processes import Sandbox
from worker.providers.bamboo import CHECKOUT_PATH, BambooClient
from worker.providers.base import OrderLine, PlaceRequest


def test_a_warmed_client_places_its_first_order_on_the_connection_it_opened(sandbox: Sandbox) -> None:
    credential = Credential(client_id="giftq-demo", client_secret="demo-secret", limits=Limits())
    client = BambooClient(sandbox.url, credential, timeout_s=5)
    url = sandbox.url + CHECKOUT_PATH
    pool = client._session.get_adapter(url).poolmanager.connection_from_url(url)
    assert pool.num_connections == 0

    client.warm()
    client.warm()  # once per client
    assert pool.num_connections == 1 and pool.pool.qsize() >= 1

    line = OrderLine(product_id=100010, quantity=1, value=Decimal("25"))
    assert client.place(PlaceRequest(request_id=str(uuid.uuid4()), account_id=555, lines=(line,)))
    assert pool.num_connections == 1  # the first Place Order opened no connection of its own
