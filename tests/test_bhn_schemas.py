"""A BHN order (`"Provider": "bhn"`): every rule of BHN's Create an Order page, and giftq's own, refuses with a
reason code a machine can read, before anything is stored or sent.

The catalog rules are checked against a hand-made snapshot of the BHN sandbox's seed data.
"""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest

from schemas.bhn_order import BhnOrderRequestSchema
from worker.errors import OrderRejected
from worker.orders.catalog import CatalogSnapshot
from worker.orders.intake import canonical
from worker.providers.base import Account, Product

CATALOG = CatalogSnapshot(
    products={
        "egift-usd-25": Product("egift-usd-25", "E-gift USD", "USD", Decimal(5), Decimal(500)),
        "egift-cad": Product("egift-cad", "E-gift CAD", "CAD", Decimal(10), Decimal(200)),
        "plastic-usd": Product("plastic-usd", "Plastic USD", "USD", Decimal(10), Decimal(100), physical=True),
    },
    accounts={
        "default": Account("default", "USD", active=True, sandbox_mode=True),
        "acme-ca": Account("acme-ca", "CAD", active=True, sandbox_mode=True),
    },
    fetched_ms=0,
)
ADDRESS = {"Line1": "1 Main St", "City": "Pleasanton", "PostalCode": "94588", "Country": "US"}


def bhn_order(**overrides: object) -> dict:
    base = {
        "Provider": "bhn",
        "RequestId": str(uuid.uuid4()),
        "Products": [line()],
        "Sender": {"Email": "shop@example.com"},
        "Recipient": {"Email": "friend@example.com"},
    }
    return {key: value for key, value in {**base, **overrides}.items() if value is not ...}


def line(product_id: str = "egift-usd-25", quantity: int = 1, value: object = "25", currency: object = "USD") -> dict:
    entry = {"ProductId": product_id, "Quantity": quantity, "Value": value, "Currency": currency}
    return {key: item for key, item in entry.items() if item is not ...}


def test_a_valid_bhn_order_becomes_its_canonical_form_naming_its_provider() -> None:
    request = canonical(bhn_order(PurchaseOrderNumber="po-7", Products=[line(value="25.5")]))
    assert request["Provider"] == "bhn"
    assert request["Products"] == [{"ProductId": "egift-usd-25", "Quantity": 1, "Value": "25.50", "Currency": "USD"}]
    assert request["PurchaseOrderNumber"] == "po-7" and request["Locale"] == "en_US"
    assert len(request["RequestId"]) == 36  # BHN's external_id: at most 36 characters


