"""The Bamboo sandbox as a Flask app: the provider's API plus the ``/_sandbox/`` admin endpoints."""

from flask import Flask

from sandbox.bamboo.admin_api import admin
from sandbox.bamboo.core import BambooSandbox
from sandbox.bamboo.provider_api import provider
from sandbox.bamboo.settings import Settings


def create_app(settings: Settings) -> tuple[Flask, BambooSandbox]:
    """Return a Flask app serving a fresh sandbox, and that sandbox (close it when done)."""
    sandbox = BambooSandbox.start(settings)
    app = Flask("sandbox.bamboo")
    app.json.sort_keys = False
    app.extensions["bamboo"] = sandbox
    app.register_blueprint(provider)
    app.register_blueprint(admin)
    return app, sandbox
