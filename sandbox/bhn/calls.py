"""The life of one audited BHN call: arrival, bearer authentication, the optional limits, faults, the answer.

Every API handler starts with ``arrive`` and ends with ``answer`` (or a fault), so each call is in the audit
with what it was answered. Sleeping for a fault happens here, outside the state's lock.
"""

import math
from dataclasses import dataclass
from typing import Any

from flask import Response, jsonify, request

from sandbox.bhn.core import current_sandbox
from sandbox.common.calllog import CallRecord
from sandbox.common.faults import AFTER_COMMIT, ON_ARRIVAL, Fault
from sandbox.common.server import CONNECTION_FAULT, DROP, RESET

RATE_LIMITED = "rateLimit.exceeded"


@dataclass
class Call:
    """A call that has arrived: its audit record, its client, and a slow_response fault if it got one."""

    record: CallRecord
    client_id: str | None
    slow: Fault | None = None


def arrive(endpoint: str, request_id: str | None = None, products: list[dict] | None = None
           ) -> tuple[Call, Response | None]:  # fmt: skip
    """Log the call, check its bearer token and apply the limits; return it and the refusal to send, if any.

    A call refused with 401 is logged without a client: it counts toward no limit and meets no fault.
    """
    state = current_sandbox().state
    client_id, problem = state.authenticate(request.headers.get("Authorization"))
    details = {"method": request.method, "path": request.path, "endpoint": endpoint, "request_id": request_id,
               "products": products, "peer": request.remote_addr}  # fmt: skip
    record, wait_s = state.arrive(details, client_id)
    call = Call(record, client_id)
    if client_id is None:
        response = errors(401, problem, "a valid bearer token is required")
        response.headers["WWW-Authenticate"] = 'Bearer realm="bhn"'
        return call, answer(call, response, problem)
    if wait_s > 0:
        return call, answer(call, too_many_requests(wait_s), RATE_LIMITED)
    return call, None


def errors(status: int, code: str, message: str) -> Response:
    """Return BHN's error shape with one error."""
    return error_list(status, [{"errorCode": code, "message": message}])


def error_list(status: int, listed: list[dict[str, str]]) -> Response:
    """Return BHN's error shape ``{"errors": [{"errorCode", "message"}]}``."""
    response = jsonify({"errors": listed})
    response.status_code = status
    return response


def answer(call: Call, response: Response, reason: str | None = None) -> Response:
    """Send ``response`` (late, if the call got slow_response) and note it in the audit."""
    sandbox = current_sandbox()
    if call.slow is not None:
        sandbox.closing.wait(call.slow.delay_ms / 1000)
        reason = call.slow.kind
    sandbox.state.answered(call.record, response.status_code, reason)
    return response


def too_many_requests(wait_s: float) -> Response:
    """Return a 429 with ``Retry-After`` in whole seconds, at least one."""
    response = errors(429, RATE_LIMITED, "too many requests")
    response.headers["Retry-After"] = str(max(1, math.ceil(wait_s)))
    return response


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
        return answer(call, errors(500, "internal.error", "an unexpected error occurred"), fault.kind)
    if fault.kind == "rate_limited_429":
        return answer(call, too_many_requests(fault.wait_s), fault.kind)
    if fault.kind == "ok_200_without_request_id":
        return answer(call, jsonify({}), fault.kind)
    if fault.kind == "ok_200_not_json":
        return answer(call, Response("<html><body>OK</body></html>", status=200, mimetype="text/html"), fault.kind)
    if fault.kind == "order_not_found":
        not_found = jsonify({"orders": []}) if call.record.path.endswith("/orders") else _not_found()
        return answer(call, not_found, fault.kind)
    sandbox.state.answered(call.record, None, fault.kind)
    if fault.kind == "timeout_after_commit":
        sandbox.closing.wait(fault.hold_ms / 1000)
    request.environ[CONNECTION_FAULT] = RESET if fault.kind == "connection_reset" else DROP
    return Response(status=204)


def _not_found() -> Response:
    return errors(404, "order.notFound", "no such order")


def audit_items(body: Any) -> list[dict[str, Any]] | None:
    """Return the order items of a create-order body for the audit (no recipient), or None if there are none."""
    items = body.get("order_items") if isinstance(body, dict) else None
    if not isinstance(items, list):
        return None
    return [{key: item.get(key) for key in ("product_id", "quantity", "amount")} for item in items
            if isinstance(item, dict)]  # fmt: skip
