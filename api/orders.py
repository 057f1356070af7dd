"""`/orders` and `/health`: submit an order, follow it, list a state's orders a page at a time.

`POST /orders` goes through the same `Intake.submit` as the `giftq.submit_order` task and `giftq submit`,
its body read by `api/body.py` (bounded, Decimal numbers, no duplicate keys, Unicode text only). An order
is visible only to the producer that submitted it; page cursors are sealed to it (`api/cursors.py`).
"""

from __future__ import annotations

from flask import g, request
from flask_smorest import Blueprint, abort

from api import examples
from api.body import BodyRefused, read_json_body
from api.cursors import InvalidCursor, PageCursors
from api.errors import ERROR_EXAMPLES, KEYED, refusals
from schemas.api import (
    BEYOND_THE_DOCUMENT,
    ErrorSchema,
    HealthSchema,
    OrderListQuerySchema,
    OrderPageSchema,
    OrderViewSchema,
)
from schemas.bhn_order import BhnOrderRequestSchema
from schemas.order import OrderRequestSchema
from worker.errors import CatalogUnavailable, OrderRejected, StoreError
from worker.orders import states
from worker.orders.intake import IdempotencyConflict, Intake
from worker.orders.store import OrderRecord
from worker.runtime import Runtime

SECURITY = [{"ApiKey": []}]
_REFUSED = (
    "Refused, with its reason, and stored as rejected if it has a RequestId; a body that is not JSON "
    "(InvalidOrder), has a key twice in one object (DuplicateKey) or a lone surrogate (InvalidUnicode) "
    "is refused with nothing stored. A body this document allows is refused only by a rule it cannot state: "
    + ", ".join(BEYOND_THE_DOCUMENT["POST /orders"])
)
_NOT_A_CURSOR = (
    "A query this document does not allow (InvalidQuery), or a cursor of the documented form that this API did not "
    "hand out for this producer and state (InvalidCursor): start the listing again"
)
# OpenAPI links: what an answer's fields are for (and how schemathesis's stateful phase chains the calls).
_ORDER_LINKS = {"links": {"GetOrder": {"operationRef": "#/paths/~1orders~1{request_id}/get",
                                       "parameters": {"request_id": "$response.body#/request_id"}}}}  # fmt: skip
_PAGE_LINKS = {"links": {"NextPage": {"operationRef": "#/paths/~1orders/get", "parameters": {
    "state": "$request.query.state", "cursor": "$response.body#/next_cursor"}}}}  # fmt: skip
_UNAVAILABLE = "No catalog to validate with, nothing stored (CatalogUnavailable); or the store cannot be reached"


