"""The BHN sandbox as a Flask app: the identity endpoint, the provider's API and the ``/_sandbox/`` admin."""

from flask import Flask

from sandbox.bhn.admin_api import admin
from sandbox.bhn.core import BhnSandbox
from sandbox.bhn.provider_api import provider
from sandbox.bhn.settings import Settings


def create_app(settings: Settings) -> tuple[Flask, BhnSandbox]:
    """Return a Flask app serving a fresh BHN sandbox, and that sandbox (close it when done)."""
    sandbox = BhnSandbox.start(settings)
    app = Flask("sandbox.bhn")
    app.json.sort_keys = False
    app.extensions["bhn"] = sandbox
    app.register_blueprint(provider)
    app.register_blueprint(admin)
    return app, sandbox
