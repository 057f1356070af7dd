"""One running BHN sandbox: its state, its webhook sender, and how handlers reach it."""

import threading
from dataclasses import dataclass, field

from flask import current_app

from sandbox.bhn.settings import Settings
from sandbox.bhn.state import SandboxState
from sandbox.bhn.webhooks import WebhookDispatcher


@dataclass
class BhnSandbox:
    """A sandbox's state, its webhook sender, and the event that releases held connections and waits."""

    state: SandboxState
    webhooks: WebhookDispatcher
    closing: threading.Event = field(default_factory=threading.Event)

    @classmethod
    def start(cls, settings: Settings) -> "BhnSandbox":
        """Return a fresh sandbox in the seeded world, its webhook thread running."""
        state = SandboxState(settings)
        return cls(state, WebhookDispatcher(state))

    def reset(self) -> None:
        """Back to the seeded world: no tokens, calls, orders, faults or webhook deliveries."""
        self.state.reset()
        self.webhooks.reset()

    def close(self) -> None:
        """Release held connections and waits, and stop the webhook thread."""
        self.closing.set()
        self.webhooks.stop()


def current_sandbox() -> BhnSandbox:
    """Return the sandbox of the app handling the current request."""
    return current_app.extensions["bhn"]
