"""One running BHN sandbox (sandbox/common/core.py), and how handlers reach it."""

from flask import current_app

from sandbox.bhn.settings import Settings
from sandbox.bhn.state import SandboxState
from sandbox.bhn.webhooks import WebhookDispatcher
from sandbox.common.core import RunningSandbox


class BhnSandbox(RunningSandbox):
    """The BHN sandbox's state and webhook sender."""

    @classmethod
    def start(cls, settings: Settings) -> "BhnSandbox":
        """Return a fresh sandbox in the seeded world, its webhook threads running."""
        state = SandboxState(settings)
        return cls(state, WebhookDispatcher(state))


def current_sandbox() -> BhnSandbox:
    """Return the sandbox of the app handling the current request."""
    return current_app.extensions["bhn"]
