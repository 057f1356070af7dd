"""The ``/_sandbox/`` admin endpoints of the BHN sandbox: audit, findings, the ledger, faults, config, client
revocation, token expiry, the next order's fate, reset, full orders and webhook deliveries.

Answered only to loopback peers (403 otherwise). Admin calls are not part of the audit.
"""

import time
from typing import Any

from flask import Blueprint, Response, abort, jsonify, request

from sandbox.bhn.core import current_sandbox
from sandbox.bhn.seed import CLIENTS_BY_ID
from sandbox.common.calllog import is_loopback
from sandbox.common.faults import parse_fault

admin = Blueprint("bhn_admin", __name__, url_prefix="/_sandbox")
REVOKED, GRANTED = "revoked", "granted"


@admin.before_request
def only_loopback_peers() -> None:
    """Refuse admin calls that do not come from the loopback interface."""
    if not is_loopback(request.remote_addr):
        abort(403)


@admin.get("/health")
def health() -> Response:
    """The sandbox is up."""
    return jsonify({"ok": True, "provider": "bhn"})


@admin.get("/calls")
def calls() -> Response:
    """Every API and token call in arrival order, with what it was answered."""
    return jsonify({"calls": current_sandbox().state.calls_json()})


@admin.get("/findings")
def findings() -> Response:
    """Call counts, accepted orders per key, double charges, totals and spacing violations."""
    return jsonify(current_sandbox().state.findings_json())


@admin.get("/ledger")
def ledger() -> Response:
    """Every charge with its lines and their fates, in acceptance order."""
    return jsonify({"charges": current_sandbox().state.ledger_json()})


@admin.post("/faults")
def schedule_fault() -> tuple[Response, int]:
    """Schedule a fault (see ``sandbox.common.faults``); 400 with the problem if it is not well formed."""
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
    """The settings in force."""
    return jsonify(current_sandbox().state.settings.as_json())


@admin.post("/config")
def set_config() -> Response | tuple[Response, int]:
    """Change some settings at run time (the CLI options' names; the webhook URL and secret too)."""
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
    """A client's access: granted, or revoked (token requests and every existing token get 401)."""
    if client_id not in CLIENTS_BY_ID:
        return jsonify({"error": f"no client {client_id!r}"}), 404
    access = REVOKED if current_sandbox().state.is_revoked(client_id) else GRANTED
    return jsonify({"client": client_id, "access": access})


@admin.post("/clients/<client_id>/access")
def set_access(client_id: str) -> Response | tuple[Response, int]:
    """Revoke or restore a client (``{"access": "revoked" | "granted"}``); a reset restores every client."""
    body: Any = request.get_json(silent=True)
    access = body.get("access") if isinstance(body, dict) else None
    if access not in (REVOKED, GRANTED):
        return jsonify({"error": "access must be revoked or granted"}), 400
    try:
        current_sandbox().state.set_revoked(client_id, access == REVOKED)
    except ValueError as problem:
        return jsonify({"error": str(problem)}), 400
    return jsonify({"client": client_id, "access": access})


@admin.post("/tokens/expire")
def expire_tokens() -> Response:
    """Expire every token issued so far: the next API call with one gets 401 ``token.expired``."""
    return jsonify({"expired": current_sandbox().state.expire_tokens()})


@admin.post("/next-order-fate")
def next_order_fate() -> Response | tuple[Response, int]:
    """Queue the fate of the next accepted order: completed, rejected, cancelled or partial."""
    body: Any = request.get_json(silent=True)
    try:
        current_sandbox().state.queue_fate(body.get("fate") if isinstance(body, dict) else None)
    except ValueError as problem:
        return jsonify({"error": str(problem)}), 400
    return jsonify({"queued": body["fate"]})


@admin.post("/reset")
def reset() -> Response:
    """Back to the seeded world (settings are kept)."""
    current_sandbox().reset()
    return jsonify({"ok": True})


@admin.get("/orders/<order_id>")
def order(order_id: str) -> Response | tuple[Response, int]:
    """An order by BHN id with its client, key and each line's fate, whatever its status."""
    found = current_sandbox().state.get_order(None, order_id)
    if found is None:
        return jsonify({"error": "no such order"}), 404
    body = found.as_json(time.time()) | {
        "client": found.client_id,
        "key": found.key,
        "finalStatus": found.final_status(),
        "fates": [line.fate for line in found.lines],
    }
    return jsonify(body)


@admin.get("/webhooks")
def webhooks() -> Response:
    """Every webhook delivery attempt since the last reset."""
    return jsonify({"deliveries": current_sandbox().webhooks.deliveries()})