def orders_blueprint(rt: Runtime, intake: Intake) -> Blueprint:
    """The orders endpoints and the health check, on the runtime's store."""
    blp = Blueprint("orders", __name__, description="Gift-card orders: submit one, follow it to its end.")
    cursors = PageCursors(rt.settings.fernet_keys)

    @blp.route("/orders", methods=["POST"])
    @blp.doc(
        security=SECURITY,
        requestBody={
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "oneOf": [OrderRequestSchema, BhnOrderRequestSchema],
                        "description": "A Bamboo order (Provider absent or bamboo) or a BHN order (Provider bhn)",
                    },
                    "examples": examples.ORDER_REQUESTS,
                }
            },
        },  # fmt: skip
        responses={201: _ORDER_LINKS, 200: _ORDER_LINKS},
    )
    @blp.response(201, OrderViewSchema, description="Stored and enqueued", example=examples.ACCEPTED)
    @blp.alt_response(
        200, schema=OrderViewSchema, description="The same order was already submitted", example=examples.ACCEPTED
    )
    @blp.alt_response(400, schema=ErrorSchema, description=_REFUSED, example=ERROR_EXAMPLES[400])
    @blp.alt_response(
        409,
        schema=ErrorSchema,
        description="The RequestId is taken by another body or producer",
        example=ERROR_EXAMPLES[409],
    )
    @refusals(blp, *KEYED, 413, s503=_UNAVAILABLE)
    def submit_order() -> tuple[dict, int]:
        """Submit an order: validated against every rule, stored once per RequestId, then placed."""
        try:
            order = read_json_body(request, limit=rt.settings.api.max_body_bytes)
        except BodyRefused as refused:
            abort(refused.status, reason=refused.reason, message=str(refused))
        try:
            submission = intake.submit(order, producer=g.producer)
        except OrderRejected as rejected:
            detail = rejected.detail or rejected.reason
            abort(400, reason=rejected.reason, message=detail, request_id=rejected.request_id)
        except IdempotencyConflict as conflict:
            abort(409, reason=conflict.reason, message=str(conflict), request_id=conflict.request_id)
        except CatalogUnavailable as unavailable:
            retry_after = {"Retry-After": str(rt.settings.catalog_retry_s)}
            abort(503, reason=unavailable.reason, message=str(unavailable), headers=retry_after)
        return view_of(rt, submission.order), 201 if submission.created else 200

    @blp.route("/orders/<request_id>", methods=["GET"], parameters=[examples.REQUEST_ID_PARAMETER])
    @blp.doc(security=SECURITY)
    @blp.response(200, OrderViewSchema, example=examples.FULFILLED)
    @blp.alt_response(
        404, schema=ErrorSchema, description="No such order of this producer", example=ERROR_EXAMPLES[404]
    )
    @refusals(blp, *KEYED)
    def get_order(request_id: str) -> dict:
        """An order's state, reason and history. Never its cards."""
        record = rt.store.get(request_id)
        if record is None or record.producer != g.producer:
            abort(404, message=f"no order {request_id}")
        return view_of(rt, record)

    @blp.route("/orders", methods=["GET"])
    @blp.doc(security=SECURITY, responses={200: _PAGE_LINKS})
    @blp.arguments(OrderListQuerySchema, location="query", error_status_code=422)
    @blp.response(200, OrderPageSchema, example=examples.PAGE)
    @blp.alt_response(422, schema=ErrorSchema, description=_NOT_A_CURSOR, example=ERROR_EXAMPLES[422])
    @refusals(blp, *KEYED)
    def list_orders(query: dict) -> dict:
        """This producer's orders in one state, oldest first, a page at a time (422 InvalidCursor: start again)."""
        state, producer = query["state"], g.producer
        try:
            after = cursors.open(query["cursor"], producer=producer, state=state) if "cursor" in query else None
            page = rt.store.page(state, limit=query["limit"], after=after, producer=producer)
        except (InvalidCursor, StoreError) as error:  # a sealed position is the store's own: StoreError is a bug
            abort(422, reason=InvalidCursor.reason, message=str(error))
        next_cursor = cursors.seal(page.next_cursor, producer=producer, state=state) if page.next_cursor else None
        return {"orders": [view_of(rt, order, history=False) for order in page.orders], "next_cursor": next_cursor}

    @blp.route("/health", methods=["GET"])
    @blp.doc(security=[])
    @blp.response(200, HealthSchema, example=examples.HEALTH)
    @refusals(blp, 414, 503)
    def health() -> dict:
        """The API is up and its order store answers."""
        return {"ok": bool(rt.redis.ping())}

    return blp


def view_of(rt: Runtime, record: OrderRecord, *, history: bool = True) -> dict:
    """An order as the API shows it: what was asked and where it stands, never its cards."""
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
        "provider_orders": _provider_orders(rt, record),
    }
    if history:
        view["history"] = rt.store.history(record.request_id)
    return view


def _provider_orders(rt: Runtime, record: OrderRecord) -> list[dict]:
    """The provider order the order rides in: its pack's (coalescing), or its own once a slot was given to it
    (none for an order not yet given one, or refused)."""
    if record.parts:  # an order of more cards than one provider order takes: each part it was given
        parts = rt.store.get_many([part["id"] for part in record.parts])
        return [{"request_id": part["id"], "state": found.state if found else states.ACCEPTED, "producer_orders": 1}
                for part, found in zip(record.parts, parts, strict=True)]  # fmt: skip
    if record.pack:
        pack = rt.store.get(record.pack)
        if pack is None:  # the pack's record expired before its member's
            return [{"request_id": record.pack, "state": record.state, "producer_orders": 0}]
        return [{"request_id": pack.request_id, "state": pack.state, "producer_orders": len(pack.members)}]
    if record.state in (states.ACCEPTED, states.REJECTED):
        return []
    return [{"request_id": record.provider_request_id, "state": record.state, "producer_orders": 1}]


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
