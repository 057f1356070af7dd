"""The BHN sandbox's own ``/_sandbox/`` admin endpoints, beside every sandbox's (sandbox/common/admin.py):
client revocation, token expiry, the next order's fate and full orders.

Answered only to loopback peers (403 otherwise). Admin calls are not part of the audit.
"""

import time
from typing import Any

from flask import Response, jsonify, request

from sandbox.bhn.core import current_sandbox
from sandbox.bhn.seed import CLIENTS_BY_ID
from sandbox.common.admin import admin_blueprint

admin = admin_blueprint("bhn_admin", current_sandbox, health={"ok": True, "provider": "bhn"})
REVOKED, GRANTED = "revoked", "granted"


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
