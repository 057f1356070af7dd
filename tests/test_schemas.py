"""The order request schema: every rule refuses with a reason code a machine can read.

The catalog rules are checked here against a hand-made snapshot (the sandbox's seed data); the same
rules against the real sandbox, with nothing reaching it, are in test_intake_rules.py.
"""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest

from schemas.order import OrderRequestSchema
from worker.errors import OrderRejected
from worker.orders.catalog import CatalogSnapshot
from worker.orders.intake import canonical, request_id_for
from worker.providers.base import Account, Product

CATALOG = CatalogSnapshot(
    products={
        439685: Product(439685, "Amazon.de", "EUR", Decimal(5), Decimal(500)),
        100005: Product(100005, "Xbox US", "USD", Decimal(5), Decimal(100), stock=0),
        100006: Product(100006, "Google Play US", "USD", Decimal(50), Decimal(20)),
        100008: Product(100008, "Few left", "USD", Decimal(5), Decimal(100), stock=3),
    },
    accounts={
        555: Account(555, "USD", active=True, sandbox_mode=True),
        557: Account(557, "USD", active=False, sandbox_mode=True),
        9555: Account(9555, "USD", active=True, sandbox_mode=False),
    },
    fetched_ms=0,
)


def order(**overrides: object) -> dict:
    base = {
        "RequestId": str(uuid.uuid4()),
        "AccountId": 555,
        "Products": [{"ProductId": 439685, "Quantity": 2, "Value": 10}],
    }
    return {key: value for key, value in {**base, **overrides}.items() if value is not ...}


def line(product_id: int = 439685, quantity: int = 1, value: object = 10) -> dict:
    return {"ProductId": product_id, "Quantity": quantity, "Value": value}


def test_a_valid_order_becomes_its_canonical_form() -> None:
    request = canonical(order(Products=[line(value="10.5", quantity=2)]))
    assert request["Products"] == [{"ProductId": 439685, "Quantity": 2, "Value": "10.50"}]


def test_an_idempotency_key_gives_the_same_request_id_for_the_same_producer_only() -> None:
    first = canonical(order(RequestId=..., IdempotencyKey="cart-42"), producer="shop")
    again = canonical(order(RequestId=..., IdempotencyKey="cart-42"), producer="shop")
    other = canonical(order(RequestId=..., IdempotencyKey="cart-42"), producer="blog")
    assert first["RequestId"] == again["RequestId"] == request_id_for("shop", "cart-42")
    assert other["RequestId"] != first["RequestId"]
    assert uuid.UUID(first["RequestId"]).version == 5


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"RequestId": "not-a-guid"}, "InvalidRequestId"),
        ({"RequestId": "{97018cf7-98f5-40fc-a142-711d43a72e17}"}, "InvalidRequestId"),  # a GUID as written only
        ({"RequestId": "97018cf798f540fca142711d43a72e17"}, "InvalidRequestId"),
        ({"RequestId": "97018cf7-98f5-40fc-a142-711d43a72e17\n"}, "InvalidRequestId"),
        ({"RequestId": str(uuid.uuid5(uuid.NAMESPACE_URL, "x"))}, "InvalidRequestId"),  # derived GUIDs are giftq's
        ({"RequestId": ...}, "InvalidRequestId"),
        ({"IdempotencyKey": "both-given"}, "InvalidRequestId"),
        ({"RequestId": ..., "IdempotencyKey": ""}, "InvalidRequestId"),
        ({"Products": []}, "NoProducts"),
        ({"Products": ...}, "NoProducts"),
        ({"Products": None}, "NoProducts"),
        ({"Products": [line(quantity=10_001)]}, "CardsLimitExceeded"),  # a producer order: at most 10,000 cards
        ({"Products": [line(quantity=5_000)] * 2 + [line(quantity=1)]}, "CardsLimitExceeded"),
        ({"Products": [line(quantity=0)]}, "InvalidQuantity"),
        ({"Products": [line(value=-5)]}, "InvalidDenomination"),
        ({"Products": [line(value="10.001")]}, "InvalidDenomination"),
        ({"Products": [line(value="1e30")]}, "InvalidDenomination"),
        ({"AccountId": "555"}, "InvalidOrder"),
        ({"Surprise": True}, "InvalidOrder"),
        ({"Notify": {"Task": "shop.order_done\n", "Queue": "shop"}}, "InvalidNotify"),  # `$` would let it through
        ({"Notify": {"Task": "shop.order_done", "Queue": "shop\n"}}, "InvalidNotify"),
    ],
)
def test_a_bad_order_is_refused_with_its_reason(overrides: dict, reason: str) -> None:
    with pytest.raises(OrderRejected) as refused:
        canonical(order(**overrides))
    assert refused.value.reason == reason


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"AccountId": 12345}, "WrongAccount"),  # not an account of this credential
        ({"AccountId": 557}, "WrongAccount"),  # inactive
        ({"AccountId": 9555}, "WrongAccount"),  # a live account, with a sandbox credential
        ({"Products": [line(product_id=999999)]}, "InvalidProductIds"),
        ({"Products": [line(product_id=100006, value=30)]}, "InvalidProduct"),
        ({"Products": [line(product_id=100005)]}, "ProductIsOutOfStock"),
        ({"Products": [line(product_id=100008, quantity=2)] * 2}, "ProductIsOutOfStock"),
        ({"Products": [line(value="4.99")]}, "InvalidDenomination"),
        ({"Products": [line(value="500.01")]}, "InvalidDenomination"),
    ],
)
def test_a_bad_order_is_refused_against_the_catalog_with_its_reason(overrides: dict, reason: str) -> None:
    with pytest.raises(OrderRejected) as refused:
        canonical(order(**overrides), OrderRequestSchema(catalog=CATALOG, sandbox_mode=True))
    assert refused.value.reason == reason


def test_a_live_credential_may_charge_only_live_accounts() -> None:
    live = OrderRequestSchema(catalog=CATALOG, sandbox_mode=False)
    assert canonical(order(AccountId=9555), live)["AccountId"] == 9555
    with pytest.raises(OrderRejected, match="WrongAccount"):
        canonical(order(AccountId=555), live)


def test_the_face_value_range_is_inclusive() -> None:
    schema = OrderRequestSchema(catalog=CATALOG, sandbox_mode=True)
    for value in ("5", "500.00"):
        assert canonical(order(Products=[line(value=value)]), schema)


def test_a_refusal_keeps_the_request_id_when_it_is_a_guid() -> None:
    request_id = str(uuid.uuid4())
    with pytest.raises(OrderRejected) as refused:
        canonical(order(RequestId=request_id, Products=[]))
    assert refused.value.request_id == request_id
