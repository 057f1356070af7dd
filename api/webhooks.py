"""Provider webhooks: `POST /webhooks/bamboo`, Bamboo's note that an order became final.

The body is never trusted for card data (it carries none anyway): a webhook whose secretKey matches
only makes the order's next Get Order happen now, under the Get Order limit like any poll.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable

from flask import request
from flask_smorest import Blueprint, abort

from schemas.api import ErrorSchema
from schemas.webhook import BambooWebhookSchema, WebhookAnswerSchema
from worker.orders import states
from worker.runtime import Runtime

WEBHOOK_PATH = "/webhooks/bamboo"


def webhooks_blueprint(rt: Runtime, poll_now: Callable[[str], object]) -> Blueprint:
    """The webhook endpoint; `poll_now` enqueues an immediate Get Order of a placed order."""
    blp = Blueprint("webhooks", __name__, description="Provider webhooks (authenticated by their secretKey).")

    @blp.route(WEBHOOK_PATH, methods=["POST"])
    @blp.doc(
        security=[],
        requestBody={"required": True, "content": {"application/json": {"schema": BambooWebhookSchema}}},
    )
    @blp.response(202, WebhookAnswerSchema, description="The order's next Get Order happens now")
    @blp.alt_response(400, schema=ErrorSchema, description="Not a webhook body")
    @blp.alt_response(401, schema=ErrorSchema, description="The secretKey does not match")
    @blp.alt_response(404, schema=ErrorSchema, description="No such order")
    def bamboo_webhook() -> tuple[dict, int]:
        """Bamboo says an order is final: check the secretKey, then poll the order now."""
        body = request.get_json(silent=True)
        if not isinstance(body, dict) or not isinstance(body.get("requestId"), str):
            abort(400, reason="InvalidWebhook", message="a JSON body with requestId and secretKey is expected")
        expected = rt.settings.bamboo.webhook_secret
        given = body.get("secretKey")
        if not expected or not isinstance(given, str) or not hmac.compare_digest(given.encode(), expected.encode()):
            abort(401, reason="InvalidSecretKey", message="the webhook's secretKey does not match")
        record = rt.store.get(body["requestId"])
        if record is None:
            abort(404, message=f"no order {body['requestId']}")
        interval_s = rt.settings.webhook_poll_interval_s  # a replayed body polls once per interval, no more
        if record.state in (states.PLACED, states.NEEDS_ATTENTION) and rt.store.claim_extra_poll(
            record.request_id, interval_s=interval_s
        ):
            poll_now(record.request_id)
        return {"request_id": record.request_id, "state": record.state}, 202

    return blp
