"""The order request a producer sends for Bamboo (the default provider): the Place Order fields of Bamboo's page,
checked by every rule of that page. A BHN order (`"Provider": "bhn"`) is schemas/bhn_order.py; both share the
identity and notification fields here (OrderIdentitySchema).

Each rule's error message starts with its reason code (`NoProducts: ...`), so a refused order is stored
and answered with a machine-readable reason. Without a catalog the schema checks the order's shape (what
needs no provider data); given the provider's catalog and accounts it also checks what the page asks to
check against them, in the order Bamboo applies them: account, products, stock, face value, card limit.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, Protocol

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema

from config.notify import CELERY_NAME
from schemas.callback_url import INVALID_CALLBACK_URL, BadCallbackUrl, parse_callback_url


class Catalog(Protocol):
    """What the schema reads of a provider's catalog and accounts (`worker.orders.catalog.CatalogSnapshot`)."""

    accounts: Mapping[int, Any]
    products: Mapping[int, Any]


BAMBOO, BHN = "bamboo", "bhn"  # the providers an order may name (config.settings has the same names)
INVALID_PROVIDER = "InvalidProvider"
MAX_CARDS_PER_ORDER = 500  # in one provider order (Bamboo's ceiling; BHN's order takes no more here)
# A Bamboo producer order may ask for more: giftq splits it into provider orders of at most 500 cards each.
MAX_CARDS_PER_PRODUCER_ORDER = 10_000
MAX_FACE_VALUE = Decimal(1_000_000)  # no gift card is worth more; bounds the arithmetic before the catalog is asked
INVALID_ORDER = "InvalidOrder"
INVALID_REQUEST_ID = "InvalidRequestId"
DERIVED_UUID_VERSION = 5  # a RequestId giftq derives from an IdempotencyKey (uuid5); never one a producer sends
INVALID_NOTIFY = "InvalidNotify"
MAX_CALLBACK_URL_LENGTH = 2000  # characters; longer URLs are refused rather than cut
# The OpenAPI document's form of a CallbackUrl: a narrower one than schemas/callback_url.py takes (a host name, not
# an address literal; printable ASCII), so whatever fits it is a URL giftq parses.
CALLBACK_URL_FORM = (
    r"^https?://[A-Za-z0-9-]{1,63}(\.[A-Za-z0-9-]{1,63})*"
    r"(:(6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[1-9][0-9]{0,3}))?"
    r"([/?#][!-\[\]-~]*)?$"
)
_REASON = re.compile(r"^([A-Z][A-Za-z]+): ")
# A RequestId is written as a GUID is: 8-4-4-4-12 hex digits (braces, a "urn:uuid:" or missing hyphens are refused),
# never of version 5 (an RFC 4122 GUID whose version digit is 5): those are derived from IdempotencyKeys.
GUID_FORM = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
DERIVED_GUID_FORM = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-5[0-9a-fA-F]{3}-[89abAB]"
_NO_PRODUCTS = "NoProducts: an order needs at least one product"


class FullMatch(validate.Regexp):
    """A pattern the whole string must match, as JSON Schema's `pattern` (anchored) reads it in the OpenAPI document.

    validate.Regexp searches with `re.match`, whose `$` also matches before a trailing newline; the document's
    readers (ECMA-262 regular expressions) do not, so the server matches the whole string as they do. A pattern
    given with Python's `\\Z` is kept with `$` instead, the same anchor under a whole-string match and the only one
    ECMA-262 knows (where `\\Z` is a plain "Z").
    """

    def __init__(self, pattern: str, *, error: str | None = None):
        super().__init__(pattern.removesuffix(r"\Z") + "$" if pattern.endswith(r"\Z") else pattern, error=error)

    def __call__(self, value: str) -> str:
        if self.regex.fullmatch(value) is None:
            raise ValidationError(self._format_error(value))
        return value


class Guid(fields.UUID):
    """A GUID in its written form (GUID_FORM), loaded as a `uuid.UUID`."""

    def _deserialize(self, value: object, attr: str | None, data: object, **kwargs: object) -> object:
        if not isinstance(value, str) or re.fullmatch(GUID_FORM, value) is None:
            raise self.make_error("invalid_uuid")
        return super()._deserialize(value, attr, data, **kwargs)


def _at_most_two_decimals(value: Decimal) -> None:
    """A face value with more decimals would be rounded, and a rounded face value is not what was asked."""
    _, digits, exponent = value.as_tuple()
    if isinstance(exponent, int) and exponent < -2 and any(digits[len(digits) + exponent + 2 :]):
        raise ValidationError("InvalidDenomination: Value has at most 2 decimals")


