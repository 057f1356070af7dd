"""The producers' HTTP API as producers meet it: a real gunicorn process, API keys, JSON errors, OpenAPI."""

from __future__ import annotations

import re
import uuid

import pytest
import requests

from tests.api_fixtures import auth
from tests.waiting import cards_of, wait_for
from worker.cli.processes import ApiServer
from worker.orders import states
from worker.orders.intake import request_id_for
from worker.runtime import Runtime

pytestmark = pytest.mark.timeout(60)

API_ENV = {"GIFTQ_API_SWAGGER_UI": "true"}  # off by default (tests/test_api_docs.py); on here, from giftq's assets


def an_order(**overrides: object) -> dict:
    base = {"RequestId": str(uuid.uuid4()), "AccountId": 655,
            "Products": [{"ProductId": 100001, "Quantity": 1, "Value": 25}]}  # fmt: skip
    return {key: value for key, value in {**base, **overrides}.items() if value is not ...}


def post(api: ApiServer, body: object, producer: str = "shop", **kwargs: object) -> requests.Response:
    return requests.post(f"{api.url}/orders", json=body, headers=auth(producer), timeout=10, **kwargs)


def get(api: ApiServer, path: str, producer: str | None = "shop", **params: object) -> requests.Response:
    return requests.get(f"{api.url}{path}", headers=auth(producer) if producer else {}, params=params, timeout=10)


