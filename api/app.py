"""The producers' HTTP API (flask-smorest): submit orders and follow them, on the schemas intake uses.

`POST /orders` goes through the same `Intake.submit` as the `giftq.submit_order` task and `giftq submit`.
Producers authenticate with `Authorization: Bearer <API key>`; an order is visible only to the producer
that submitted it. Every error is JSON `{"status", "reason", "message", "request_id"}` (schemas/api.py).
Served by gunicorn: `giftq api` (api/server.py).
"""

from __future__ import annotations

import json
from collections.abc import Callable

from flask import Flask, g, request
from flask_smorest import Api, Blueprint, abort
from werkzeug.exceptions import HTTPException

from api.apikeys import ApiKeys
from api.cards import cards_blueprint
from api.webhooks import WEBHOOK_PATH, webhooks_blueprint
from config.settings import SCOPE_CARDS, SCOPE_ORDERS
from schemas.api import ErrorSchema, HealthSchema, OrderListQuerySchema, OrderPageSchema, OrderViewSchema
from schemas.order import INVALID_ORDER, OrderRequestSchema
from worker.errors import CatalogUnavailable, OrderRejected, StoreError
from worker.orders.intake import IdempotencyConflict, Intake
from worker.orders.store import OrderRecord
from worker.runtime import Runtime

BEARER = "Bearer "
OPEN_PATHS = ("/health", "/openapi.json", "/swagger-ui", WEBHOOK_PATH)  # answered without an API key
SECURITY = [{"ApiKey": []}]
SCOPE_OF_BLUEPRINT = {"orders": SCOPE_ORDERS, "cards": SCOPE_CARDS}  # what a key needs for each blueprint
_REASONS = {400: "BadRequest", 401: "Unauthorized", 403: "MissingScope", 404: "OrderNotFound", 413: "BodyTooLarge",
            422: "InvalidQuery"}  # fmt: skip


class GiftqApi(Api):
    """flask-smorest's Api whose every error, documented and answered, is giftq's ErrorSchema."""

    ERROR_SCHEMA = ErrorSchema

    def handle_http_exception(self, error: HTTPException):  # noqa: ANN201 - flask's (body, status, headers)
        data = getattr(error, "data", None) or {}
        reason = data.get("reason") or _REASONS.get(error.code) or error.name.replace(" ", "")
        message = data.get("message") or error.description or error.name
        if "messages" in data:  # webargs' validation errors of a query
            message = json.dumps(data["messages"].get("query", data["messages"]), sort_keys=True)
        body = {"status": error.code, "reason": reason, "message": message, "request_id": data.get("request_id")}
        headers = data.get("headers") or {}
        if error.code == 401:
            headers["WWW-Authenticate"] = 'Bearer realm="giftq"'
        return body, error.code, headers


def create_app(rt: Runtime, intake: Intake, poll_now: Callable[[str], object] | None = None) -> Flask:
    """The API's Flask app for one runtime; `intake` is the path every order comes through.

    `poll_now` enqueues an immediate Get Order of an order (provider webhooks); without it there are none.
    """
    app = Flask("giftq.api")
    app.config.update(
        MAX_CONTENT_LENGTH=rt.settings.api.max_body_bytes,
        API_TITLE="giftq",
        API_VERSION="1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/",
        OPENAPI_JSON_PATH="openapi.json",
        OPENAPI_SWAGGER_UI_PATH="/swagger-ui",
        OPENAPI_SWAGGER_UI_URL="https://cdn.jsdelivr.net/npm/swagger-ui-dist/",
    )
    api = GiftqApi(app)
    api.spec.components.security_scheme("ApiKey", {"type": "http", "scheme": "bearer"})
    keys = ApiKeys(rt.settings.api.keys)
    app.before_request(lambda: _authenticate(keys))
    api.register_blueprint(_orders_blueprint(rt, intake))
    api.register_blueprint(cards_blueprint(rt))
    if poll_now is not None:
        api.register_blueprint(webhooks_blueprint(rt, poll_now))
    return app


def _authenticate(keys: ApiKeys) -> None:
    if request.path in OPEN_PATHS or request.path.startswith("/swagger-ui"):
        return
    header = request.headers.get("Authorization", "")
    caller = keys.caller_for(header[len(BEARER) :] if header.startswith(BEARER) else None)
    if caller is None:
        abort(401, message="give a valid API key: Authorization: Bearer <key>")
    needed = SCOPE_OF_BLUEPRINT.get(request.blueprint or "")
    if needed and needed not in caller.scopes:
        abort(403, message=f"this API key lacks the {needed!r} scope (see `giftq apikey NAME --scope {needed}`)")
    g.caller, g.producer = caller, caller.producer


