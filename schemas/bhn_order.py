"""A producer's Blackhawk Network order (`"Provider": "bhn"`), checked by the rules of BHN's Create an Order page.

giftq fills the page's fields from it: `external_id` is the order's RequestId (a GUID: 36 characters, the page's
limit), made once and sent on every retry; `purchase_order_number` is the order's PurchaseOrderNumber or the
credential's configured one, the same on every retry (BHN's idempotency key is `external_id:po`); each line's
face value goes with its currency. The sender needs, by the page's rule, at least one of an id of the
producer's own, an email, or a person's name with an address; the e-gift's recipient needs an email (giftq
orders e-gifts only: a physical card needs shipping, which giftq does not offer). Without a catalog the schema
checks the shape; given the credential's catalog it also checks each product, its face value and currency.
"""

from __future__ import annotations

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema

from schemas.order import (
    BHN,
    INVALID_PROVIDER,
    MAX_CARDS_PER_ORDER,
    FullMatch,
    OrderIdentitySchema,
    OrderLineSchema,
    cents,
    check_card_count,
)

_NO_PRODUCTS = "NoProducts: an order needs at least one product"
_ID = r"^[A-Za-z0-9_.-]+$"  # BHN ids giftq passes on (products, accounts, purchase orders): no separators
INVALID_SENDER = "InvalidSender"
DEFAULT_ACCOUNT = "default"  # an order naming no AccountId charges the credential's own account configuration
INVALID_RECIPIENT = "InvalidRecipient"


def _text(max_length: int, reason: str, *, required: bool = False, pattern: str | None = None) -> fields.String:
    rules = [validate.Length(min=1, max=max_length, error=f"{reason}: 1 to {max_length} characters")]
    if pattern:
        rules.append(FullMatch(pattern, error=f"{reason}: letters, digits, '_', '.' and '-' only"))
    return fields.String(required=required, validate=rules, error_messages={"required": f"{reason}: required"})


class _Strict(Schema):
    class Meta:
        unknown = RAISE


class AddressSchema(_Strict):
    """A postal address: the sender's, when a name and address identify them."""

    Line1 = _text(100, INVALID_SENDER, required=True)
    Line2 = _text(100, INVALID_SENDER)
    City = _text(60, INVALID_SENDER, required=True)
    Region = _text(60, INVALID_SENDER)
    PostalCode = _text(20, INVALID_SENDER, required=True)
    Country = fields.String(
        required=True,
        validate=FullMatch(r"^[A-Z]{2}$", error=f"{INVALID_SENDER}: Country is an ISO 3166 alpha-2 code"),
    )


class SenderSchema(_Strict):
    """Who sends the cards: at least one of ExternalId, Email, or FirstName + LastName + Address (BHN's rule)."""

    # _one_way_to_know_the_sender as the OpenAPI document states it (api/document.py): any of these shapes.
    DOCUMENT_VARIANTS = {
        "combine": "anyOf",
        "variants": {"ById": {"required": ["ExternalId"]}, "ByEmail": {"required": ["Email"]},
                     "ByName": {"required": ["FirstName", "LastName", "Address"]}},
    }  # fmt: skip

    ExternalId = _text(36, INVALID_SENDER)
    Email = fields.Email(error_messages={"invalid": f"{INVALID_SENDER}: Email is not an email address"})
    FirstName = _text(60, INVALID_SENDER)
    LastName = _text(60, INVALID_SENDER)
    Address = fields.Nested(AddressSchema)

    @validates_schema
    def _one_way_to_know_the_sender(self, data: dict, **_: object) -> None:
        named = all(name in data for name in ("FirstName", "LastName", "Address"))
        if "ExternalId" not in data and "Email" not in data and not named:
            raise ValidationError(f"{INVALID_SENDER}: give ExternalId, Email, or FirstName, LastName and Address")


class RecipientSchema(_Strict):
    """Who receives the e-gift: its email (where BHN sends it), and a name if the producer has one."""

    Email = fields.Email(
        required=True,
        error_messages={"required": f"{INVALID_RECIPIENT}: an e-gift needs the recipient's Email",
                        "invalid": f"{INVALID_RECIPIENT}: Email is not an email address"},
    )  # fmt: skip
    FirstName = _text(60, INVALID_RECIPIENT)
    LastName = _text(60, INVALID_RECIPIENT)