def assert_error(response: requests.Response, status: int, reason: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert (body["status"], body["reason"]) == (status, reason)
    assert body["message"]
    return body


def test_health_answers_without_a_key(api: ApiServer) -> None:
    assert get(api, "/health", producer=None).json() == {"ok": True}


def test_the_openapi_document_and_swagger_ui_are_served(api: ApiServer) -> None:
    document = get(api, "/openapi.json", producer=None).json()
    assert {"/orders", "/orders/{request_id}", "/health"} <= set(document["paths"])
    body_schema = document["paths"]["/orders"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body_schema["oneOf"] == [{"$ref": "#/components/schemas/OrderRequest"},
                                    {"$ref": "#/components/schemas/BhnOrderRequest"}]  # fmt: skip
    for identity in ("ByRequestId", "ByIdempotencyKey"):  # each order is one of its shapes (api/document.py)
        assert document["components"]["schemas"][f"BhnOrderRequest{identity}"]["properties"]["Provider"]["enum"] == [
            "bhn"
        ]
    assert "ApiKey" in document["components"]["securitySchemes"]
    swagger = get(api, "/swagger-ui", producer=None)
    assert swagger.status_code == 200 and "swagger" in swagger.text.lower()


def test_swagger_ui_loads_only_the_assets_giftq_serves_itself(api: ApiServer) -> None:
    page = get(api, "/swagger-ui", producer=None).text
    sources = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert sources and all(source.startswith("/swagger-ui/assets/") for source in sources), sources
    for source in sources:
        asset = get(api, source, producer=None)
        assert asset.status_code == 200 and len(asset.content) > 1000, source
    assert get(api, "/swagger-ui/assets/index.html", producer=None).status_code == 404


@pytest.mark.parametrize("header", [None, "Bearer wrong-key", "Basic c2hvcDpzZWNyZXQ=", "gq_test-key-of-shop"])
def test_a_request_without_a_valid_key_is_refused_with_a_json_401(api: ApiServer, header: str | None) -> None:
    headers = {"Authorization": header} if header else {}
    response = requests.post(f"{api.url}/orders", json=an_order(), headers=headers, timeout=10)
    assert_error(response, 401, "Unauthorized")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_a_new_order_is_201_and_the_same_body_again_is_200_with_the_same_order(
    api: ApiServer, module_rt: Runtime
) -> None:
    order = an_order()
    created = post(api, order)
    again = post(api, order)
    assert (created.status_code, again.status_code) == (201, 200)
    assert again.json() == created.json()
    view = created.json()
    assert (view["request_id"], view["state"]) == (order["RequestId"], states.ACCEPTED)
    assert view["order"]["Products"] == [{"ProductId": 100001, "Quantity": 1, "Value": "25.00"}]
    assert module_rt.store.get(order["RequestId"]).producer == "shop"


def test_the_same_request_id_with_another_body_is_a_409(api: ApiServer) -> None:
    order = an_order()
    post(api, order)
    body = assert_error(post(api, {**order, "AccountId": 656}), 409, "OrderAlreadyExists")
    assert body["request_id"] == order["RequestId"]


def test_an_idempotency_key_maps_every_retry_to_one_request_id(api: ApiServer) -> None:
    order = an_order(RequestId=..., IdempotencyKey=f"cart-{uuid.uuid4()}")
    answers = [post(api, order) for _ in range(3)]
    assert [answer.status_code for answer in answers] == [201, 200, 200]
    assert {answer.json()["request_id"] for answer in answers} == {request_id_for("shop", order["IdempotencyKey"])}
    assert answers[0].json()["idempotency_key"] == order["IdempotencyKey"]


def test_a_refused_order_is_a_400_with_its_reason_and_is_found_rejected(api: ApiServer) -> None:
    order = an_order(Products=[{"ProductId": 100005, "Quantity": 1, "Value": 10}])
    body = assert_error(post(api, order), 400, "ProductIsOutOfStock")
    assert body["request_id"] == order["RequestId"]
    found = get(api, f"/orders/{order['RequestId']}").json()
    assert (found["state"], found["reason"]) == (states.REJECTED, "ProductIsOutOfStock")
    assert [entry["to"] for entry in found["history"]] == ["accepted", "rejected"]


def test_an_order_of_another_producer_is_not_found(api: ApiServer) -> None:
    order = an_order()
    post(api, order, producer="shop")
    assert_error(get(api, f"/orders/{order['RequestId']}", producer="blog"), 404, "OrderNotFound")
    assert_error(get(api, f"/orders/{uuid.uuid4()}"), 404, "OrderNotFound")


def test_a_fulfilled_order_shows_its_history_and_counts_but_no_card_data(
    api: ApiServer, api_worker: object, module_rt: Runtime
) -> None:
    order = an_order(Products=[{"ProductId": 100002, "Quantity": 2, "Value": 20}])
    post(api, order)

    def fulfilled() -> dict | None:
        view = get(api, f"/orders/{order['RequestId']}").json()
        return view if view["state"] in states.FINAL else None

    view = wait_for(fulfilled, timeout_s=30, what="a final order")
    assert view["state"] == states.FULFILLED
    # alone, or packed with another order parked beside it (the module's other tests share its account)
    assert [entry["to"] for entry in view["history"]] in (["accepted", "submitting", "placed", "fulfilled"],
                                                          ["accepted", "packed", "fulfilled"])  # fmt: skip
    (provider_order,) = view["provider_orders"]
    assert provider_order["state"] == states.FULFILLED and provider_order["producer_orders"] >= 1
    assert view["summary"] == {"cards_issued": 2, "cards_failed": 0}
    cards = cards_of(module_rt, order["RequestId"])
    text = get(api, f"/orders/{order['RequestId']}").text
    assert not any(secret in text for card in cards for secret in (card["code"], card["pin"]))
    assert "cards" not in view


def test_orders_are_listed_by_state_a_page_at_a_time(api: ApiServer) -> None:
    # Given five orders of one producer that stay where they are (refused: 555 is not this credential's)
    mine = [an_order(AccountId=555)["RequestId"] for _ in range(5)]
    for request_id in mine:
        post(api, an_order(RequestId=request_id, AccountId=555), producer="blog")
    post(api, an_order(AccountId=555), producer="shop")

    # When the producer lists its rejected orders two a page
    seen, cursor, pages = [], None, 0
    while True:
        params = {"state": states.REJECTED, "limit": 2, **({"cursor": cursor} if cursor else {})}
        page = get(api, "/orders", producer="blog", **params).json()
        seen += [order["request_id"] for order in page["orders"]]
        pages, cursor = pages + 1, page["next_cursor"]
        if cursor is None:
            break

    # Then it saw each of its orders once, and nobody else's
    assert sorted(seen) == sorted(mine)
    assert pages >= 3


@pytest.mark.parametrize("query", [{}, {"state": "lost"}, {"state": "accepted", "limit": 0},
                                   {"state": "accepted", "cursor": "nonsense"}])  # fmt: skip
def test_a_bad_listing_query_is_a_json_422(api: ApiServer, query: dict) -> None:
    assert_error(get(api, "/orders", **query), 422, "InvalidQuery")


def test_a_body_over_the_size_limit_is_refused_with_a_json_413(api: ApiServer) -> None:
    huge = an_order(Products=[{"ProductId": 100001, "Quantity": 1, "Value": 25}] * 5000)
    assert_error(post(api, huge), 413, "BodyTooLarge")


def test_a_body_that_is_not_json_is_a_400(api: ApiServer) -> None:
    response = requests.post(f"{api.url}/orders", data="{nope", headers=auth(), timeout=10)
    assert_error(response, 400, "InvalidOrder")
    assert_error(requests.post(f"{api.url}/orders", data="[" * 20000, headers=auth(), timeout=10), 400, "InvalidOrder")
