"""Telling a producer its order is final, the way it chose at submit: a Celery task of its own and/or a callback.

The message is `{"request_id", "state", "summary"}`: card counts, never card data. The producer fetches the
cards with `GET /orders/{request_id}/cards`. How it went is kept on the order (`notify_*` fields): delivered
once every chosen channel acknowledged, failing while one did not (retried with backoff), abandoned after the
deadline. A notification may arrive more than once (a worker lost mid-attempt): producers key on request_id.

Intake refused what the operator does not allow (worker/orders/notify_rules.py); each attempt checks again, as
the settings may have changed since, and as a callback's host may resolve differently now. What `last_error`
keeps is a coarse kind per channel (`timeout`, `refused`, `non-2xx`; for the task, `not-allowed`, `broker`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass

from kombu.exceptions import OperationalError

from config.settings import NotifySettings
from worker.orders.callbacks import CallbackFailed, CallbackSender
from worker.orders.destinations import CallbackDestinations, Resolver, system_resolver
from worker.orders.store import OrderRecord, OrderStore
from worker.orders.vault import CardVault

PENDING, DELIVERED, FAILING, ABANDONED = "pending", "delivered", "failing", "abandoned"
TASK_NOT_ALLOWED, BROKER_UNAVAILABLE, NO_SECRET = "task: not-allowed", "task: broker", "callback: no-secret"


def notification_body(record: OrderRecord) -> dict:
    """What the producer is told: which order, its final state, and the summary (counts, no card data)."""
    return {"request_id": record.request_id, "state": record.state, "summary": record.summary}


@dataclass(frozen=True)
class Outcome:
    """The state a notification attempt left, and when to try again (None: done)."""

    state: str
    retry_in_s: float | None = None


class Notifier:
    """Makes one attempt at every channel the producer chose and not yet acknowledged, and records it."""

    def __init__(self, store: OrderStore, vault: CardVault, settings: NotifySettings, *,
                 send_task: Callable[..., object], now_ms: Callable[[], int],
                 resolve: Resolver = system_resolver):  # fmt: skip
        """`resolve(host, port)` gives a callback host's addresses (getaddrinfo; a test may give its own)."""
        self._store = store
        self._vault = vault
        self._settings = settings
        self._send_task = send_task
        self._now_ms = now_ms
        destinations = CallbackDestinations.from_settings(settings, resolve=resolve)
        self._callbacks = CallbackSender(timeout_s=settings.callback_timeout_s, destinations=destinations)

    def deliver(self, record: OrderRecord, attempt: int) -> Outcome:
        """Attempt number `attempt` (0 first) of the order's notification."""
        now_ms = self._now_ms()
        if now_ms - record.updated_ms > self._settings.deadline_s * 1000:
            self._record(record.request_id, {"state": ABANDONED, "last_error": "deadline passed"})
            return Outcome(ABANDONED)
        fields: dict[str, object] = {"attempts": attempt + 1}
        errors = [error for error in (self._task(record, now_ms, fields), self._callback(record, now_ms, fields))
                  if error]  # fmt: skip
        if errors:
            self._record(record.request_id, {**fields, "state": FAILING, "last_error": "; ".join(errors)})
            return Outcome(FAILING, self.backoff_s(attempt))
        self._record(record.request_id, {**fields, "state": DELIVERED, "delivered_ms": now_ms})
        self._vault.mark_delivered(record.request_id, now_ms)
        return Outcome(DELIVERED)

    def backoff_s(self, attempt: int) -> float:
        """Wait after failed attempt `attempt`: backoff_ms doubled each time, at most max_backoff_s."""
        return min(self._settings.backoff_ms * 2 ** min(attempt, 30) / 1000, self._settings.max_backoff_s)

    def _task(self, record: OrderRecord, now_ms: int, fields: dict) -> str:
        """Send the producer's task once, if the operator still allows it that task and queue; else an error kind."""
        name, queue = record.notify.get("Task"), record.notify.get("Queue")
        if not name or record.notification.get("task_sent_ms"):
            return ""
        if (name, queue) not in self._settings.notify_tasks.get(record.producer, ()):
            return TASK_NOT_ALLOWED
        body = notification_body(record)
        try:
            self._send_task(name, args=[body], queue=queue, argsrepr=repr([{"request_id": record.request_id}]))
        except OperationalError:
            return BROKER_UNAVAILABLE
        fields["task_sent_ms"] = now_ms
        return ""

    def _callback(self, record: OrderRecord, now_ms: int, fields: dict) -> str:
        """POST the signed callback unless it was acknowledged before; its failure kind if it was not now."""
        url = record.notify.get("CallbackUrl")
        if not url or record.notification.get("callback_ms"):
            return ""
        secret = self._settings.callback_secrets.get(record.producer)
        if not secret:
            return NO_SECRET
        body = json.dumps(notification_body(record), sort_keys=True, separators=(",", ":")).encode()
        try:
            self._callbacks.post(url, body, secret=secret, timestamp=int(time.time()))
        except CallbackFailed as failed:
            return failed.kind
        fields["callback_ms"] = now_ms
        return ""

    def _record(self, request_id: str, values: dict[str, object]) -> None:
        """Write the notify_* fields on the order, if it still exists."""
        self._store.set_fields(request_id, {f"notify_{name}": str(value) for name, value in values.items()})
