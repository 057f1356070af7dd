"""The BHN APIs, one handler per endpoint of bhn-api.md: the identity endpoint, the catalog, create order, get
order, list orders, and the e-gift page a completed line's URL points to.

Each API handler: log the arrival (401 without a valid bearer token, 429 over an optional limit), let a
scheduled fault act, do what the provider does, and answer in the provider's shape.
"""

import json
import time
from html import escape
from typing import Any

from flask import Blueprint, Response, jsonify, request

from sandbox.bhn.calls import answer, arrive, audit_items, error_list, errors, fault_after_commit, fault_on_arrival
from sandbox.bhn.core import current_sandbox
from sandbox.bhn.orders import Order
from sandbox.bhn.rules import read_key, read_order
from sandbox.bhn.seed import PRODUCTS

TOKEN_PATH = "/realms/dev-experience/protocol/openid-connect/token"

provider = Blueprint("bhn_provider", __name__)


@provider.post(TOKEN_PATH)
def token() -> tuple[Response, int] | Response:
    """OAuth2 client credentials: a bearer token for a known client with its secret and ``scope=openid``."""
    state = current_sandbox().state
    form = request.form
    client_id = form.get("client_id", "")
    if form.get("grant_type") != "client_credentials":
        return _identity_error(400, "unsupported_grant_type", "only client_credentials is supported")
    if "openid" not in form.get("scope", "openid").split():
        return _identity_error(400, "invalid_scope", "the scope must include openid")
    value = state.issue_token(client_id, form.get("client_secret", ""))
    if value is None:
        return _identity_error(401, "invalid_client", "invalid client credentials")
    record, _ = state.arrive(_token_call(), client_id)
    state.answered(record, 200)
    lifetime_s = state.settings.token_lifetime_s
    return jsonify({"access_token": value, "expires_in": lifetime_s, "token_type": "Bearer"})


def _token_call() -> dict[str, str | None]:
    """The call log's details of a token request."""
    return {"method": "POST", "path": request.path, "endpoint": "token", "peer": request.remote_addr}


def _identity_error(status: int, error: str, description: str) -> tuple[Response, int]:
    state = current_sandbox().state
    record, _ = state.arrive(_token_call(), None)
    state.answered(record, status, error)
    return jsonify({"error": error, "error_description": description}), status


@provider.get("/v1/catalogs/default")
def catalog() -> Response:
    """The default catalog: every product with its opaque productId, currency, value range and type."""
    call, refusal = arrive("catalog")
    if refusal:
        return refusal
    return answer(call, jsonify({"products": [product.as_json() for product in PRODUCTS]}))


@provider.post("/v3/orders")
def create_order() -> Response:
    """Create order: 201 with a new order, 200 with the ORIGINAL order of a known key, 400 with every broken rule."""
    body = _json_body()
    external_id = body.get("external_id") if isinstance(body, dict) else None
    call, refusal = arrive("place_order", external_id if isinstance(external_id, str) else None, audit_items(body))
    if refusal:
        return refusal
    faulted = fault_on_arrival(call)
    if faulted:
        return faulted
    sandbox = current_sandbox()
    settings = sandbox.state.settings
    reading = read_key(body, settings)
    if not reading.errors:
        key = f"{reading.external_id}:{reading.purchase_order_number}"
        original = sandbox.state.find_by_key(call.client_id, key)
        if original is not None:
            return answer(call, jsonify(original.as_json(time.time())), "duplicate")
    if isinstance(body, dict):
        read_order(body, request.headers, settings, reading)
    if reading.errors:
        return answer(call, error_list(400, reading.errors), reading.errors[0]["errorCode"])
    order, created = sandbox.state.create(call.client_id, reading, request.host_url.rstrip("/"))
    if not created:
        return answer(call, jsonify(order.as_json(time.time())), "duplicate")
    sandbox.webhooks.schedule(order)
    faulted = fault_after_commit(call)
    if faulted:
        return faulted
    _wait_for_final(order, reading.wait_time_ms)
    response = jsonify(order.as_json(time.time()))
    response.status_code = 201
    return answer(call, response)


def _wait_for_final(order: Order, wait_time_ms: int) -> None:
    """Hold the answer up to ``wait_time_ms`` while the order is not final (the wait-time header)."""
    wait_s = min(wait_time_ms / 1000, order.final_at - time.time())
    if wait_s > 0:
        current_sandbox().closing.wait(wait_s)


@provider.get("/v3/orders/<order_id>")
def get_order(order_id: str) -> Response:
    """Get order by BHN id: the order as it stands now; 404 ``order.notFound`` if it is not this client's."""
    call, refusal = arrive("get_order", order_id)
    if refusal:
        return refusal
    faulted = fault_on_arrival(call)
    if faulted:
        return faulted
    order = current_sandbox().state.get_order(call.client_id, order_id)
    faulted = fault_after_commit(call)
    if faulted:
        return faulted
    if order is None:
        return answer(call, errors(404, "order.notFound", "no such order"), "order.notFound")
    return answer(call, jsonify(order.as_json(time.time())))


@provider.get("/v3/orders")
def list_orders() -> Response:
    """List orders by ``external_id`` (and ``purchase_order_number``): ``{"orders": [...]}``, empty if none."""
    external_id = request.args.get("external_id")
    call, refusal = arrive("get_order", external_id)
    if refusal:
        return refusal
    faulted = fault_on_arrival(call)
    if faulted:
        return faulted
    if not external_id:
        return answer(call, errors(400, "externalId.required", "external_id is required"), "externalId.required")
    po = request.args.get("purchase_order_number") or None
    orders = current_sandbox().state.list_orders(call.client_id, external_id, po)
    faulted = fault_after_commit(call)
    if faulted:
        return faulted
    now = time.time()
    return answer(call, jsonify({"orders": [order.as_json(now) for order in orders]}))


@provider.get("/egift/<page_token>")
def egift_page(page_token: str) -> Response | tuple[str, int]:
    """The e-gift page of a COMPLETED line: a dummy card (the sandbox's, never a real one). Not audited."""
    found = current_sandbox().state.egift(page_token)
    if found is None:
        return "<html><body>No such e-gift.</body></html>", 404
    order, line = found
    html = (f"<html><body><h1>{escape(line.line.product.name)}</h1><p>{line.line.quantity} x {line.line.amount:.2f} "
            f"{line.line.currency}</p><p>Card SANDBOX-{line.egift_token[:8].upper()}, PIN 0000</p>"
            f"<p>Order {order.order_id}</p></body></html>")  # fmt: skip
    return Response(html, mimetype="text/html")


def _json_body() -> Any:
    """Return the request body parsed as JSON, or None if it is not JSON."""
    try:
        return json.loads(request.get_data())
    except ValueError:
        return None
