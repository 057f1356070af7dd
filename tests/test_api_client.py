"""A Python client generated from the served OpenAPI document works: it submits orders, reads them back and pages
the list, against the real gunicorn API, with a real worker filling the orders at the sandbox.

The client is made by openapi-python-client (a pinned dev dependency), as the README shows, into pytest's temporary
folder; nothing generated is kept.
"""

from __future__ import annotations

import importlib
import subprocess
import sys
import uuid
from collections.abc import Iterator
from types import ModuleType

import pytest
import requests

from tests.conftest import API_KEYS
from tests.waiting import final_state, wait_for
from worker.cli.processes import ApiServer, Child
from worker.runtime import Runtime

pytestmark = pytest.mark.timeout(120)

PACKAGE = "giftq_client"
GENERATOR_CONFIG = f"package_name_override: {PACKAGE}\npost_hooks: []\n"  # no formatter run: the code is thrown away


@pytest.fixture(scope="module")
def client_package(api: ApiServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    """The client openapi-python-client generates from the API's /openapi.json, imported from a temporary folder."""
    folder = tmp_path_factory.mktemp("client")
    document, config = folder / "openapi.json", folder / "config.yaml"
    document.write_text(requests.get(f"{api.url}/openapi.json", timeout=10).text)
    config.write_text(GENERATOR_CONFIG)
    command = [sys.executable, "-m", "openapi_python_client", "generate", "--path", str(document), "--meta", "none",
               "--output-path", str(folder / PACKAGE), "--config", str(config)]  # fmt: skip
    generated = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert generated.returncode == 0, generated.stdout + generated.stderr
    assert "Warning" not in generated.stdout, generated.stdout  # every schema became a type, every operation a call
    sys.path.insert(0, str(folder))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(folder))
        for name in [name for name in sys.modules if name == PACKAGE or name.startswith(f"{PACKAGE}.")]:
            del sys.modules[name]


def _module(name: str) -> ModuleType:
    return importlib.import_module(f"{PACKAGE}.{name}")


def test_a_generated_client_submits_orders_reads_them_back_and_pages_the_list(
    client_package: ModuleType, api: ApiServer, api_worker: Child, module_rt: Runtime
) -> None:
    models, types = _module("models"), _module("types")
    post_orders, get_order, get_orders = (_module(f"api.orders.{name}") for name in
                                          ("post_orders", "get_orders_request_id", "get_orders"))  # fmt: skip
    client = client_package.AuthenticatedClient(base_url=api.url, token=API_KEYS["shop"])
    line = models.OrderLine(product_id=100001, quantity=1, value=25)

    # Given an order by RequestId and one by IdempotencyKey, each submitted with the generated client
    by_id = models.OrderRequestByRequestId(request_id=uuid.uuid4(), account_id=655, products=[line])
    key = f"cart-{uuid.uuid4().hex[:12]}"
    by_key = models.OrderRequestByIdempotencyKey(idempotency_key=key, account_id=655, products=[line])
    submitted = [post_orders.sync_detailed(client=client, body=body) for body in (by_id, by_key)]
    assert [answer.status_code for answer in submitted] == [201, 201], [answer.content for answer in submitted]
    request_ids = [answer.parsed.request_id for answer in submitted]
    assert request_ids[0] == str(by_id.request_id) and submitted[1].parsed.idempotency_key == key

    # When the worker has filled them
    for request_id in request_ids:
        wait_for(lambda rid=request_id: final_state(module_rt, rid), timeout_s=60, what=f"order {request_id} final")

    # Then the client reads each back, fulfilled, and finds both paging through the fulfilled orders one at a time
    for request_id in request_ids:
        order = get_order.sync(client=client, request_id=request_id)
        assert isinstance(order, models.OrderView), order
        assert order.state == models.OrderViewState.FULFILLED and order.summary["cards_issued"] == 1
        assert [entry.to for entry in order.history][-1] == "fulfilled"
    listed, cursor, pages = [], types.UNSET, 0
    while pages < 100:
        page = get_orders.sync(client=client, state=models.GetOrdersState.FULFILLED, limit=1, cursor=cursor)
        assert isinstance(page, models.OrderPage), page
        listed += [order.request_id for order in page.orders]
        pages += 1
        if not page.next_cursor:
            break
        cursor = page.next_cursor
    assert set(request_ids) <= set(listed) and pages >= 2

    # And a refusal is the document's Error, with its reason
    missing = get_order.sync(client=client, request_id=str(uuid.uuid4()))
    assert isinstance(missing, models.Error) and missing.reason == "OrderNotFound"


def test_the_generated_client_reads_a_refused_key_as_the_documented_error(
    client_package: ModuleType, api: ApiServer
) -> None:
    health = _module("api.orders.get_health")
    assert health.sync(client=client_package.Client(base_url=api.url)).ok is True
    unauthenticated = _module("api.orders.get_orders").sync_detailed(
        client=client_package.AuthenticatedClient(base_url=api.url, token="gq_not-a-key"),
        state=_module("models").GetOrdersState.ACCEPTED,
    )
    assert unauthenticated.status_code == 401 and unauthenticated.parsed.reason == "Unauthorized"
    assert unauthenticated.headers["WWW-Authenticate"].startswith("Bearer")
