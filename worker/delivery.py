"""Every giftq task counts its deliveries: a message delivered again and again is parked, not run forever."""

from __future__ import annotations

import json
import logging
import time

from celery import Task

logger = logging.getLogger(__name__)

DELIVERY_COUNT_TTL_S = 86400


class GiftqTask(Task):
    """The base of giftq's tasks. A message delivered more than `max_deliveries` times is a dead letter.

    A worker lost mid-task puts its message back (late acks); one that always kills its worker
    would come back forever. Arguments are RequestIds only, so a dead letter holds no card data.
    Its `Request` shows Flower and the logs only the RequestIds of its arguments (worker/redaction.py).
    Its app is giftq's `GiftqCelery`, which gives the process's runtime, so this module imports neither.
    """

    Request = "worker.redaction:RedactedRequest"

    def __call__(self, *args: object, **kwargs: object) -> object:
        if not self.request.called_directly and self.request.id and _too_many_deliveries(self, args, kwargs):
            return "dead letter"
        return super().__call__(*args, **kwargs)


def _too_many_deliveries(task: Task, args: tuple, kwargs: dict) -> bool:
    rt = task.app.runtime()  # giftq's app (worker/celery.py) holds this process's runtime
    key = rt.keys.deliveries(task.request.id, task.request.retries or 0)
    with rt.redis.pipeline() as pipe:
        count, _ = pipe.incr(key).expire(key, DELIVERY_COUNT_TTL_S).execute()
    if count <= rt.settings.max_deliveries:
        return False
    letter = {"task": task.name, "id": task.request.id, "args": args, "kwargs": kwargs, "at": time.time()}
    rt.redis.rpush(rt.keys.dead_letters(), json.dumps(letter, default=str))
    logger.error("task %s[%s] delivered %d times: parked as a dead letter", task.name, task.request.id, count)
    return True