@pytest.mark.parametrize(
    "sender",
    [
        {"ExternalId": "customer-1"},
        {"Email": "a@example.com"},
        {"FirstName": "Ada", "LastName": "Lovelace", "Address": ADDRESS},
    ],  # fmt: skip
    ids=["external id", "email", "name and address"],
)
def test_a_sender_known_by_any_one_of_the_three_ways_is_accepted(sender: dict) -> None:
    assert canonical(bhn_order(Sender=sender))["Sender"] == dict(sorted(sender.items()))


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"Provider": "tango"}, "InvalidProvider"),
        ({"RequestId": ...}, "InvalidRequestId"),
        ({"Products": []}, "NoProducts"),
        ({"Products": ...}, "NoProducts"),
        ({"Products": [line(quantity=0)]}, "InvalidQuantity"),
        ({"Products": [line(quantity=501)]}, "CardsLimitExceeded"),
        ({"Products": [line(value="0")]}, "InvalidDenomination"),
        ({"Products": [line(value="25.001")]}, "InvalidDenomination"),
        ({"Products": [line(currency=...)]}, "InvalidCurrency"),
        ({"Products": [line(currency="usd")]}, "InvalidCurrency"),
        ({"Products": [line(product_id="a,b")]}, "InvalidProductIds"),
        ({"Sender": ...}, "InvalidSender"),
        ({"Sender": {}}, "InvalidSender"),
        ({"Sender": {"FirstName": "Ada", "LastName": "Lovelace"}}, "InvalidSender"),  # a name needs an address
        ({"Sender": {"Email": "not-an-email"}}, "InvalidSender"),
        ({"Sender": {"ExternalId": "x" * 37}}, "InvalidSender"),
        ({"Recipient": ...}, "InvalidRecipient"),
        ({"Recipient": {"FirstName": "Bo"}}, "InvalidRecipient"),
        ({"PurchaseOrderNumber": "po:1"}, "InvalidPurchaseOrderNumber"),  # ':' joins BHN's idempotency key
        ({"PurchaseOrderNumber": ""}, "InvalidPurchaseOrderNumber"),
        ({"AccountId": "x" * 37}, "WrongAccount"),
        ({"Locale": "english"}, "InvalidLocale"),
        ({"Surprise": True}, "InvalidOrder"),
        ({"PurchaseOrderNumber": "po-1\n"}, "InvalidPurchaseOrderNumber"),  # `$` matched before a trailing newline
        ({"Products": [line(product_id="egift-usd-25\n")]}, "InvalidProductIds"),
        ({"Products": [line(currency="USD\n")]}, "InvalidCurrency"),
        ({"AccountId": "acct\n"}, "WrongAccount"),
        ({"Locale": "en_US\n"}, "InvalidLocale"),
        ({"Sender": {"FirstName": "A", "LastName": "B", "Address": ADDRESS | {"Country": "US\n"}}}, "InvalidSender"),
        ({"Provider": ["bhn"]}, "InvalidProvider"),  # not a name: refused, not a TypeError (a 500 at the API)
        ({"Provider": {"name": "bhn"}}, "InvalidProvider"),
    ],
)
def test_a_bad_bhn_order_is_refused_with_its_reason(overrides: dict, reason: str) -> None:
    with pytest.raises(OrderRejected) as refused:
        canonical(bhn_order(**overrides))
    assert refused.value.reason == reason


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"Products": [line(product_id="no-such-product")]}, "InvalidProductIds"),
        ({"Products": [line(product_id="plastic-usd", value="20")]}, "InvalidProduct"),
        ({"Products": [line(currency="EUR")]}, "InvalidCurrency"),
        ({"Products": [line(product_id="egift-cad", value="20", currency="USD")]}, "InvalidCurrency"),
        ({"Products": [line(value="4.99")]}, "InvalidDenomination"),
        ({"Products": [line(value="500.01")]}, "InvalidDenomination"),
        ({"AccountId": "someone-elses"}, "WrongAccount"),  # not an account routed to this credential
    ],
)
def test_a_bad_bhn_order_is_refused_against_the_catalog_with_its_reason(overrides: dict, reason: str) -> None:
    with pytest.raises(OrderRejected) as refused:
        canonical(bhn_order(**overrides), BhnOrderRequestSchema(catalog=CATALOG))
    assert refused.value.reason == reason


def test_a_bamboo_order_naming_its_provider_is_the_same_order_as_one_that_does_not() -> None:
    request_id = str(uuid.uuid4())
    plain = {"RequestId": request_id, "AccountId": 555, "Products": [{"ProductId": 1, "Quantity": 1, "Value": 5}]}
    assert canonical({**plain, "Provider": "bamboo"}) == canonical(plain)


def test_a_bhn_order_naming_an_account_of_its_credential_or_none_is_accepted_and_live_ones_are_not() -> None:
    assert canonical(bhn_order(AccountId="acme-ca"), BhnOrderRequestSchema(catalog=CATALOG))["AccountId"] == "acme-ca"
    assert "AccountId" not in canonical(bhn_order(), BhnOrderRequestSchema(catalog=CATALOG))
    with pytest.raises(OrderRejected, match="WrongAccount"):  # a sandbox account, for a live credential
        canonical(bhn_order(), BhnOrderRequestSchema(catalog=CATALOG, sandbox_mode=False))
