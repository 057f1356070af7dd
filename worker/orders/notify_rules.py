"""What an order may ask for in Notify, checked at intake: only what giftq's operator configured for its producer.

A producer's Notify is not trusted beyond its order (DESIGN.md, "Trust boundaries"):

- a callback needs the producer's secret (GIFTQ_CALLBACK_SECRETS), else `NoCallbackSecret`;
- a callback's host is resolved once, here, and refused `InvalidCallbackUrl` if any address it gives is not one
  giftq may call (`worker.orders.destinations`); a resolver that fails only for now does not refuse the order,
  since every attempt checks the destination again before it connects;
- a task and queue must be one the operator configured for this producer (GIFTQ_NOTIFY_TASKS), and never one of
  giftq's or Celery's own, else `NotifyTaskNotAllowed`: a notification must not run giftq's tasks nor land on
  another producer's queue.
"""

from __future__ import annotations

from collections.abc import Mapping

from config.notify import reserved_queue, reserved_task
from config.settings import NotifySettings
from schemas.callback_url import INVALID_CALLBACK_URL, BadCallbackUrl, parse_callback_url
from worker.errors import OrderRejected
from worker.orders.destinations import CallbackDestinations, DestinationRefused, Resolver, system_resolver

NO_CALLBACK_SECRET = "NoCallbackSecret"
NOTIFY_TASK_NOT_ALLOWED = "NotifyTaskNotAllowed"


class NotifyRules:
    """The Notify choices each producer may make; by default none (no secrets, no tasks, public callbacks only)."""

    def __init__(self, *, callback_producers: frozenset[str] = frozenset(),
                 tasks: Mapping[str, frozenset[tuple[str, str]]] | None = None,
                 destinations: CallbackDestinations | None = None):  # fmt: skip
        self._callback_producers = callback_producers
        self._tasks = tasks or {}
        self._destinations = destinations or CallbackDestinations()

    @classmethod
    def from_settings(cls, settings: NotifySettings, *, resolve: Resolver = system_resolver) -> NotifyRules:
        """The rules of GIFTQ_CALLBACK_SECRETS, GIFTQ_CALLBACK_ALLOW_* and GIFTQ_NOTIFY_TASKS."""
        return cls(callback_producers=frozenset(settings.callback_secrets), tasks=settings.notify_tasks,
                   destinations=CallbackDestinations.from_settings(settings, resolve=resolve))  # fmt: skip

    def check(self, notify: Mapping[str, str], producer: str, request_id: str) -> None:
        """Raise OrderRejected, with its reason code, unless this producer may ask for `notify`."""
        if "Task" in notify:
            self._check_task(notify["Task"], notify["Queue"], producer, request_id)
        if "CallbackUrl" in notify:
            if producer not in self._callback_producers:
                detail = f"producer {producer!r} has no callback secret (GIFTQ_CALLBACK_SECRETS); ask giftq's operator"
                raise OrderRejected(NO_CALLBACK_SECRET, detail, request_id)
            self._check_destination(notify["CallbackUrl"], request_id)

    def _check_task(self, task: str, queue: str, producer: str, request_id: str) -> None:
        allowed = (task, queue) in self._tasks.get(producer, ())
        if not allowed or reserved_task(task) or reserved_queue(queue):
            detail = (f"task {task!r} on queue {queue!r} is not a notification giftq's operator configured for "
                      f"producer {producer!r} (GIFTQ_NOTIFY_TASKS)")  # fmt: skip
            raise OrderRejected(NOTIFY_TASK_NOT_ALLOWED, detail, request_id)

    def _check_destination(self, url: str, request_id: str) -> None:
        try:
            self._destinations.check(parse_callback_url(url))
        except BadCallbackUrl as bad:
            raise OrderRejected(INVALID_CALLBACK_URL, str(bad), request_id) from None
        except DestinationRefused as refused:
            if not refused.temporary:
                raise OrderRejected(INVALID_CALLBACK_URL, str(refused), request_id) from None
