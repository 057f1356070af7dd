"""The providers' webhook bodies: sent when an order becomes final; they carry no cards.

Bamboo's (bamboo-api.md) carries its secretKey in the body; BHN's (bhn-api.md, ours: `{"id", "external_id",
"status"}`) comes with the shared secret in the X-BHN-Webhook-Secret header."""

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


class BhnWebhookSchema(Schema):
    """What BHN posts; giftq reads only `external_id` (the order's RequestId) and trusts nothing else in it."""

    class Meta:
        unknown = INCLUDE

    external_id = fields.String(required=True)
    id = fields.String()
    status = fields.String()


class WebhookAnswerSchema(Schema):
    """The order the webhook was about, as giftq has it now."""

    request_id = fields.String()
    state = fields.String()
