"""One running sandbox, whichever provider it plays: its state, its webhook sender, and the event that releases
held connections and waits when it stops. Each provider's `core.py` says how to start its own."""

import threading
from dataclasses import dataclass, field
from typing import Any


@dataclass
class RunningSandbox:
    """A sandbox's state and webhook sender (the provider's own types), and its closing event."""

    state: Any
    webhooks: Any
    closing: threading.Event = field(default_factory=threading.Event)

    def reset(self) -> None:
        """Back to the seeded world (the provider's state and webhook deliveries say what that holds)."""
        self.state.reset()
        self.webhooks.reset()

    def close(self) -> None:
        """Release held connections (they close unanswered) and waits, and stop the webhook threads."""
        self.closing.set()
        self.webhooks.stop()
