"""One running Bamboo sandbox: its state, its webhook sender, and how handlers reach it."""

import threading
from dataclasses import dataclass, field

from flask import current_app

from sandbox.bamboo.settings import Settings
from sandbox.bamboo.state import SandboxState
from sandbox.bamboo.webhooks import WebhookDispatcher


@dataclass
class BambooSandbox:
    """A sandbox's state, its webhook sender, and the event that releases held connections."""

    state: SandboxState
    webhooks: WebhookDispatcher
    closing: threading.Event = field(default_factory=threading.Event)

    @classmethod
    def start(cls, settings: Settings) -> "BambooSandbox":
        """Return a fresh sandbox in the seeded world, its webhook threads running."""
        state = SandboxState(settings)
        return cls(state, WebhookDispatcher(state))

    def reset(self) -> None:
        """Back to the seeded world: no calls, orders, faults or webhooks; balances restored."""
        self.state.reset()
        self.webhooks.reset()

    def close(self) -> None:
        """Release held connections (they close unanswered) and stop the webhook threads."""
        self.closing.set()
        self.webhooks.stop()


def current_sandbox() -> BambooSandbox:
    """Return the sandbox of the app handling the current request."""
    return current_app.extensions["bamboo"]
