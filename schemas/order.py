"""The order request a producer sends: the Place Order fields of Bamboo's page.

Each rule's error message starts with its reason code (`NoProducts: ...`), so a refused
order is stored and answered with a machine-readable reason.
"""

from __future__ import annotations

import re
from decimal import Decimal

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema

MAX_CARDS_PER_ORDER = 500
INVALID_ORDER = "InvalidOrder"
_REASON = re.compile(r"^([A-Z][A-Za-z]+): ")


class OrderLineSchema(Schema):
    """One product line: which product, how many cards, at what face value."""

    class Meta:
        unknown = RAISE

    ProductId = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))
    Quantity = fields.Integer(
        required=True, strict=True, validate=validate.Range(min=1, error="InvalidQuantity: Quantity must be >= 1")
    )
    Value = fields.Decimal(
        required=True,
        places=2,
        allow_nan=False,
        validate=validate.Range(min=Decimal("0.01"), error="InvalidDenomination: Value must be positive"),
    )


class OrderRequestSchema(Schema):
    """A producer's order. RequestId is the idempotency key: the same RequestId is the same order."""

    class Meta:
        unknown = RAISE

    RequestId = fields.UUID(
        required=True, error_messages={"invalid_uuid": "InvalidRequestId: RequestId must be a GUID"}
    )
    AccountId = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))
    Products = fields.List(
        fields.Nested(OrderLineSchema),
        required=True,
        validate=validate.Length(min=1, error="NoProducts: an order needs at least one product"),
    )

    @validates_schema
    def _at_most_500_cards(self, data: dict, **_: object) -> None:
        cards = sum(line["Quantity"] for line in data.get("Products", ()))
        if cards > MAX_CARDS_PER_ORDER:
            raise ValidationError(
                f"CardsLimitExceeded: {cards} cards in one order, at most {MAX_CARDS_PER_ORDER}", "Products"
            )


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
