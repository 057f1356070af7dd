"""The ``/_sandbox/`` admin endpoints: audit, findings, the ledger, faults, config, access, reset and full orders.

Answered only to loopback peers (403 otherwise): they show card codes and can change the rules. Admin
calls are not part of the audit.
"""

import time
from typing import Any

from flask import Blueprint, Response, abort, jsonify, request

from sandbox.bamboo.core import current_sandbox
from sandbox.bamboo.seed import CLIENTS_BY_ID
from sandbox.common.calllog import is_loopback
from sandbox.common.faults import parse_fault

admin = Blueprint("bamboo_admin", __name__, url_prefix="/_sandbox")


@admin.before_request
def only_loopback_peers() -> None:
    """Refuse admin calls that do not come from the loopback interface."""
    if not is_loopback(request.remote_addr):
        abort(403)


@admin.get("/health")
def health() -> Response:
    """The sandbox is up."""
    return jsonify({"ok": True})


@admin.get("/calls")
def calls() -> Response:
    """Every provider call in arrival order, with what it was answered."""
    return jsonify({"calls": current_sandbox().state.calls_json()})


@admin.get("/findings")
def findings() -> Response:
    """What the call log and the charges prove: limit violations, double charges, totals."""
    return jsonify(current_sandbox().state.findings_json())


@admin.get("/ledger")
def ledger() -> Response:
    """Every charge with the cards it paid for, in acceptance order (forgotten orders too): see ``audit.ledger``."""
    return jsonify({"charges": current_sandbox().state.ledger_json()})


@admin.post("/faults")
def schedule_fault() -> Response | tuple[Response, int]:
    """Schedule a fault (see ``faults``); 400 with the problem if the fault is not well formed."""
    try:
        fault = parse_fault(request.get_json(silent=True))
    except (TypeError, ValueError) as problem:
        return jsonify({"error": str(problem)}), 400
    current_sandbox().state.schedule_fault(fault)
    return jsonify({"scheduled": fault.as_json()}), 201


@admin.get("/faults")
def list_faults() -> Response:
    """The faults still waiting for calls."""
    return jsonify({"faults": current_sandbox().state.faults_json()})


@admin.delete("/faults")
def clear_faults() -> Response:
    """Drop every scheduled fault."""
    current_sandbox().state.clear_faults()
    return jsonify({"faults": []})


@admin.get("/config")
def get_config() -> Response:
    """The limits, delays and probabilities in force."""
    return jsonify(current_sandbox().state.settings.as_json())


@admin.post("/config")
def set_config() -> Response | tuple[Response, int]:
    """Change some settings at run time (same names as the CLI options, durations in ms)."""
    changes: Any = request.get_json(silent=True)
    if not isinstance(changes, dict):
        return jsonify({"error": "config is a JSON object"}), 400
    try:
        settings = current_sandbox().state.configure(changes)
    except ValueError as problem:
        return jsonify({"error": str(problem)}), 400
    return jsonify(settings.as_json())


@admin.get("/clients/<client_id>/access")
def get_access(client_id: str) -> Response | tuple[Response, int]:
    """A client's access: granted, revoked (its calls get 401) or forbidden (403)."""
    if client_id not in CLIENTS_BY_ID:
        return jsonify({"error": f"no client {client_id!r}"}), 404
    return jsonify({"client": client_id, "access": current_sandbox().state.access_of(client_id)})


@admin.post("/clients/<client_id>/access")
def set_access(client_id: str) -> Response | tuple[Response, int]:
    """Grant, revoke or forbid a client's calls (``{"access": ...}``); a reset grants every client again."""
    body: Any = request.get_json(silent=True)
    access = body.get("access") if isinstance(body, dict) else None
    try:
        current_sandbox().state.set_access(client_id, access)
    except ValueError as problem:
        return jsonify({"error": str(problem)}), 400
    return jsonify({"client": client_id, "access": access})


@admin.post("/reset")
def reset() -> Response:
    """Back to the seeded world (settings are kept)."""
    current_sandbox().reset()
    return jsonify({"ok": True})


@admin.get("/orders/<request_id>")
def order(request_id: str) -> Response | tuple[Response, int]:
    """An order with its cards and its fate, whatever its status (``?client=`` picks the client)."""
    found = current_sandbox().state.find_order(request.args.get("client"), request_id)
    if found is None:
        return jsonify({"error": "no such order"}), 404
    cards = [card.as_json() for item in found.items for card in item.cards]
    now = time.time()
    body = found.as_json(now) | {
        "client": found.client_id,
        "accountId": found.account.id,
        "finalStatus": found.final_status(),
        "allCards": cards,
    }
    return jsonify(body)


@admin.delete("/orders/<request_id>")
def forget_order(request_id: str) -> Response | tuple[Response, int]:
    """Forget an order as a provider that lost it would: Get Order answers OrderNotFound and Place Order accepts
    its RequestId again. Its charge stays in the ledger, so a second acceptance shows as a second charge."""
    forgotten = current_sandbox().state.forget_order(request.args.get("client"), request_id)
    if forgotten is None:
        return jsonify({"error": "no such order"}), 404
    return jsonify({"forgotten": forgotten.request_id, "client": forgotten.client_id})


@admin.get("/webhooks")
def webhooks() -> Response:
    """Every webhook delivery attempt since the last reset."""
    return jsonify({"deliveries": current_sandbox().webhooks.deliveries()})
