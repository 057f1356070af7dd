"""The clock behind both sandboxes' webhooks: when an order becomes final, send its webhook.

A clock thread waits for the moment each order turns final and hands the delivery to a small pool of sender
threads, so one slow receiver cannot hold the others back. Delivery is best effort with a short timeout, like
a provider's: a receiver that is down simply misses the call. Every attempt is kept for
``GET /_sandbox/webhooks``. What is sent, and where, is each provider's (`post_webhook`).
"""

import heapq
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import requests

SENDER_THREADS = 4


class WebhookClock:
    """Schedules the webhook of every accepted order (anything with ``final_at`` and ``order_id``) and records
    each delivery; a subclass says how one is sent."""

    def __init__(self, thread_name: str) -> None:
        self._due: list[tuple[float, Any, Any]] = []
        self._wake = threading.Condition()
        self._stopped = False
        self._generation = 0
        self._deliveries: list[dict[str, Any]] = []
        self._senders = ThreadPoolExecutor(SENDER_THREADS, thread_name_prefix=thread_name)
        threading.Thread(target=self._run_clock, name=f"{thread_name}-clock", daemon=True).start()

    def schedule(self, order: Any) -> None:
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
        """Return every delivery attempt: url, body, HTTP status or error (and what the provider adds)."""
        with self._wake:
            return list(self._deliveries)

    def stop(self) -> None:
        """Stop the clock and the senders; pending webhooks are dropped."""
        with self._wake:
            self._stopped = True
            self._wake.notify()
        self._senders.shutdown(wait=False, cancel_futures=True)

    def post_webhook(self, order: Any) -> dict[str, Any] | None:
        """Send one order's webhook; return the delivery record, or None if there is nowhere to send it."""
        raise NotImplementedError

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

    def _deliver(self, order: Any, generation: int) -> None:
        delivery = self.post_webhook(order)
        if delivery is None:
            return
        with self._wake:
            if generation == self._generation:
                self._deliveries.append(delivery)


def post(delivery: dict[str, Any], url: str, body: dict, *, timeout_ms: int, headers: dict | None = None) -> dict:
    """POST ``body`` to ``url`` and note in ``delivery`` the status it was answered, or the error."""
    try:
        delivery["status"] = requests.post(url, json=body, headers=headers, timeout=timeout_ms / 1000).status_code
    except requests.RequestException as error:
        delivery["error"] = type(error).__name__
    return delivery
