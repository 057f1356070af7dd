"""The life of one audited provider call: arrival, authentication, limits, faults, and the answer.

Every provider handler starts with ``arrive`` and ends with ``answer`` (or a fault), so each call is in
the audit with what it was answered. Sleeping for a fault happens here, outside the state's lock.
"""

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from flask import Response, jsonify, request

from sandbox.bamboo.audit import CallRecord
from sandbox.bamboo.auth import FORBIDDEN, GRANTED, authenticate
from sandbox.bamboo.core import current_sandbox
from sandbox.bamboo.limits import wait_seconds_text
from sandbox.bamboo.seed import Client
from sandbox.common.faults import AFTER_COMMIT, ON_ARRIVAL, Fault
from sandbox.common.server import CONNECTION_FAULT, DROP, RESET

TOO_MANY_REQUESTS = "TooManyRequests"
FORBIDDEN_REASON = "Forbidden"


@dataclass
class Call:
    """A call that has arrived: its audit record, its client, and a slow_response fault if it got one."""

    record: CallRecord
    client: Client | None
    slow: Fault | None = None


def arrive(
    endpoint: str, request_id: str | None = None, products: list[dict] | None = None
) -> tuple[Call, Response | None]:
    """Log the call, authenticate it and apply the limits; return it and the refusal to send, if any.

    A call refused by auth (401, or 403 for a forbidden client) is logged without a client: it counts toward
    no limit and meets no fault.
    """
    state = current_sandbox().state
    client = authenticate(request.headers.get("Authorization"))
    access = state.access_of(client.client_id) if client else GRANTED
    if access != GRANTED:
        client = None
    details = {
        "method": request.method,
        "path": request.path,
        "endpoint": endpoint,
        "request_id": request_id,
        "products": products,
        "peer": request.remote_addr,
    }
    product_ids = [entry["ProductId"] for entry in products or [] if type(entry.get("ProductId")) is int]
    record, wait = state.arrive(details, client, product_ids)
    call = Call(record, client)
    if access == FORBIDDEN:
        response = jsonify({"message": FORBIDDEN_REASON})
        response.status_code = 403
        return call, answer(call, response, FORBIDDEN_REASON)
    if client is None:
        response = Response(status=401, headers={"WWW-Authenticate": 'Basic realm="Bamboo"'})
        return call, answer(call, response, "Unauthorized")
    if wait > 0:
        return call, answer(call, too_many_requests(wait), TOO_MANY_REQUESTS)
    return call, None


def answer(call: Call, response: Response, reason: str | None = None) -> Response:
    """Send ``response`` (late, if the call got slow_response) and note it in the audit."""
    sandbox = current_sandbox()
    if call.slow is not None:
        sandbox.closing.wait(call.slow.delay_ms / 1000)
        reason = call.slow.kind
    sandbox.state.answered(call.record, response.status_code, reason)
    return response


def refuse(call: Call, reason: str) -> Response:
    """Answer 400 ``{"message": reason}``, the provider's refusal shape."""
    response = jsonify({"message": reason})
    response.status_code = 400
    return answer(call, response, reason)


def too_many_requests(wait_s: float) -> Response:
    """Return the provider's 429: a plain text asking to wait N whole seconds."""
    return Response(wait_seconds_text(wait_s), status=429, mimetype="text/plain")


def fault_on_arrival(call: Call) -> Response | None:
    """Return the answer of an on-arrival fault, if the call gets one; slow_response only marks the call."""
    fault = current_sandbox().state.take_fault(call.record.endpoint, ON_ARRIVAL)
    if fault is not None and fault.kind == "slow_response":
        call.slow = fault
        return None
    return None if fault is None else _perform(call, fault)


def fault_after_commit(call: Call) -> Response | None:
    """Return the answer of an after-commit fault, if the call gets one."""
    fault = current_sandbox().state.take_fault(call.record.endpoint, AFTER_COMMIT)
    return None if fault is None else _perform(call, fault)


def _perform(call: Call, fault: Fault) -> Response:
    """Fail the call the way ``fault`` says; a connection that gets no answer has status None."""
    sandbox = current_sandbox()
    if fault.kind in ("error_500_before_commit", "error_500_after_commit"):
        response = jsonify({"message": "An error has occurred."})
        response.status_code = 500
        return answer(call, response, fault.kind)
    if fault.kind == "rate_limited_429":
        return answer(call, too_many_requests(fault.wait_s), fault.kind)
    if fault.kind in _ANSWERS:
        return answer(call, _ANSWERS[fault.kind](), fault.kind)
    sandbox.state.answered(call.record, None, fault.kind)
    if fault.kind == "timeout_after_commit":
        sandbox.closing.wait(fault.hold_ms / 1000)
    request.environ[CONNECTION_FAULT] = RESET if fault.kind == "connection_reset" else DROP
    return Response(status=204)


def _ok_without_request_id() -> Response:
    """A 200 whose JSON body is not the RequestId Place Order must echo."""
    return jsonify({})


def _ok_not_json() -> Response:
    """A 200 whose body is not JSON at all, as a proxy's page would be."""
    return Response("<html><body>OK</body></html>", status=200, mimetype="text/html")


def _order_not_found() -> Response:
    """Get Order's refusal for an unknown RequestId, whatever the sandbox holds (a read lagging the write)."""
    response = jsonify({"message": "OrderNotFound"})
    response.status_code = 400
    return response


_ANSWERS = {
    "ok_200_without_request_id": _ok_without_request_id,
    "ok_200_not_json": _ok_not_json,
    "order_not_found": _order_not_found,
}


def audit_products(body: Any) -> list[dict[str, Any]] | None:
    """Return the Products entries of a Place Order body for the audit, or None if there are none."""
    products = body.get("Products") if isinstance(body, dict) else None
    if not isinstance(products, list):
        return None
    keys = ("ProductId", "Quantity", "Value")
    return [{key: _plain(entry.get(key)) for key in keys} for entry in products if isinstance(entry, dict)]


def _plain(value: Any) -> Any:
    return float(value) if isinstance(value, Decimal) else value
