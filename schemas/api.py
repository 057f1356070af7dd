"""What the producers' HTTP API answers: orders as they stand (never card data), pages of them, errors.

The order request itself is `schemas.order.OrderRequestSchema`, the same for `POST /orders` and the
`giftq.submit_order` task.
"""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from worker import states


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


class OrderViewSchema(Schema):
    """An order as stored: what was asked, where it stands and how it got there. No card data."""

    request_id = fields.String(required=True)
    state = fields.String(required=True, validate=validate.OneOf(states.ALL))
    reason = fields.String(metadata={"description": "Why it was rejected or failed; empty otherwise"})
    idempotency_key = fields.String(metadata={"description": "The producer's key, when it gave one"})
    created_ms = fields.Integer(required=True)
    updated_ms = fields.Integer(required=True)
    order = fields.Dict(required=True, metadata={"description": "The order as accepted: AccountId and Products"})
    summary = fields.Dict(metadata={"description": "Counts of cards issued and failed, once final"})
    history = fields.List(fields.Nested(HistoryEntrySchema))


class OrderListItemSchema(OrderViewSchema):
    """An order as a page lists it: without its history (GET /orders/{request_id} has it)."""

    class Meta:
        exclude = ("history",)


class OrderPageSchema(Schema):
    """One page of a state's orders, oldest first; pass `next_cursor` as `cursor` for the next page."""

    orders = fields.List(fields.Nested(OrderListItemSchema), required=True)
    next_cursor = fields.String(allow_none=True, required=True)


class OrderListQuerySchema(Schema):
    """The query of `GET /orders`."""

    state = fields.String(required=True, validate=validate.OneOf(states.ALL))
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=100))
    cursor = fields.String(validate=validate.Length(max=200))


class HealthSchema(Schema):
    """The API process is up and reaches its store."""

    ok = fields.Boolean(required=True)
