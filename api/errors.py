"""giftq's one error shape for everything the API answers: `{"status", "reason", "message", "request_id"}`.

Each status has a reason code a producer's code can branch on (README, "Over HTTP", lists them); a view
that knows better gives its own (`abort(400, reason="NoProducts", ...)`). A store Redis that cannot be
reached is 503 `StoreUnavailable` with Retry-After, from any endpoint, rather than a 500.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable

import redis
from flask import Flask, request
from flask_smorest import Api, Blueprint
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from api.examples import ERROR_EXAMPLES
from schemas.api import ErrorSchema

logger = logging.getLogger(__name__)

STORE_UNAVAILABLE = "StoreUnavailable"
STORE_RETRY_AFTER_S = 5  # a store restart or fail-over usually takes about this long
RATE_LIMITED = "RateLimited"
REASONS = {400: "BadRequest", 401: "Unauthorized", 403: "MissingScope", 404: "OrderNotFound",
           405: "MethodNotAllowed", 413: "BodyTooLarge", 422: "InvalidQuery", 429: RATE_LIMITED,
           503: STORE_UNAVAILABLE}  # fmt: skip
NO_SUCH_PATH = "NotFound"  # a 404 of the routing: no endpoint at that path (not an order that is not there)


def error_body(status: int, reason: str, message: str, request_id: str | None = None) -> dict:
    """The JSON every error answers."""
    return {"status": status, "reason": reason, "message": message, "request_id": request_id}


class GiftqApi(Api):
    """flask-smorest's Api whose every error, documented and answered, is giftq's ErrorSchema."""

    ERROR_SCHEMA = ErrorSchema

    def handle_http_exception(self, error: HTTPException):  # noqa: ANN201 - flask's (body, status, headers)
        data = getattr(error, "data", None) or {}
        reason = data.get("reason") or _default_reason(error)
        message = data.get("message") or error.description or error.name
        if "messages" in data:  # webargs' validation errors of a query
            message = json.dumps(data["messages"].get("query", data["messages"]), sort_keys=True)
        headers = dict(data.get("headers") or {})
        if error.code == 401:
            headers["WWW-Authenticate"] = 'Bearer realm="giftq"'
        if isinstance(error, MethodNotAllowed) and error.valid_methods:
            headers["Allow"] = ", ".join(error.valid_methods)
        return error_body(error.code, reason, message, data.get("request_id")), error.code, headers


def install_store_unavailable(app: Flask) -> None:
    """Answer 503 `StoreUnavailable` (with Retry-After) when the store Redis cannot be reached, on any endpoint."""

    def store_unavailable(error: redis.RedisError) -> tuple[dict, int, dict]:
        # The exception's text may name the store's address; the log says only what kind of failure it was.
        logger.warning("store Redis unreachable (%s) on %s %s", type(error).__name__, request.method, request.path)
        message = "the order store cannot be reached; try again shortly (the same order again is answered as one)"
        headers = {"Retry-After": str(STORE_RETRY_AFTER_S)}
        return error_body(503, STORE_UNAVAILABLE, message), 503, headers

    app.register_error_handler(redis.ConnectionError, store_unavailable)
    app.register_error_handler(redis.TimeoutError, store_unavailable)


def _default_reason(error: HTTPException) -> str:
    if error.code == 404 and request.routing_exception is error:
        return NO_SUCH_PATH
    return REASONS.get(error.code) or error.name.replace(" ", "")


RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait before trying again", "schema": {"type": "integer"}}}
WWW_AUTHENTICATE = {"WWW-Authenticate": {"description": 'Bearer realm="giftq"', "schema": {"type": "string"}}}
REFUSALS = {
    401: "No valid API key in `Authorization: Bearer <key>`: Unauthorized",
    403: "The API key lacks the scope this operation needs: MissingScope",
    413: "The body is larger than GIFTQ_API_MAX_BODY_BYTES, with a Content-Length or chunked: BodyTooLarge",
    414: "The request line (method, path and query) is longer than 4094 bytes, gunicorn's limit: URITooLong",
    429: "This API key made more than its GIFTQ_API_RATE_LIMIT_REQUESTS requests per window: RateLimited",
    503: "The order store cannot be reached: StoreUnavailable",
}
REFUSAL_HEADERS = {401: WWW_AUTHENTICATE, 429: RETRY_AFTER, 503: RETRY_AFTER}  # the headers HTTP asks of each
KEYED = (401, 403, 414, 429, 503)  # what any operation behind an API key may answer before its view runs


def refusals(blp: Blueprint, *statuses: int, **descriptions: str) -> Callable[[Callable], Callable]:
    """Document the shared refusals `statuses` (REFUSALS) on an operation, each with the headers HTTP requires of it
    (REFUSAL_HEADERS) and an example; `descriptions` replaces one by status, e.g. `s503="..."`."""

    def decorate(view: Callable) -> Callable:
        for status in statuses:
            description = descriptions.get(f"s{status}", REFUSALS[status])
            headers, example = REFUSAL_HEADERS.get(status), ERROR_EXAMPLES[status]
            document = blp.alt_response(status, schema=ErrorSchema, description=description, headers=headers,
                                        example=example)  # fmt: skip
            view = document(view)
        return view

    return decorate
