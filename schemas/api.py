"""What the producers' HTTP API answers: orders as they stand (never card data), pages of them, errors.

The order request itself is `schemas.order.OrderRequestSchema`, the same for `POST /orders` and the
`giftq.submit_order` task.
"""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from schemas.order import FullMatch
from worker.orders import states

# A page cursor is opaque (api/cursors.py): a store position sealed with AES-GCM, in unpadded base64url. The position
# is "<ms entered, 13 digits>:<RequestId, 36>", so a cursor is nonce 12 + position 50 + tag 16 = 78 bytes: 104
# characters. Only one this API handed out opens; any other of this form is 422 InvalidCursor.
CURSOR_FORM = r"^[A-Za-z0-9_-]{104}$"

# What a request the OpenAPI document allows may still be refused for: rules no document can state, because they
# depend on the provider's catalog and accounts, the operator's settings, a cursor's seal, or (for the card count)
# a sum over an order's lines. Everything else the server refuses, the document refuses too.
BEYOND_THE_DOCUMENT = {
    "POST /orders": (
        "WrongAccount", "InvalidProductIds", "InvalidProduct", "ProductIsOutOfStock", "InvalidDenomination",
        "InvalidCurrency", "CardsLimitExceeded", "NoCredential", "AccountNotAllowed", "NoCallbackSecret",
        "InvalidCallbackUrl", "NotifyTaskNotAllowed",
    ),
    "GET /orders": ("InvalidCursor",),
}  # fmt: skip


class ErrorSchema(Schema):
    """Every error the API answers: a machine-readable reason code and a sentence for people."""

    status = fields.Integer(required=True, metadata={"description": "The HTTP status"})
    reason = fields.String(required=True, metadata={"description": "e.g. NoProducts, OrderAlreadyExists"})
    message = fields.String(required=True)
    request_id = fields.String(allow_none=True, metadata={"description": "The order's RequestId, when it has one"})


class HistoryEntrySchema(Schema):
    """One move of an order's state."""

    at_ms = fields.Integer(required=True, metadata={"description": "When (ms since the epoch, UTC)"})
    from_ = fields.String(data_key="from", attribute="from", allow_none=True)
    to = fields.String(required=True)
    note = fields.String(metadata={"description": "A reason code, when the move has one"})


class NotificationSchema(Schema):
    """How telling the producer that the order is final goes: the choice made at submit and its state."""

    task = fields.String(metadata={"description": "The producer's task name, if it asked for one"})
    queue = fields.String()
    callback_url = fields.String()
    state = fields.String(
        required=True, validate=validate.OneOf(("pending", "delivered", "failing", "abandoned")),
        metadata={"description": "pending until sent; failing while retried; delivered when acknowledged"},
    )  # fmt: skip
    attempts = fields.Integer(required=True)
    last_error = fields.String(metadata={"description": "Why the last failed attempt failed (a status, an error kind)"})
    delivered_ms = fields.Integer(allow_none=True)


class CardSchema(Schema):
    """One issued card, decrypted."""

    product_id = fields.Raw(required=True, metadata={"description": "Bamboo: a number; BHN: its opaque product id",
                                                     "oneOf": [{"type": "integer"}, {"type": "string"}]})  # fmt: skip
    serial_number = fields.String(required=True)
    status = fields.String(required=True)
    expiration = fields.String(required=True)
    code = fields.String(required=True, metadata={"description": "Empty for a BHN e-gift: see egift_url"})
    pin = fields.String(required=True)
    egift_url = fields.String(
        dump_default="",
        metadata={"description": "BHN: the e-gift URL that shows the card(s) to their owner (BHN asks partners not "
                  "to store card numbers and PINs, and to show this URL instead); empty for Bamboo"},
    )  # fmt: skip
    quantity = fields.Integer(
        dump_default=1,
        metadata={"description": "How many cards this entry stands for (a BHN e-gift URL shows all of its line's)"},
    )


class CardsSchema(Schema):
    """The cards of a final order (empty when none was issued)."""

    request_id = fields.String(required=True)
    state = fields.String(required=True, validate=validate.OneOf(states.ALL))
    cards = fields.List(fields.Nested(CardSchema), required=True)


class ProviderOrderSchema(Schema):
    """A provider order an order rode in: the RequestId giftq sent the provider, and where that order stands."""

    request_id = fields.String(required=True, metadata={"description": "The RequestId (BHN: external_id) sent"})
    state = fields.String(required=True, validate=validate.OneOf(states.ALL))
    producer_orders = fields.Integer(
        required=True, metadata={"description": "How many producer orders it carries (more than 1: coalesced)"}
    )


class OrderViewSchema(Schema):
    """An order as stored: what was asked, where it stands and how it got there. No card data."""

    request_id = fields.String(required=True)
    state = fields.String(required=True, validate=validate.OneOf(states.ALL))
    reason = fields.String(metadata={"description": "Why it was rejected, failed or needs attention; else empty"})
    idempotency_key = fields.String(metadata={"description": "The producer's key, when it gave one"})
    created_ms = fields.Integer(required=True)
    updated_ms = fields.Integer(required=True)
    order = fields.Dict(required=True, metadata={"description": "The order as accepted: AccountId and Products"})
    summary = fields.Dict(metadata={"description": "Counts of cards issued and failed, once final"})
    history = fields.List(fields.Nested(HistoryEntrySchema))
    cards_reads = fields.Integer(metadata={"description": "How many times the cards were read (GET .../cards)"})
    cards_erased = fields.Boolean(metadata={"description": "The cards were erased after retention"})
    notification = fields.Nested(NotificationSchema, allow_none=True,
                                 metadata={"description": "null when no notification was asked for"})  # fmt: skip
    provider_orders = fields.List(
        fields.Nested(ProviderOrderSchema),
        metadata={
            "description": "The provider order(s) it rides in, once it was given a slot (empty before, and "
            "when refused)"
        },
    )


class OrderListItemSchema(OrderViewSchema):
    """An order as a page lists it: without its history (GET /orders/{request_id} has it)."""

    class Meta:
        exclude = ("history",)


class OrderPageSchema(Schema):
    """One page of a state's orders, oldest first; pass `next_cursor` as `cursor` for the next page."""

    orders = fields.List(fields.Nested(OrderListItemSchema), required=True)
    next_cursor = fields.String(
        allow_none=True, required=True, metadata={"description": "null on the last page", "pattern": CURSOR_FORM}
    )


class OrderListQuerySchema(Schema):
    """The query of `GET /orders`."""

    state = fields.String(required=True, validate=validate.OneOf(states.ALL), metadata={"example": states.FULFILLED})
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=100), metadata={"example": 50})
    cursor = fields.String(
        validate=FullMatch(CURSOR_FORM, error="not a cursor: pass back a next_cursor as it was given"),
        metadata={
            "description": "A next_cursor of this producer's listing of this state, as it was given. Only "
            "one this API handed out for this producer and state opens: any other is 422 InvalidCursor"
        },
    )


class HealthSchema(Schema):
    """The API process is up and reaches its store."""

    ok = fields.Boolean(required=True)
