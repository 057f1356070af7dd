"""Swagger UI at `/swagger-ui`, off unless `GIFTQ_API_SWAGGER_UI=true`, and then served from giftq itself.

flask-smorest's page loads its script and style from `OPENAPI_SWAGGER_UI_URL`. Pointed at a CDN, every
visitor's browser would run whatever that CDN serves that day, on giftq's origin, next to producers' API
keys. Here the URL is giftq's own `/swagger-ui/assets/`, serving the files of the pinned `swagger-ui-bundle`
package (constraints.txt), and nothing else. The OpenAPI document at `/openapi.json` is served either way.
"""

from __future__ import annotations

from flask import Blueprint, send_from_directory
from flask.typing import ResponseReturnValue
from flask_smorest import abort
from swagger_ui_bundle import swagger_ui_path

from api.errors import NO_SUCH_PATH

SWAGGER_UI_PATH = "/swagger-ui"
ASSETS_PATH = f"{SWAGGER_UI_PATH}/assets/"
# What flask-smorest's swagger_ui.html loads, and nothing more of the package is served.
ASSETS = frozenset({"swagger-ui.css", "swagger-ui-bundle.js", "swagger-ui-standalone-preset.js"})
ASSET_MAX_AGE_S = 86400  # the assets change only with the pinned package


def swagger_ui_config(enabled: bool) -> dict[str, str]:
    """flask-smorest's settings for Swagger UI: the page and its own assets when enabled, none otherwise."""
    if not enabled:
        return {}
    return {"OPENAPI_SWAGGER_UI_PATH": SWAGGER_UI_PATH, "OPENAPI_SWAGGER_UI_URL": ASSETS_PATH}


def swagger_assets_blueprint() -> Blueprint:
    """Serves Swagger UI's script and style from the installed swagger-ui-bundle (kept out of the OpenAPI document)."""
    blp = Blueprint("swagger_assets", __name__)

    @blp.route(f"{ASSETS_PATH}<name>", methods=["GET"])
    def swagger_asset(name: str) -> ResponseReturnValue:
        if name not in ASSETS:
            abort(404, reason=NO_SUCH_PATH, message="no such Swagger UI asset")
        return send_from_directory(str(swagger_ui_path), name, max_age=ASSET_MAX_AGE_S)

    return blp
