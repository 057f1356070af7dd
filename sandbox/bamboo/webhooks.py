"""Bamboo's webhook: when an order becomes final, POST its summary to the client's registered URL.

Sandbox accounts notify ``notificationUrlSandbox``, live accounts ``notificationUrl``; the clock, the senders
and the record of deliveries are every sandbox's (sandbox/common/webhooks.py).
"""

from typing import Any

from sandbox.bamboo.orders import Order
from sandbox.bamboo.state import SandboxState
from sandbox.common.webhooks import WebhookClock, post


class WebhookDispatcher(WebhookClock):
    """Schedules and sends the webhook of every accepted order."""

    def __init__(self, state: SandboxState) -> None:
        self._state = state
        super().__init__("bamboo-webhook")

    def post_webhook(self, order: Order) -> dict[str, Any] | None:
        registration = self._state.registration(order.client_id)
        if registration is None:
            return None
        url = registration.notification_url_sandbox if order.account.sandbox_mode else registration.notification_url
        if not url:
            return None
        body = order.webhook_body(registration.secret_key)
        delivery: dict[str, Any] = {"url": url, "requestId": order.request_id, "body": body, "status": None}
        return post(delivery, url, body, timeout_ms=self._state.settings.webhook_timeout_ms)