class OrderLineSchema(Schema):
    """One product line: which product, how many cards, at what face value (at most two decimals)."""

    class Meta:
        unknown = RAISE

    ProductId = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))
    Quantity = fields.Integer(
        required=True,
        strict=True,
        validate=[
            validate.Range(min=1, error="InvalidQuantity: Quantity must be >= 1"),
            validate.Range(
                max=MAX_CARDS_PER_PRODUCER_ORDER,
                error=f"CardsLimitExceeded: at most {MAX_CARDS_PER_PRODUCER_ORDER} cards",
            ),
        ],  # fmt: skip
        metadata={
            "description": f"Cards of this line; at most {MAX_CARDS_PER_PRODUCER_ORDER} over all the order's "
            f"lines (more than {MAX_CARDS_PER_ORDER}: placed as several provider orders)"
        },  # fmt: skip
    )
    Value = fields.Decimal(
        required=True,
        allow_nan=False,
        validate=[
            # int bounds, so the OpenAPI document shows numbers (a Decimal bound would be a string there)
            validate.Range(
                min=0,
                max=MAX_FACE_VALUE,
                min_inclusive=False,
                error="InvalidDenomination: Value must be within {min}..{max}",
            ),
            _at_most_two_decimals,
        ],
        # The bounds again as numbers: apispec writes a Decimal field's bounds as strings, which is not JSON Schema.
        metadata={
            "description": "Face value in the product's currency, within its MinFaceValue..MaxFaceValue",
            "minimum": 0.01,
            "maximum": int(MAX_FACE_VALUE),
            "multipleOf": 0.01,
        },
    )


def _callback_url_shape(url: str) -> None:
    """The URL's own form (scheme, host, no userinfo); where its host resolves to is checked at intake."""
    try:
        parse_callback_url(url)
    except BadCallbackUrl as bad:
        raise ValidationError(f"{INVALID_CALLBACK_URL}: {bad}") from None


class NotifySchema(Schema):
    """How the producer wants to hear that its order is final: a Celery task of its own, a callback, or both.

    The task is sent by name to the producer's queue on giftq's broker, with one argument
    `{"request_id", "state", "summary"}`; the callback POSTs the same JSON, signed (README, "Getting the cards
    back"). Neither carries card data.
    """

    class Meta:
        unknown = RAISE

    # _task_with_queue_or_a_callback as the OpenAPI document states it (api/document.py): one of these shapes.
    DOCUMENT_VARIANTS = {
        "combine": "oneOf",
        "variants": {"Task": {"required": ["Task", "Queue"]}, "Callback": {"required": ["CallbackUrl"],
                                                                           "without": ["Task", "Queue"]}},
    }  # fmt: skip

    Task = fields.String(
        validate=FullMatch(CELERY_NAME.pattern, error=f"{INVALID_NOTIFY}: Task is a Celery task name"),
        metadata={"description": "Your Celery task's name, e.g. shop.order_done; give Queue with it"},
    )
    Queue = fields.String(
        validate=FullMatch(CELERY_NAME.pattern, error=f"{INVALID_NOTIFY}: Queue is a queue name"),
        metadata={"description": "The queue your worker consumes on giftq's broker"},
    )
    CallbackUrl = fields.String(
        validate=[
            validate.Length(max=MAX_CALLBACK_URL_LENGTH, error=f"{INVALID_NOTIFY}: CallbackUrl is too long"),
            _callback_url_shape,
        ],
        metadata={
            "description": "POSTed, signed with your callback secret, when the order is final; http or https, "
            "no user or password, to a host giftq's operator allows (public addresses unless configured)",
            "pattern": CALLBACK_URL_FORM,
        },
    )

    @validates_schema
    def _task_with_queue_or_a_callback(self, data: dict, **_: object) -> None:
        if ("Task" in data) != ("Queue" in data):
            raise ValidationError(f"{INVALID_NOTIFY}: give Task and Queue together", "Task")
        if "Task" not in data and "CallbackUrl" not in data:
            raise ValidationError(f"{INVALID_NOTIFY}: give Task and Queue, or CallbackUrl, or both", "Task")


class OrderIdentitySchema(Schema):
    """What every order has, whichever provider fills it: its identity (RequestId, a GUID, or IdempotencyKey, from
    which giftq derives the RequestId), its provider, and how its producer wants to hear that it is final."""

    class Meta:
        unknown = RAISE

    # _one_identity as the OpenAPI document states it (api/document.py): one of these shapes, so exactly one identity.
    DOCUMENT_VARIANTS = {
        "combine": "oneOf",
        "variants": {
            "ByRequestId": {"required": ["RequestId"], "without": ["IdempotencyKey"]},
            "ByIdempotencyKey": {"required": ["IdempotencyKey"], "without": ["RequestId"]},
        },
    }

    RequestId = Guid(
        error_messages={"invalid_uuid": f"{INVALID_REQUEST_ID}: RequestId must be a GUID"},
        metadata={
            "description": "The order's identity and the provider's idempotency key, a random GUID (never of "
            "version 5: those are derived from IdempotencyKeys). Give this or IdempotencyKey, not both.",
            "pattern": GUID_FORM,
            "not": {"pattern": DERIVED_GUID_FORM},
        },
    )
    IdempotencyKey = fields.String(
        validate=validate.Length(min=1, max=200, error=f"{INVALID_REQUEST_ID}: IdempotencyKey is 1 to 200 characters"),
        metadata={
            "description": "Your own key; RequestId = uuid5(giftq namespace, '<producer>:<key>'). Give this "
            "or RequestId, not both."
        },  # fmt: skip
    )
    Notify = fields.Nested(
        NotifySchema,
        metadata={"description": "Optional: be told when the order is final (a task of yours and/or a callback)"},
    )

    def __init__(self, *, catalog: Catalog | None = None, sandbox_mode: bool = True, **kwargs: object):
        super().__init__(**kwargs)
        self.catalog = catalog
        self.sandbox_mode = sandbox_mode

    @validates_schema
    def _one_identity(self, data: dict, **_: object) -> None:
        if ("RequestId" in data) == ("IdempotencyKey" in data):
            raise ValidationError(
                f"{INVALID_REQUEST_ID}: give exactly one of RequestId and IdempotencyKey", "RequestId"
            )
        if "RequestId" in data and data["RequestId"].version == DERIVED_UUID_VERSION:
            # giftq derives version-5 RequestIds from IdempotencyKeys, which anyone can compute: taking one first
            # would make another producer's order a conflict.
            raise ValidationError(
                f"{INVALID_REQUEST_ID}: version-5 GUIDs are derived from IdempotencyKeys; send a random GUID",
                "RequestId",
            )


