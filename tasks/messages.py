"""giftq's own task messages on the hot path, written in one LPUSH: Celery's message, without Celery's publish.

A slot's placing task and an order's poll are each enqueued once per order. Celery's `apply_async` spends most of
its CPU around the one Redis command that matters: reading its configuration through several layers, declaring
the queue, copying kombu entities, building a result object nobody reads. `send` builds the same message (Celery's
task protocol 2, kombu's Redis envelope: `test_messages.py` holds the two side by side) and pushes it with the
broker channel's own client, for about half of the CPU.

If the push fails (the broker's connection broke), the message goes through `apply_async`, with its id, so
kombu's reconnection and Celery's publish retry policy apply as they would have; a push that reached Redis
before the failure makes the message twice, which every task of giftq takes as a duplicate delivery.
"""

from __future__ import annotations

import base64
import functools
import os
import uuid
from datetime import UTC, datetime, timedelta

from celery import Celery, Task
from celery._state import get_current_worker_task
from celery.utils.nodenames import anon_nodename
from kombu.exceptions import OperationalError
from kombu.utils.json import dumps
from redis.exceptions import RedisError

NO_CANVAS = {"callbacks": None, "errbacks": None, "chain": None, "chord": None}


def send(task: Task, args: list, kwargs: dict | None = None, *, queue: str | None = None,
         countdown_s: float | None = None, retry: bool = True) -> str:  # fmt: skip
    """Enqueue `task` with `args` and `kwargs` in `queue` (the task's route in config/celery.py unless given), due
    `countdown_s` from now; its task id.

    `retry=False`: a failed push raises (kombu's OperationalError, a RedisError or an OSError) instead of falling
    back to `apply_async`.
    """
    kwargs = kwargs or {}
    queue = queue or _routed_queue(task.app, task.name)
    task_id = str(uuid.uuid4())
    eta = datetime.now(UTC) + timedelta(seconds=countdown_s) if countdown_s else None
    message = task_message(task, task_id, args, kwargs, queue=queue, eta=eta)
    try:
        with task.app.pool.acquire(block=True) as connection:  # the broker connection Celery's publish would use
            connection.default_channel._put(queue, message)  # kombu's own push: the key prefix, the envelope's JSON
    except (OperationalError, RedisError, OSError):
        if not retry:
            raise
        task.apply_async(args=args, kwargs=kwargs, queue=queue, eta=eta, task_id=task_id)
    return task_id


def task_message(task: Task, task_id: str, args: list, kwargs: dict, *, queue: str, eta: datetime | None) -> dict:
    """The message Celery's `apply_async` would enqueue for `task`, as kombu's Redis transport stores it."""
    parent = get_current_worker_task()
    parent_id = parent.request.id if parent else None
    root_id = (parent.request.root_id or parent_id) if parent else task_id
    headers = {
        "lang": "py",
        "task": task.name,
        "id": task_id,
        "shadow": None,
        "eta": eta.isoformat() if eta else None,
        "expires": None,
        "group": None,
        "group_index": None,
        "retries": 0,
        "timelimit": [None, None],
        "root_id": root_id,
        "parent_id": parent_id,
        "argsrepr": repr(args),
        "kwargsrepr": repr(kwargs),
        "origin": _origin(),
        "ignore_result": task.ignore_result,
        "replaced_task_nesting": 0,
        "stamped_headers": None,
        "stamps": {},
    }
    body = base64.b64encode(dumps([args, kwargs, NO_CANVAS]).encode()).decode()
    properties = {
        "correlation_id": task_id,
        "reply_to": task.app.thread_oid,
        "delivery_mode": 2,
        "delivery_info": {"exchange": "", "routing_key": queue},
        "priority": 0,
        "body_encoding": "base64",
        "delivery_tag": str(uuid.uuid4()),
    }
    return {"body": body, "content-encoding": "utf-8", "content-type": "application/json", "headers": headers,
            "properties": properties}  # fmt: skip


@functools.cache
def _routed_queue(app: Celery, task_name: str) -> str:
    """The queue Celery's router sends `task_name` to (`task_routes`), asked once per process: the routes are
    configuration, read at start."""
    return app.amqp.router.route({}, task_name)["queue"].name


def _origin() -> str:
    """Celery's name for the sending process (gen<pid>@<host>), worked out once per process: a forked pool process
    is a sender of its own."""
    return _origin_of(os.getpid())


@functools.cache
def _origin_of(pid: int) -> str:
    return anon_nodename()