class BhnOrderLineSchema(OrderLineSchema):
    """One line: a product of BHN's catalog (an opaque id), how many cards, the face value and its currency."""

    ProductId = _text(64, "InvalidProductIds", required=True, pattern=_ID)
    Currency = fields.String(
        required=True,
        validate=FullMatch(r"^[A-Z]{3}$", error="InvalidCurrency: Currency is an ISO 4217 code"),
        error_messages={"required": "InvalidCurrency: every line names its currency"},
    )


class BhnOrderRequestSchema(OrderIdentitySchema):
    """A producer's BHN order; see the module's docstring for how it becomes BHN's Create order."""

    Provider = fields.String(
        required=True, validate=validate.OneOf([BHN], error=f"{INVALID_PROVIDER}: this shape is a BHN order")
    )
    AccountId = _text(36, "WrongAccount", pattern=_ID)  # BHN's client account; routes the order to a credential
    PurchaseOrderNumber = _text(64, "InvalidPurchaseOrderNumber", pattern=_ID)
    Locale = fields.String(
        validate=FullMatch(r"^[a-z]{2}_[A-Z]{2}$", error="InvalidLocale: Locale is like en_US"),
        metadata={"description": "en_US when absent"},
    )
    Products = fields.List(
        fields.Nested(BhnOrderLineSchema),
        required=True,
        validate=[
            validate.Length(min=1, error=_NO_PRODUCTS),
            validate.Length(max=MAX_CARDS_PER_ORDER, error=f"CardsLimitExceeded: at most {MAX_CARDS_PER_ORDER} lines"),
        ],
        error_messages={"required": _NO_PRODUCTS, "null": _NO_PRODUCTS},
    )
    Sender = fields.Nested(
        SenderSchema, required=True, error_messages={"required": f"{INVALID_SENDER}: every BHN order names its sender"}
    )
    Recipient = fields.Nested(
        RecipientSchema, required=True, error_messages={"required": f"{INVALID_RECIPIENT}: an e-gift needs a recipient"}
    )

    @staticmethod
    def canonical_request(data: dict) -> dict:
        """The loaded order as stored (JSON-safe; without identity and Notify, which the caller adds)."""
        request = {
            "Provider": BHN,
            "Locale": data.get("Locale", "en_US"),
            "Products": [
                {
                    "ProductId": line["ProductId"],
                    "Quantity": line["Quantity"],
                    "Value": cents(line["Value"]),
                    "Currency": line["Currency"],
                }
                for line in data["Products"]
            ],  # fmt: skip
            "Sender": _sorted(data["Sender"]),
            "Recipient": _sorted(data["Recipient"]),
        }
        for optional in ("AccountId", "PurchaseOrderNumber"):
            if optional in data:
                request[optional] = data[optional]
        return request

    @validates_schema
    def _every_rule_in_order(self, data: dict, **_: object) -> None:
        if self.catalog is not None:
            self._check_account(data.get("AccountId", DEFAULT_ACCOUNT))
            self._check_products(data["Products"])
        check_card_count(data["Products"])

    def _check_account(self, account_id: str) -> None:
        """An account of this credential (its own, "default", or one routed to it), of its environment."""
        account = self.catalog.accounts.get(account_id)
        if account is None or not account.active or account.sandbox_mode != self.sandbox_mode:
            raise ValidationError(f"WrongAccount: account {account_id} is not an account of this credential's "
                                  "environment", "AccountId")  # fmt: skip

    def _check_products(self, lines: list[dict]) -> None:
        """Each product in the catalog, an e-gift, and each face value within its range, in its currency."""
        for line in lines:
            product = self.catalog.products.get(line["ProductId"])
            if product is None:
                raise ValidationError(f"InvalidProductIds: product {line['ProductId']} is not in the catalog",
                                      "Products")  # fmt: skip
            if product.physical:
                raise ValidationError(f"InvalidProduct: product {product.id} is a physical card; giftq orders "
                                      "e-gifts only", "Products")  # fmt: skip
            if line["Currency"] != product.currency:
                raise ValidationError(f"InvalidCurrency: product {product.id} is sold in {product.currency}",
                                      "Products")  # fmt: skip
            if not product.min_face_value <= line["Value"] <= product.max_face_value:
                raise ValidationError(
                    f"InvalidDenomination: Value of product {product.id} must be within "
                    f"{product.min_face_value}..{product.max_face_value} {product.currency}",
                    "Products",
                )


def _sorted(value: dict) -> dict:
    return {key: _sorted(item) if isinstance(item, dict) else item for key, item in sorted(value.items())}
