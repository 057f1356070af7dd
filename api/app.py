"""The producers' HTTP API (flask-smorest): submit orders and follow them, on the schemas intake uses.

Producers authenticate with `Authorization: Bearer <API key>`; each authenticated request is counted
against its key's rate limit (api/ratelimit.py), then checked for the scope its endpoint needs. The
endpoints are in api/orders.py, api/cards.py and api/webhooks.py, and /metrics behind a token of its own
(api/metrics.py); every error is JSON `{"status", "reason", "message", "request_id"}` (api/errors.py).
Served by gunicorn: `giftq api`.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask, g, request
from flask_smorest import abort

from api.apikeys import ApiKeys
from api.cards import cards_blueprint
from api.document import DocumentVariantsPlugin
from api.errors import RATE_LIMITED, GiftqApi, install_store_unavailable
from api.metrics import METRICS_PATH, serve_metrics
from api.orders import orders_blueprint
from api.ratelimit import RateLimiter
from api.swagger import SWAGGER_UI_PATH, swagger_assets_blueprint, swagger_ui_config
from api.webhooks import BHN_SECRET_HEADER, BHN_SECRET_SCHEME, BHN_WEBHOOK_PATH, WEBHOOK_PATH, webhooks_blueprint
from config.settings import SCOPE_CARDS, SCOPE_ORDERS
from worker.orders.intake import Intake
from worker.runtime import Runtime

BEARER = "Bearer "
# Answered without an API key (a webhook carries its provider's shared secret), as is all of SWAGGER_UI_PATH.
# /metrics takes the operator's metrics token, never a producer's API key.
OPEN_PATHS = ("/health", "/openapi.json", WEBHOOK_PATH, BHN_WEBHOOK_PATH, METRICS_PATH)
SCOPE_OF_BLUEPRINT = {"orders": SCOPE_ORDERS, "cards": SCOPE_CARDS}  # what a key needs for each blueprint


def create_app(rt: Runtime, intake: Intake, poll_now: Callable[[str], object] | None = None) -> Flask:
    """The API's Flask app for one runtime; `intake` is the path every order comes through.

    `poll_now` enqueues an immediate Get Order of an order (provider webhooks); without it there are none.
    """
    settings = rt.settings.api
    app = Flask("giftq.api")
    app.config.update(
        MAX_CONTENT_LENGTH=settings.max_body_bytes,
        API_TITLE="giftq",
        API_VERSION="1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/",
        OPENAPI_JSON_PATH="openapi.json",
        **swagger_ui_config(settings.swagger_ui),
    )
    variants = DocumentVariantsPlugin()
    api = GiftqApi(app, spec_kwargs={"extra_plugins": [variants]})
    api.spec.components.security_scheme("ApiKey", {"type": "http", "scheme": "bearer"})
    api.spec.components.security_scheme(
        BHN_SECRET_SCHEME, {"type": "apiKey", "in": "header", "name": BHN_SECRET_HEADER}
    )
    install_store_unavailable(app)
    keys = ApiKeys(settings.keys)
    limiter = RateLimiter(
        rt.redis, rt.keys, requests=settings.rate_limit_requests, window_s=settings.rate_limit_window_s
    )
    app.before_request(lambda: _authenticate(keys, limiter))
    api.register_blueprint(orders_blueprint(rt, intake))
    api.register_blueprint(cards_blueprint(rt))
    if poll_now is not None:
        api.register_blueprint(webhooks_blueprint(rt, poll_now))
    variants.write_variants(api.spec)
    app.add_url_rule(METRICS_PATH, "metrics", lambda: serve_metrics(rt))
    if settings.swagger_ui:
        app.register_blueprint(swagger_assets_blueprint())
    return app


def _authenticate(keys: ApiKeys, limiter: RateLimiter) -> None:
    """Who calls (401 without a valid key), within its key's rate (429), with the scope it needs (403)."""
    if request.path in OPEN_PATHS or request.path.startswith(SWAGGER_UI_PATH):
        return
    header = request.headers.get("Authorization", "")
    caller = keys.caller_for(header[len(BEARER) :] if header.startswith(BEARER) else None)
    if caller is None:
        abort(401, message="give a valid API key: Authorization: Bearer <key>")
    wait_s = limiter.admit(caller.key_id)
    if wait_s:
        message = f"this API key is over its request rate; try again in {wait_s} s"
        abort(429, reason=RATE_LIMITED, message=message, headers={"Retry-After": str(wait_s)})
    needed = SCOPE_OF_BLUEPRINT.get(request.blueprint or "")
    if needed and needed not in caller.scopes:
        abort(403, message=f"this API key lacks the {needed!r} scope (see `giftq apikey NAME --scope {needed}`)")
    g.caller, g.producer = caller, caller.producer
