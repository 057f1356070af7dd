"""The webhook (ours): when an order becomes final, POST ``{"id", "external_id", "status"}`` to the configured URL.

The body carries no card data or e-gift URL; a receiver reads the order back. The shared secret travels in the
``webhook_secret_header`` header. A clock thread waits for each order's final moment and sends from a small pool;
delivery is best effort with a short timeout. Every attempt is kept for ``GET /_sandbox/webhooks``.
"""

import heapq
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import requests

from sandbox.bhn.orders import Order
from sandbox.bhn.state import SandboxState

SENDER_THREADS = 4


class WebhookDispatcher:
    """Schedules and sends the webhook of every accepted order, while a webhook URL is configured."""

    def __init__(self, state: SandboxState) -> None:
        self._state = state
        self._due: list[tuple[float, str, Order]] = []
        self._wake = threading.Condition()
        self._stopped = False
        self._generation = 0
        self._deliveries: list[dict[str, Any]] = []
        self._senders = ThreadPoolExecutor(SENDER_THREADS, thread_name_prefix="bhn-webhook")
        threading.Thread(target=self._run_clock, name="bhn-webhook-clock", daemon=True).start()

    def schedule(self, order: Order) -> None:
        """Send ``order``'s webhook when it becomes final."""
        with self._wake:
            heapq.heappush(self._due, (order.final_at, order.order_id, order))
            self._wake.notify()

    def reset(self) -> None:
        """Forget pending webhooks and past deliveries."""
        with self._wake:
            self._due.clear()
            self._deliveries.clear()
            self._generation += 1

    def deliveries(self) -> list[dict[str, Any]]:
        """Return every delivery attempt: url, body, HTTP status or error."""
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
                    self._wake.wait(self._due[0][0] - time.time() if self._due else None)
                if self._stopped:
                    return
                _, _, order = heapq.heappop(self._due)
                generation = self._generation
            try:
                self._senders.submit(self._deliver, order, generation)
            except RuntimeError:  # the senders were shut down between the pop and the submit
                return

    def _deliver(self, order: Order, generation: int) -> None:
        settings = self._state.settings
        if not settings.webhook_url:
            return
        body = order.webhook_body()
        delivery: dict[str, Any] = {"url": settings.webhook_url, "body": body, "status": None}
        headers = {settings.webhook_secret_header: settings.webhook_secret}
        try:
            timeout_s = settings.webhook_timeout_ms / 1000
            delivery["status"] = requests.post(settings.webhook_url, json=body, headers=headers,
                                               timeout=timeout_s).status_code  # fmt: skip
        except requests.RequestException as error:
            delivery["error"] = type(error).__name__
        with self._wake:
            if generation == self._generation:
                self._deliveries.append(delivery)
