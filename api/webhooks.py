"""Provider webhooks: `POST /webhooks/bamboo` and `POST /webhooks/bhn`, a provider's note that an order changed.

The body is never trusted for card data (it carries none anyway): a webhook whose shared secret matches
(Bamboo's secretKey in the body, BHN's X-BHN-Webhook-Secret header) only makes the order's next Get Order happen
now, under the Get Order limit like any poll, at most once per GIFTQ_WEBHOOK_POLL_INTERVAL_S.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable

from flask import request
from flask_smorest import Blueprint, abort

from api import examples
from api.errors import ERROR_EXAMPLES
from config.settings import BAMBOO, BHN
from schemas.api import ErrorSchema
from schemas.webhook import BambooWebhookSchema, BhnWebhookSchema, WebhookAnswerSchema
from worker.orders import states
from worker.runtime import Runtime

WEBHOOK_PATH = "/webhooks/bamboo"
BHN_WEBHOOK_PATH = "/webhooks/bhn"
BHN_SECRET_HEADER = "X-BHN-Webhook-Secret"
BHN_SECRET_SCHEME = "BhnWebhookSecret"  # the OpenAPI document's security scheme of that header (api/app.py)


def webhooks_blueprint(rt: Runtime, poll_now: Callable[[str], object]) -> Blueprint:
    """The webhook endpoints; `poll_now` enqueues an immediate Get Order of a placed order."""
    blp = Blueprint("webhooks", __name__, description="Provider webhooks (authenticated by their shared secret).")

    def poll_order(request_id: str, provider: str) -> tuple[dict, int]:
        """Poll a placed order of `provider` now, at most once per GIFTQ_WEBHOOK_POLL_INTERVAL_S."""
        record = rt.store.get(request_id)
        if record is None or record.provider != provider:
            abort(404, message=f"no order {request_id}")
        interval_s = rt.settings.webhook_poll_interval_s  # a replayed body polls once per interval, no more
        if record.state in (states.PLACED, states.NEEDS_ATTENTION) and rt.store.claim_extra_poll(
            record.request_id, interval_s=interval_s
        ):
            poll_now(record.request_id)
        return {"request_id": record.request_id, "state": record.state}, 202

    @blp.route(WEBHOOK_PATH, methods=["POST"])
    @blp.doc(
        security=[],  # its secretKey is in the body
        requestBody={"required": True, "content": {"application/json": {"schema": BambooWebhookSchema,
                                                                         "example": examples.BAMBOO_WEBHOOK}}},
    )  # fmt: skip
    @blp.response(
        202, WebhookAnswerSchema, description="The order's next Get Order happens now", example=examples.WEBHOOK_ANSWER
    )
    @blp.alt_response(400, schema=ErrorSchema, description="Not a webhook body", example=examples.NOT_A_WEBHOOK)
    @blp.alt_response(
        401, schema=ErrorSchema, description="The secretKey does not match", example=examples.WRONG_SECRET
    )
    @blp.alt_response(404, schema=ErrorSchema, description="No such order", example=ERROR_EXAMPLES[404])
    def bamboo_webhook() -> tuple[dict, int]:
        """Bamboo says an order is final: check the secretKey, then poll the order now."""
        body = request.get_json(silent=True)
        if not isinstance(body, dict) or not isinstance(body.get("requestId"), str):
            abort(400, reason="InvalidWebhook", message="a JSON body with requestId and secretKey is expected")
        if not _matches(body.get("secretKey"), rt.settings.bamboo.webhook_secret):
            abort(401, reason="InvalidSecretKey", message="the webhook's secretKey does not match")
        return poll_order(body["requestId"], BAMBOO)

    @blp.route(BHN_WEBHOOK_PATH, methods=["POST"])
    @blp.doc(
        security=[{BHN_SECRET_SCHEME: []}],
        requestBody={"required": True, "content": {"application/json": {"schema": BhnWebhookSchema,
                                                                         "example": examples.BHN_WEBHOOK}}},
    )  # fmt: skip
    @blp.response(
        202, WebhookAnswerSchema, description="The order's next Get order happens now", example=examples.WEBHOOK_ANSWER
    )
    @blp.alt_response(400, schema=ErrorSchema, description="Not a webhook body", example=examples.NOT_A_WEBHOOK)
    @blp.alt_response(
        401, schema=ErrorSchema, description="The shared secret does not match", example=examples.WRONG_SECRET
    )
    @blp.alt_response(404, schema=ErrorSchema, description="No such order", example=ERROR_EXAMPLES[404])
    def bhn_webhook() -> tuple[dict, int]:
        """BHN says an order changed: check the shared secret, then poll the order now."""
        if not _matches(request.headers.get(BHN_SECRET_HEADER), rt.settings.bhn.webhook_secret):
            abort(401, reason="InvalidSecretKey", message=f"the webhook's {BHN_SECRET_HEADER} does not match")
        body = request.get_json(silent=True)
        if not isinstance(body, dict) or not isinstance(body.get("external_id"), str):
            abort(400, reason="InvalidWebhook", message="a JSON body with external_id is expected")
        return poll_order(body["external_id"], BHN)

    return blp


def _matches(given: object, expected: str) -> bool:
    """Whether a webhook's secret is the configured one (an unset secret refuses every webhook)."""
    return bool(expected) and isinstance(given, str) and hmac.compare_digest(given.encode(), expected.encode())
