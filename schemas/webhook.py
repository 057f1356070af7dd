"""Bamboo's webhook body (bamboo-api.md): sent when an order becomes final; it carries no cards."""

from __future__ import annotations

from marshmallow import INCLUDE, Schema, fields


class BambooWebhookSchema(Schema):
    """What Bamboo posts; giftq reads only `requestId` and `secretKey` and trusts nothing else in it."""

    class Meta:
        unknown = INCLUDE

    requestId = fields.String(required=True)  # noqa: N815 - Bamboo's field names
    secretKey = fields.String(required=True)  # noqa: N815
    orderId = fields.Integer()  # noqa: N815
    status = fields.String()
    totalCards = fields.Integer()  # noqa: N815
    createdOn = fields.String()  # noqa: N815
    completedOn = fields.String()  # noqa: N815


class WebhookAnswerSchema(Schema):
    """The order the webhook was about, as giftq has it now."""

    request_id = fields.String()
    state = fields.String()
