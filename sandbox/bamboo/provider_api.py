"""The Bamboo Integration API, one handler per endpoint of bamboo-api.md, in the order it lists them.

Each handler: log the arrival (401 without valid Basic auth, 429 over a limit), let a scheduled fault
act, do what the provider does, and answer in the provider's shape. Limits the docs give for calls
other than Place Order and Get Order (catalog, exchange rates, "others 1 per second") are not enforced.
"""

import json
import time
from decimal import Decimal
from typing import Any

from flask import Blueprint, Response, jsonify, request

from sandbox.bamboo.calls import answer, arrive, audit_products, fault_after_commit, fault_on_arrival, refuse
from sandbox.bamboo.catalog import catalog_page
from sandbox.bamboo.checkout import Refused
from sandbox.bamboo.core import current_sandbox
from sandbox.bamboo.money import exchange_rate, json_number
from sandbox.bamboo.seed import USD_VALUE
from sandbox.bamboo.state import Registration

V1 = "/api/integration/v1.0"
V2 = "/api/integration/v2.0"
NOTIFICATION = "/api/Integration/v1/notification"

provider = Blueprint("bamboo_provider", __name__)


@provider.get(f"{V1}/accounts")
def get_accounts() -> Response:
    """Get Accounts: the client's accounts with their live balances."""
    call, refusal = arrive("accounts")
    if refusal:
        return refusal
    state = current_sandbox().state
    accounts = [
        {
            "id": account.id,
            "currency": account.currency,
            "balance": json_number(state.balance(account.id)),
            "isActive": account.is_active,
            "sandboxMode": account.sandbox_mode,
        }
        for account in call.client.accounts
    ]
    return answer(call, jsonify({"accounts": accounts}))


@provider.get(f"{V2}/catalog")
def get_catalog() -> Response:
    """Get Catalog (v2): brands with their products, filtered and paged; ClientCatalogNotExist without one."""
    call, refusal = arrive("catalog")
    if refusal:
        return refusal
    if not call.client.has_catalog:
        return refuse(call, "ClientCatalogNotExist")
    try:
        page = catalog_page(request.args.to_dict(), current_sandbox().state.stock)
    except ValueError:
        return refuse(call, "InvalidRequest")
    return answer(call, jsonify(page))


@provider.post(f"{V1}/orders/checkout")
def place_order() -> Response:
    """Place Order: the rules of bamboo-place-order.txt; 200 with the RequestId as a bare JSON string."""
    body = _json_body()
    request_id = body.get("RequestId") if isinstance(body, dict) else None
    call, refusal = arrive("place_order", request_id if isinstance(request_id, str) else None, audit_products(body))
    if refusal:
        return refusal
    faulted = fault_on_arrival(call)
    if faulted:
        return faulted
    sandbox = current_sandbox()
    try:
        order = sandbox.state.place_order(call.client, body)
    except Refused as refused:
        return refuse(call, refused.reason)
    sandbox.webhooks.schedule(order)
    return fault_after_commit(call) or answer(call, jsonify(order.request_id))


@provider.get(f"{V1}/orders/<request_id>")
def get_order(request_id: str) -> Response:
    """Get Order: the order as it stands now; 400 OrderNotFound for a RequestId this client never used."""
    call, refusal = arrive("get_order", request_id)
    if refusal:
        return refusal
    faulted = fault_on_arrival(call)
    if faulted:
        return faulted
    order = current_sandbox().state.find_order(call.client.client_id, request_id)
    faulted = fault_after_commit(call)
    if faulted:
        return faulted
    if order is None:
        return refuse(call, "OrderNotFound")
    return answer(call, jsonify(order.as_json(time.time())))


@provider.get(f"{V1}/exchange-rates")
def get_exchange_rates() -> Response:
    """Exchange rates: what one unit of ``baseCurrency`` (default USD) costs in each ``currency``."""
    call, refusal = arrive("exchange_rates")
    if refusal:
        return refusal
    base = request.args.get("baseCurrency", "USD").upper()
    wanted = request.args.get("currency")
    currencies = [wanted.upper()] if wanted else sorted(USD_VALUE)
    if base not in USD_VALUE or any(currency not in USD_VALUE for currency in currencies):
        return refuse(call, "InvalidCurrency")
    rates = [{"currencyCode": code, "value": json_number(exchange_rate(base, code))} for code in currencies]
    return answer(call, jsonify({"baseCurrencyCode": base, "rates": rates}))


@provider.post(NOTIFICATION)
def register_notification() -> Response:
    """Notification: register the webhook URLs (live and sandbox) and the secret key they will carry."""
    call, refusal = arrive("notification")
    if refusal:
        return refusal
    body = _json_body()
    registration = _read_registration(body)
    if registration is None:
        return refuse(call, "InvalidRequest")
    current_sandbox().state.register(call.client.client_id, registration)
    return answer(call, jsonify(_registration_json(registration)))


@provider.get(NOTIFICATION)
def get_notification() -> Response:
    """Notification: the webhook registration in force, nulls if none was made."""
    call, refusal = arrive("notification")
    if refusal:
        return refusal
    registration = current_sandbox().state.registration(call.client.client_id) or Registration(None, None, "")
    return answer(call, jsonify(_registration_json(registration)))


def _json_body() -> Any:
    """Return the request body parsed as JSON with exact decimals, or None if it is not JSON."""
    try:
        return json.loads(request.get_data(), parse_float=Decimal)
    except ValueError:
        return None


def _read_registration(body: Any) -> Registration | None:
    if not isinstance(body, dict) or not isinstance(body.get("secretKey"), str):
        return None
    urls = (body.get("notificationUrl"), body.get("notificationUrlSandbox"))
    if not all(url is None or isinstance(url, str) for url in urls):
        return None
    return Registration(*urls, secret_key=body["secretKey"])


def _registration_json(registration: Registration) -> dict[str, Any]:
    return {
        "notificationUrl": registration.notification_url,
        "notificationUrlSandbox": registration.notification_url_sandbox,
        "secretKey": registration.secret_key,
    }