class OrderRequestSchema(OrderIdentitySchema):
    """A producer's Bamboo order (the default provider): Bamboo's Place Order fields, by the rules of its page."""

    Provider = fields.String(
        validate=validate.OneOf([BAMBOO], error=f"{INVALID_PROVIDER}: this shape is a Bamboo order"),
        metadata={"description": "bamboo (the default when absent)"},
    )
    AccountId = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))
    Products = fields.List(
        fields.Nested(OrderLineSchema),
        required=True,
        validate=[
            validate.Length(min=1, error=_NO_PRODUCTS),
            validate.Length(max=MAX_CARDS_PER_ORDER, error=f"CardsLimitExceeded: at most {MAX_CARDS_PER_ORDER} lines"),
        ],
        error_messages={"required": _NO_PRODUCTS, "null": _NO_PRODUCTS},
    )

    @staticmethod
    def canonical_request(data: dict) -> dict:
        """The loaded order as stored (JSON-safe; without identity and Notify, which the caller adds)."""
        return {
            "AccountId": data["AccountId"],
            "Products": [
                {"ProductId": line["ProductId"], "Quantity": line["Quantity"], "Value": cents(line["Value"])}
                for line in data["Products"]
            ],
        }

    @validates_schema
    def _every_rule_in_order(self, data: dict, **_: object) -> None:
        if self.catalog is not None:
            self._check_account(data["AccountId"])
            self._check_products(data["Products"])
        check_card_count(data["Products"], MAX_CARDS_PER_PRODUCER_ORDER)

    def _check_account(self, account_id: int) -> None:
        """An active account of this credential, of the credential's environment (sandbox or live)."""
        account = self.catalog.accounts.get(account_id)
        if account is None or not account.active or account.sandbox_mode != self.sandbox_mode:
            raise ValidationError(
                f"WrongAccount: account {account_id} is not an active account of this credential's environment",
                "AccountId",
            )

    def _check_products(self, lines: list[dict]) -> None:
        """Each product in the catalog and orderable, in stock for all its cards, and Value within its range."""
        wanted: dict[int, int] = {}
        for line in lines:
            product = self.catalog.products.get(line["ProductId"])
            if product is None:
                raise ValidationError(
                    f"InvalidProductIds: product {line['ProductId']} is not in the catalog", "Products"
                )
            if product.min_face_value > product.max_face_value:
                raise ValidationError(f"InvalidProduct: product {product.id} cannot be ordered", "Products")
            wanted[product.id] = wanted.get(product.id, 0) + line["Quantity"]
        for product_id, quantity in wanted.items():
            stock = self.catalog.products[product_id].stock
            if stock is not None and stock < quantity:
                raise ValidationError(f"ProductIsOutOfStock: product {product_id} has too few cards", "Products")
        for line in lines:
            product = self.catalog.products[line["ProductId"]]
            if not product.min_face_value <= line["Value"] <= product.max_face_value:
                raise ValidationError(
                    f"InvalidDenomination: Value of product {product.id} must be within "
                    f"{product.min_face_value}..{product.max_face_value} {product.currency}",
                    "Products",
                )


def cents(value: Decimal) -> str:
    """A face value as stored and sent: two decimals."""
    return str(value.quantize(Decimal("0.01")))


def check_card_count(lines: list[dict], limit: int = MAX_CARDS_PER_ORDER) -> None:
    """At most `limit` cards in one order, over all its lines."""
    cards = sum(line["Quantity"] for line in lines)
    if cards > limit:
        raise ValidationError(f"CardsLimitExceeded: {cards} cards in one order, at most {limit}", "Products")


def reason_of(messages: object) -> str:
    """The reason code of the first rule a refused order broke (`InvalidOrder` if none names one)."""
    if isinstance(messages, str):
        match = _REASON.match(messages)
        return match.group(1) if match else ""
    items = messages.values() if isinstance(messages, dict) else messages if isinstance(messages, list) else ()
    for item in items:
        reason = reason_of(item)
        if reason:
            return reason
    return INVALID_ORDER if not isinstance(messages, str) else ""