def _orders_blueprint(rt: Runtime, intake: Intake) -> Blueprint:
    blp = Blueprint("orders", __name__, description="Gift-card orders: submit one, follow it to its end.")

    @blp.route("/orders", methods=["POST"])
    @blp.doc(
        security=SECURITY,
        requestBody={"required": True, "content": {"application/json": {"schema": OrderRequestSchema}}},
    )  # noqa: E501
    @blp.response(201, OrderViewSchema, description="Stored and enqueued")
    @blp.alt_response(200, schema=OrderViewSchema, description="The same order was already submitted")
    @blp.alt_response(400, schema=ErrorSchema, description="Refused, with its reason; stored as rejected")
    @blp.alt_response(409, schema=ErrorSchema, description="The RequestId is taken by another body or producer")
    @blp.alt_response(413, schema=ErrorSchema, description="The body is larger than GIFTQ_API_MAX_BODY_BYTES")
    @blp.alt_response(503, schema=ErrorSchema, description="No catalog to validate with; nothing stored")
    def submit_order() -> tuple[dict, int]:
        """Submit an order: validated against every rule, stored once per RequestId, then placed."""
        try:
            submission = intake.submit(_json_body(), producer=g.producer)
        except OrderRejected as rejected:
            detail = rejected.detail or rejected.reason
            abort(400, reason=rejected.reason, message=detail, request_id=rejected.request_id)
        except IdempotencyConflict as conflict:
            abort(409, reason=conflict.reason, message=str(conflict), request_id=conflict.request_id)
        except CatalogUnavailable as unavailable:
            retry_after = {"Retry-After": str(rt.settings.catalog_retry_s)}
            abort(503, reason=unavailable.reason, message=str(unavailable), headers=retry_after)
        return _view(rt, submission.order), 201 if submission.created else 200

    @blp.route("/orders/<request_id>", methods=["GET"])
    @blp.doc(security=SECURITY)
    @blp.response(200, OrderViewSchema)
    @blp.alt_response(404, schema=ErrorSchema, description="No such order of this producer")
    def get_order(request_id: str) -> dict:
        """An order's state, reason and history. Never its cards."""
        record = rt.store.get(request_id)
        if record is None or record.producer != g.producer:
            abort(404, message=f"no order {request_id}")
        return _view(rt, record)

    @blp.route("/orders", methods=["GET"])
    @blp.doc(security=SECURITY)
    @blp.arguments(OrderListQuerySchema, location="query", error_status_code=422)
    @blp.response(200, OrderPageSchema)
    def list_orders(query: dict) -> dict:
        """This producer's orders in one state, oldest first, a page at a time."""
        try:
            page = rt.store.page(query["state"], limit=query["limit"], after=query.get("cursor"), producer=g.producer)
        except StoreError as error:
            abort(422, message=str(error))
        return {"orders": [_view(rt, order, history=False) for order in page.orders], "next_cursor": page.next_cursor}

    @blp.route("/health", methods=["GET"])
    @blp.response(200, HealthSchema)
    def health() -> dict:
        """The API is up and its order store answers."""
        return {"ok": bool(rt.redis.ping())}

    return blp


def _json_body() -> object:
    try:
        return json.loads(request.get_data(cache=False))
    except (ValueError, RecursionError):
        abort(400, reason=INVALID_ORDER, message="the body is not JSON")


def _view(rt: Runtime, record: OrderRecord, *, history: bool = True) -> dict:
    view = {
        "request_id": record.request_id,
        "state": record.state,
        "reason": record.reason,
        "idempotency_key": record.idempotency_key,
        "created_ms": record.created_ms,
        "updated_ms": record.updated_ms,
        "order": record.request,
        "summary": record.summary,
        "cards_reads": record.cards_reads,
        "cards_erased": bool(record.cards_erased_ms),
        "notification": _notification(record),
    }
    if history:
        view["history"] = rt.store.history(record.request_id)
    return view


def _notification(record: OrderRecord) -> dict | None:
    """The producer's notification choice and how it went; None when it asked for none."""
    if not record.notify:
        return None
    status = record.notification
    return {
        "task": record.notify.get("Task"),
        "queue": record.notify.get("Queue"),
        "callback_url": record.notify.get("CallbackUrl"),
        "state": status.get("state", "pending"),
        "attempts": int(status.get("attempts", 0)),
        "last_error": status.get("last_error", ""),
        "delivered_ms": int(status["delivered_ms"]) if "delivered_ms" in status else None,
    }
