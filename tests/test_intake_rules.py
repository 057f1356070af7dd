"""Every rule of the Place Order page, through the real API: a bad order is refused with its reason, and
nothing of it reaches the provider.

Each rule's test posts one bad order and checks the answer, the stored `rejected` record, the broker (nothing
enqueued) and the sandbox's audit (no Place Order call). The module's last test then starts a worker and sends
one good order: once it is fulfilled, the worker has drained the queue, and the audit still holds no call for
any of the refused orders.
"""

from __future__ import annotations

import uuid

import pytest
import redis
import requests

from tests.api_fixtures import auth
from tests.conftest import DEMO_CLIENT
from tests.waiting import final_state, wait_for
from worker.cli.processes import ApiServer, Sandbox
from worker.orders import states
from worker.runtime import Runtime

pytestmark = pytest.mark.timeout(60)

BAMBOO_CLIENT = DEMO_CLIENT  # accounts 555 (active), 557 (inactive) and 9555 (live) belong to this credential
REFUSED_REQUEST_IDS: list[str] = []


def line(product_id: int = 100004, quantity: int = 1, value: object = 20) -> dict:
    return {"ProductId": product_id, "Quantity": quantity, "Value": value}


def an_order(**overrides: object) -> dict:
    base = {"RequestId": str(uuid.uuid4()), "AccountId": 555, "Products": [line()]}
    return {key: value for key, value in {**base, **overrides}.items() if value is not ...}


def place_order_calls(sandbox: Sandbox) -> list[dict]:
    return [call for call in sandbox.admin("GET", "calls")["calls"] if call["endpoint"] == "place_order"]


def queued(module_env: dict[str, str]) -> int:
    client = redis.Redis.from_url(module_env["GIFTQ_REDIS_URL"])
    try:
        return client.llen(f"{module_env['GIFTQ_BROKER_KEY_PREFIX']}giftq")
    finally:
        client.close()


RULES = [
    pytest.param({"RequestId": "97018cf7-not-a-guid"}, "InvalidRequestId", id="RequestId must be a GUID"),
    pytest.param({"RequestId": ...}, "InvalidRequestId", id="RequestId or IdempotencyKey must be given"),
    pytest.param({"Products": []}, "NoProducts", id="Products must not be empty"),
    pytest.param({"Products": [line(quantity=0)]}, "InvalidQuantity", id="Quantity must be at least 1"),
    pytest.param(
        {"Products": [line(quantity=5_000), line(quantity=5_001)]},
        "CardsLimitExceeded",
        id="at most 10,000 cards (more than 500: several provider orders)",
    ),  # fmt: skip
    pytest.param({"Products": [line(product_id=424242)]}, "InvalidProductIds", id="ProductId must be in the catalog"),
    pytest.param({"Products": [line(product_id=100006, value=30)]}, "InvalidProduct", id="product must be orderable"),
    pytest.param({"Products": [line(product_id=100005, value=10)]}, "ProductIsOutOfStock", id="product in stock"),
    pytest.param({"Products": [line(value=9)]}, "InvalidDenomination", id="Value at least MinFaceValue"),
    pytest.param({"Products": [line(value="60.01")]}, "InvalidDenomination", id="Value at most MaxFaceValue"),
    pytest.param({"AccountId": 557}, "WrongAccount", id="AccountId must be active"),
    pytest.param({"AccountId": 9555}, "WrongAccount", id="AccountId of the credential's environment"),
    pytest.param({"AccountId": 655}, "WrongAccount", id="AccountId of this credential"),
    pytest.param({"AccountId": "555"}, "InvalidOrder", id="fields of the documented types"),
]


@pytest.mark.parametrize(("overrides", "reason"), RULES)
def test_an_order_breaking_a_rule_is_refused_with_its_reason_and_reaches_nothing(
    api: ApiServer, module_rt: Runtime, module_env: dict[str, str], sandbox: Sandbox, overrides: dict, reason: str
) -> None:
    # Given the sandbox's Place Order calls so far
    calls_before = len(place_order_calls(sandbox))

    # When a producer posts an order that breaks the rule
    order = an_order(**overrides)
    response = requests.post(f"{api.url}/orders", json=order, headers=auth(), timeout=10)

    # Then it is refused with the rule's reason, as JSON
    assert response.status_code == 400, response.text
    assert response.json()["reason"] == reason
    # And an order with a usable RequestId is stored rejected with that reason, so it can be looked up
    request_id = response.json()["request_id"]
    if request_id:
        REFUSED_REQUEST_IDS.append(request_id)
        record = module_rt.store.get(request_id)
        assert (record.state, record.reason) == (states.REJECTED, reason)
    # And nothing was enqueued, and the sandbox saw no Place Order call
    assert queued(module_env) == 0
    assert len(place_order_calls(sandbox)) == calls_before


def test_a_good_order_after_the_refused_ones_is_the_only_one_the_sandbox_sees(
    api: ApiServer, module_rt: Runtime, sandbox: Sandbox, api_worker: object
) -> None:
    # Given the module's worker, started only now, after the refused orders: when a good order is fulfilled
    order = an_order()
    assert requests.post(f"{api.url}/orders", json=order, headers=auth(), timeout=10).status_code == 201
    state = wait_for(lambda: final_state(module_rt, order["RequestId"]), timeout_s=30, what="a final state")
    assert state == states.FULFILLED

    # Then the sandbox saw its Place Order call, and none for any refused order of this module
    placed = {call["request_id"] for call in place_order_calls(sandbox)}
    assert order["RequestId"] in placed
    assert REFUSED_REQUEST_IDS and not placed & set(REFUSED_REQUEST_IDS)
