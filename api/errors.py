"""giftq's one error shape for everything the API answers: `{"status", "reason", "message", "request_id"}`.

Each status has a reason code a producer's code can branch on; a view that knows better gives its own
(`abort(400, reason="NoProducts", ...)`).
"""

from __future__ import annotations

import json

from flask import request
from flask_smorest import Api
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from schemas.api import ErrorSchema

RATE_LIMITED = "RateLimited"
NO_SUCH_PATH = "NotFound"  # a 404 of the routing: no endpoint at that path (not an order that is not there)
REASONS = {400: "BadRequest", 401: "Unauthorized", 403: "MissingScope", 404: "OrderNotFound",
           405: "MethodNotAllowed", 413: "BodyTooLarge", 422: "InvalidQuery", 429: RATE_LIMITED}  # fmt: skip


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


def _default_reason(error: HTTPException) -> str:
    if error.code == 404 and request.routing_exception is error:
        return NO_SUCH_PATH
    return REASONS.get(error.code) or error.name.replace(" ", "")
