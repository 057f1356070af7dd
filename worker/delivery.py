"""The task base class: a message runs only if it came in through its door, and only so many times.

Doors: a producer's intake queue (`giftq.intake.<producer>`) lets in `giftq.submit_order` and nothing else, and
names the producer; giftq's own queues let in any of giftq's tasks (only giftq's processes can write to them when
the broker has ACL users, README "Security"). The queue is the one the message was read from (worker/broker.py).
A message delivered again and again is parked as a dead letter, not run forever.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time

from celery import Task

from worker import metrics
from worker.broker import DELIVERY_HEADER
from worker.redaction import drop_canvas

logger = logging.getLogger(__name__)

DEAD_LETTERS_KEPT = 10_000  # the newest dead letters kept; older ones are dropped (logged when parked)
DEAD_LETTER_MAX_BYTES = 16_384  # a larger message keeps a digest of its arguments, not the arguments
INTAKE_TASK = "giftq.submit_order"  # the one task a producer's intake queue lets in
REFUSED = "refused at the door"


class GiftqTask(Task):
    """The base of giftq's tasks. A message delivered more than `max_deliveries` times is a dead letter.

    A worker lost mid-task puts its message back (late acks); one that always kills its worker
    would come back forever. Arguments are RequestIds only, so a dead letter holds no card data.
    Its `Request` shows Flower and the logs only the RequestIds of its arguments (worker/redaction.py), and names
    the order of a message for the line that says it was received (worker/logs.py).
    Its app is giftq's `GiftqCelery`, which gives the process's runtime, so this module imports neither.
    The CPU time of each run is counted by task name (`giftq_task_cpu_seconds`).
    """

    Request = "worker.logs:ReceivedRequest"

    def __call__(self, *args: object, **kwargs: object) -> object:
        if not self.request.called_directly and self.request.id:
            # giftq's own messages carry no canvas: one that does was written by someone else. Drop it before
            # anything can succeed or fail, or Celery would publish it with giftq's broker user.
            canvas = drop_canvas(self.request)
            refusal = f"a message may not carry {', '.join(canvas)}" if canvas else self._door_refusal(kwargs)
            if refusal:
                logger.error("task %s[%s] from queue %s refused: %s", self.name, self.request.id, self._queue(),
                             refusal)  # fmt: skip
                return REFUSED
            if _too_many_deliveries(self, args, kwargs):
                return "dead letter"
        started = time.thread_time()
        try:
            return super().__call__(*args, **kwargs)
        finally:
            metrics.TASK_CPU_SECONDS.labels(self.name).observe(time.thread_time() - started)

    def door_producer(self) -> str | None:
        """The producer whose intake queue this message came in on; None if it came in on one of giftq's own."""
        return self.app.runtime().settings.producer_of_queue(self._queue())

    def _queue(self) -> str | None:
        return (self.request.delivery_info or {}).get("routing_key")

    def _door_refusal(self, kwargs: dict) -> str:
        """Why this message may not run here ("" if it may): see the module's docstring."""
        settings = self.app.runtime().settings
        queue = self._queue()
        producer = settings.producer_of_queue(queue)
        if producer is not None:
            if self.name != INTAKE_TASK:
                return f"an intake queue lets in {INTAKE_TASK} only"
            if kwargs.get("producer", producer) != producer:
                return "the intake queue names the producer; a message cannot name another"
            return ""
        if queue is None or settings.is_own_queue(queue):  # None: applied locally, not read from a broker
            return ""
        return "not one of giftq's queues, nor the intake queue of a producer in GIFTQ_INTAKE_PRODUCERS"


def _too_many_deliveries(task: GiftqTask, args: tuple, kwargs: dict) -> bool:
    """Whether the broker delivered this message more often than allowed (it counts them: worker/broker.py `QoS`);
    then it is parked. A task not delivered by a broker (applied in this process) carries no count."""
    rt = task.app.runtime()  # giftq's app (worker/celery.py) holds this process's runtime
    count = task.request.get(DELIVERY_HEADER)
    if not isinstance(count, int) or count <= rt.settings.max_deliveries:
        return False
    # The queue it came in on: a replay must keep the door it came through.
    letter = {"task": task.name, "id": task.request.id, "queue": task._queue(), "args": args, "kwargs": kwargs,
              "at": time.time()}  # fmt: skip
    body = json.dumps(letter, default=str)
    if len(body) > DEAD_LETTER_MAX_BYTES:  # a producer's message may be large: the store keeps a bounded trace
        digest = hashlib.sha256(json.dumps([args, kwargs], default=str).encode()).hexdigest()
        body = json.dumps({**letter, "args": None, "kwargs": None, "arguments_sha256": digest}, default=str)
    with rt.redis.pipeline() as pipe:
        pipe.rpush(rt.keys.dead_letters(), body).ltrim(rt.keys.dead_letters(), -DEAD_LETTERS_KEPT, -1).execute()
    metrics.DEAD_LETTERS.labels(task.name).inc()
    logger.error("task %s[%s] delivered %d times: parked as a dead letter", task.name, task.request.id, count)
    return True
