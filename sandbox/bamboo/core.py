"""One running Bamboo sandbox (sandbox/common/core.py), and how handlers reach it."""

from flask import current_app

from sandbox.bamboo.settings import Settings
from sandbox.bamboo.state import SandboxState
from sandbox.bamboo.webhooks import WebhookDispatcher
from sandbox.common.core import RunningSandbox


class BambooSandbox(RunningSandbox):
    """The Bamboo sandbox's state and webhook sender."""

    @classmethod
    def start(cls, settings: Settings) -> "BambooSandbox":
        """Return a fresh sandbox in the seeded world, its webhook threads running."""
        state = SandboxState(settings)
        return cls(state, WebhookDispatcher(state))


def current_sandbox() -> BambooSandbox:
    """Return the sandbox of the app handling the current request."""
    return current_app.extensions["bamboo"]
