"""The producers' task contract: `giftq.submit_order` takes the same JSON as `POST /orders`.

A producer sends it by name with nothing but celery (see README, "Sending orders"); the order holds no
card data, so it may travel as a task argument. The answer is in the order store, not in a task result.
"""

from __future__ import annotations

import logging

from kombu.exceptions import OperationalError
from redis.exceptions import RedisError

from tasks.placing import park
from worker.celery import app, runtime
from worker.delivery import GiftqTask
from worker.errors import CatalogUnavailable, OrderRejected
from worker.orders import states
from worker.orders.intake import IdempotencyConflict
from worker.orders.store import OrderRecord
from worker.runtime import Runtime

logger = logging.getLogger(__name__)


@app.task(name="giftq.submit_order", bind=True, max_retries=None)
def submit_order(self: GiftqTask, order: dict, producer: str = "") -> dict:
    """Validate, store and park one order for the producer whose intake queue it came in on.

    On giftq's own queue (its own processes, e.g. a replay) `producer` names the sender; on an intake queue the
    queue does, and a message naming another producer never runs (worker/delivery.py). The producer scopes an
    IdempotencyKey and owns the order.

    The order is parked in its credential's schedule by this task, not by a second one: intake of a burst
    is then quicker, and a schedule sees its backlog sooner. (Were this process to die in between, the
    order stays `accepted` and reconciliation parks it.) While no catalog can be had the task waits and
    tries again (the broker keeps the order meanwhile).
    """
    rt = runtime()
    door = self.door_producer()
    producer = producer if door is None else door
    try:
        submission = rt.intake(_park_after_intake).submit(order, producer=producer)
    except OrderRejected as rejected:
        logger.info("order %s rejected: %s", rejected.request_id, rejected.reason)
        return {"request_id": rejected.request_id, "state": states.REJECTED, "reason": rejected.reason}
    except IdempotencyConflict as conflict:
        logger.warning("order %s: %s", conflict.request_id, conflict)
        return {"request_id": conflict.request_id, "state": "conflict", "reason": conflict.reason}
    except CatalogUnavailable as unavailable:
        logger.warning("catalog unavailable (%s); submitting again in %d s", unavailable, rt.settings.catalog_retry_s)
        raise self.retry(countdown=rt.settings.catalog_retry_s) from None
    stored = submission.order
    state = _park_now(rt, stored) if submission.created else stored.state
    return {"request_id": stored.request_id, "state": state}


def _park_after_intake(request_id: str) -> None:
    """Intake's enqueue step: nothing, since this task parks the order itself, from the record intake returns."""


def _park_now(rt: Runtime, record: OrderRecord) -> str:
    """Park a stored order in its credential's schedule; if Redis or the broker fails now, reconciliation will.

    Returns the order's state as far as this task knows: `rejected` if its limits refuse it, else `accepted`.
    """
    try:
        return states.REJECTED if park(rt, record) == states.REJECTED else record.state
    except (RedisError, OperationalError) as error:
        logger.warning("order %s stored but not parked yet (%s); reconciliation parks it", record.request_id,
                       type(error).__name__)  # fmt: skip
        return record.state
