"""`giftq.notify`: tell a producer its order is final, the way it chose at submit, until it acknowledges.

Enqueued by the order store when an order with a notification choice becomes final (worker/runtime.py), on a
queue of its own, `giftq.notify` (config/celery.py), so a slow callback server holds no placing or polling.
Its only argument is the RequestId (plus the attempt number); the message it sends carries counts, never cards.
Failed attempts are tried again with a backoff doubling up to GIFTQ_NOTIFY_MAX_BACKOFF_S (a short countdown,
under the broker's visibility timeout), until delivered or GIFTQ_NOTIFY_DEADLINE_S after the order became final.
"""

from __future__ import annotations

import logging

from worker import metrics
from worker.celery import app, runtime
from worker.orders.notifications import ABANDONED, DELIVERED

logger = logging.getLogger(__name__)

ATTEMPT_LEASE_S = 60  # a delivery that died mid-attempt gives the attempt up after this long


def enqueue_notify(request_id: str, *, attempt: int, countdown_s: float = 0) -> None:
    """Enqueue attempt `attempt` of the order's notification after `countdown_s`."""
    notify.apply_async(args=[request_id], kwargs={"attempt": attempt}, countdown=countdown_s,
                       argsrepr=repr([request_id]), kwargsrepr=repr({"attempt": attempt}))  # fmt: skip


@app.task(name="giftq.notify")
def notify(request_id: str, attempt: int = 0) -> str:
    """One attempt at every channel not yet acknowledged; the next one is enqueued if any failed."""
    rt = runtime()
    record = rt.store.get(request_id)
    if record is None or not record.notify:
        return "nothing to notify"
    if record.notification.get("state") in (DELIVERED, ABANDONED):
        return record.notification["state"]
    if not rt.store.begin_step(request_id, f"notify-{attempt}", lease_s=ATTEMPT_LEASE_S):
        return "duplicate delivery"  # another delivery of this attempt runs or ran: one chain of attempts only
    outcome = rt.notifier.deliver(record, attempt)
    metrics.NOTIFICATIONS.labels(outcome.state).inc()
    rt.store.end_step(request_id, f"notify-{attempt}")
    if outcome.retry_in_s is not None:
        logger.warning("order %s: notification attempt %d failed; again in %.1f s", request_id, attempt + 1,
                       outcome.retry_in_s)  # fmt: skip
        enqueue_notify(request_id, attempt=attempt + 1, countdown_s=outcome.retry_in_s)
    else:
        logger.info("order %s: notification %s after %d attempts", request_id, outcome.state, attempt + 1)
    return outcome.state
