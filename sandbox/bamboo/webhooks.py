"""Bamboo's webhook: when an order becomes final, POST its summary to the client's registered URL.

A clock thread waits for the moment each order turns final and hands the delivery to a small pool of
sender threads, so one slow receiver cannot hold the others back. Delivery is best effort with a short
timeout, like the provider's: a receiver that is down simply misses the call. Sandbox accounts notify
``notificationUrlSandbox``, live accounts ``notificationUrl``. Every attempt is kept for
``GET /_sandbox/webhooks``.
"""

import heapq
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import requests

from sandbox.bamboo.orders import Order
from sandbox.bamboo.state import SandboxState

SENDER_THREADS = 4


class WebhookDispatcher:
    """Schedules and sends the webhook of every accepted order."""

    def __init__(self, state: SandboxState) -> None:
        self._state = state
        self._due: list[tuple[float, int, Order]] = []
        self._wake = threading.Condition()
        self._stopped = False
        self._generation = 0
        self._deliveries: list[dict[str, Any]] = []
        self._senders = ThreadPoolExecutor(SENDER_THREADS, thread_name_prefix="bamboo-webhook")
        self._clock = threading.Thread(target=self._run_clock, name="bamboo-webhook-clock", daemon=True)
        self._clock.start()

    def schedule(self, order: Order) -> None:
        """Send ``order``'s webhook when it becomes final."""
        with self._wake:
            heapq.heappush(self._due, (order.final_at, order.order_id, order))
            self._wake.notify()

    def reset(self) -> None:
        """Forget pending webhooks and past deliveries (deliveries already under way are not recorded)."""
        with self._wake:
            self._due.clear()
            self._deliveries.clear()
            self._generation += 1

    def deliveries(self) -> list[dict[str, Any]]:
        """Return every delivery attempt: url, requestId, body, HTTP status or error."""
        with self._wake:
            return list(self._deliveries)

    def stop(self) -> None:
        """Stop the clock and the senders; pending webhooks are dropped."""
        with self._wake:
            self._stopped = True
            self._wake.notify()
        self._senders.shutdown(wait=False, cancel_futures=True)

    def _run_clock(self) -> None:
        while True:
            with self._wake:
                while not self._stopped and (not self._due or self._due[0][0] > time.time()):
                    timeout = self._due[0][0] - time.time() if self._due else None
                    self._wake.wait(timeout)
                if self._stopped:
                    return
                _, _, order = heapq.heappop(self._due)
                generation = self._generation
            try:
                self._senders.submit(self._deliver, order, generation)
            except RuntimeError:  # the senders were shut down between the pop and the submit
                return

    def _deliver(self, order: Order, generation: int) -> None:
        registration = self._state.registration(order.client_id)
        if registration is None:
            return
        url = registration.notification_url_sandbox if order.account.sandbox_mode else registration.notification_url
        if not url:
            return
        body = order.webhook_body(registration.secret_key)
        delivery: dict[str, Any] = {"url": url, "requestId": order.request_id, "body": body, "status": None}
        try:
            timeout_s = self._state.settings.webhook_timeout_ms / 1000
            delivery["status"] = requests.post(url, json=body, timeout=timeout_s).status_code
        except requests.RequestException as error:
            delivery["error"] = type(error).__name__
        with self._wake:
            if generation == self._generation:
                self._deliveries.append(delivery)
