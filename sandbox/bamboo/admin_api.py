"""The Bamboo sandbox's own ``/_sandbox/`` admin endpoints, beside every sandbox's (sandbox/common/admin.py):
client access, full orders (with their cards) and forgetting an order.

Answered only to loopback peers (403 otherwise). Admin calls are not part of the audit.
"""

import time
from typing import Any

from flask import Response, jsonify, request

from sandbox.bamboo.core import current_sandbox
from sandbox.bamboo.seed import CLIENTS_BY_ID
from sandbox.common.admin import admin_blueprint

admin = admin_blueprint("bamboo_admin", current_sandbox, health={"ok": True})


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
