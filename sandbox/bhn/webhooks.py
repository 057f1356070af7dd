"""The webhook (ours): when an order becomes final, POST ``{"id", "external_id", "status"}`` to the configured URL.

The body carries no card data or e-gift URL; a receiver reads the order back. The shared secret travels in the
``webhook_secret_header`` header. The clock, the senders and the record of deliveries are every sandbox's
(sandbox/common/webhooks.py).
"""

from typing import Any

from sandbox.bhn.orders import Order
from sandbox.bhn.state import SandboxState
from sandbox.common.webhooks import WebhookClock, post


class WebhookDispatcher(WebhookClock):
    """Schedules and sends the webhook of every accepted order, while a webhook URL is configured."""

    def __init__(self, state: SandboxState) -> None:
        self._state = state
        super().__init__("bhn-webhook")

    def post_webhook(self, order: Order) -> dict[str, Any] | None:
        settings = self._state.settings
        if not settings.webhook_url:
            return None
        body = order.webhook_body()
        delivery: dict[str, Any] = {"url": settings.webhook_url, "body": body, "status": None}
        headers = {settings.webhook_secret_header: settings.webhook_secret}
        return post(delivery, settings.webhook_url, body, timeout_ms=settings.webhook_timeout_ms, headers=headers)
