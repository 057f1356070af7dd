"""The ``/_sandbox/`` admin endpoints every sandbox has: the loopback guard, health, the call log, findings, the
ledger, faults, config and reset. Each provider's ``admin_api.py`` adds its own (access, orders, ...) to the
blueprint this makes.

Answered only to peers on the sandbox's own machine (403 otherwise): loopback, or the very address the sandbox
listens on (a connection from it can only come from this machine). They show card data and can change the rules.
Admin calls are not part of the audit.
"""

from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, abort, jsonify, request

from sandbox.common.calllog import is_loopback
from sandbox.common.core import RunningSandbox
from sandbox.common.faults import parse_fault


def admin_blueprint(name: str, current_sandbox: Callable[[], RunningSandbox], *, health: dict[str, Any]) -> Blueprint:
    """The shared admin endpoints, on the sandbox `current_sandbox()` returns; `health` is what /health answers."""
    admin = Blueprint(name, __name__, url_prefix="/_sandbox")

    @admin.before_request
    def only_local_peers() -> None:
        """Refuse admin calls that come from another machine."""
        peer = request.remote_addr
        if not (is_loopback(peer) or peer == request.environ.get("SERVER_NAME")):
            abort(403)

    @admin.get("/health")
    def health_check() -> Response:
        """The sandbox is up."""
        return jsonify(health)

    @admin.get("/calls")
    def calls() -> Response:
        """Every provider call in arrival order, with what it was answered."""
        return jsonify({"calls": current_sandbox().state.calls_json()})

    @admin.get("/findings")
    def findings() -> Response:
        """What the call log and the charges prove (the provider's audit says which figures)."""
        return jsonify(current_sandbox().state.findings_json())

    @admin.get("/ledger")
    def ledger() -> Response:
        """Every charge, in acceptance order (the provider's audit says what each holds)."""
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
        """The settings in force."""
        return jsonify(current_sandbox().state.settings.as_json())

    @admin.post("/config")
    def set_config() -> Response | tuple[Response, int]:
        """Change some settings at run time (the CLI options' names, durations in ms)."""
        changes: Any = request.get_json(silent=True)
        if not isinstance(changes, dict):
            return jsonify({"error": "config is a JSON object"}), 400
        try:
            settings = current_sandbox().state.configure(changes)
        except ValueError as problem:
            return jsonify({"error": str(problem)}), 400
        return jsonify(settings.as_json())

    @admin.post("/reset")
    def reset() -> Response:
        """Back to the seeded world (settings are kept)."""
        current_sandbox().reset()
        return jsonify({"ok": True})

    @admin.get("/webhooks")
    def webhooks() -> Response:
        """Every webhook delivery attempt since the last reset."""
        return jsonify({"deliveries": current_sandbox().webhooks.deliveries()})

    return admin
