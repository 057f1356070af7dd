"""giftq's own task messages (tasks/messages.py): `send` pushes the message Celery's `apply_async` would, field for
field, sent from a task or not; a push that fails still sends it, through `apply_async` and with the same id.

Every flow test runs them through real workers (a slot's placing task, a poll); here each is set beside Celery's.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import datetime
from types import SimpleNamespace

import pytest
import redis
from celery._state import _task_stack

from config.settings import SCHEDULE_QUEUE, Settings
from tasks import messages
from tasks.orders import poll_order
from tasks.placing import place_reserved
from worker.broker import Channel
from worker.celery import app


class RunningTask:
    """What Celery's task stack holds while a worker runs a task (`get_current_worker_task` reads its request)."""

    request = SimpleNamespace(id="parent-task", root_id="root-task", called_directly=False)

    def add_trail(self, result: object) -> None:
        """Celery's list of a task's children, kept for a result backend (giftq keeps no results: not sent)."""


@pytest.fixture
def queue(settings: Settings) -> Iterator[str]:
    """A queue of this test's own in the app's broker (its settings are read from the environment on first use:
    this test's, unless an earlier test's came first); emptied afterwards."""
    name = f"test-messages-{uuid.uuid4().hex[:8]}"
    yield name
    _client().delete(_key(name))


def _client() -> redis.Redis:
    return app.connection_for_write().default_channel.client


def _key(queue: str) -> str:
    return app.conf.broker_transport_options.get("global_keyprefix", "") + queue


def _messages(queue: str) -> list[dict]:
    """The queue's messages, the oldest first."""
    return [json.loads(raw) for raw in reversed(_client().lrange(_key(queue), 0, -1))]


def _unique_fields_dropped(message: dict) -> tuple[dict, datetime | None]:
    """The message without what differs between any two messages (ids, the delivery tag), and its ETA."""
    headers, properties = message["headers"], message["properties"]
    own_id = headers["id"]
    for field in ("id", "root_id", "parent_id"):
        if headers[field] == own_id:
            headers[field] = "<its own id>"
    properties["correlation_id"] = "<its own id>" if properties["correlation_id"] == own_id else "?"
    del properties["delivery_tag"]
    eta = headers.pop("eta")
    return message, datetime.fromisoformat(eta) if eta else None


@pytest.mark.parametrize("countdown_s", [None, 3.0])
@pytest.mark.parametrize("from_a_task", [False, True])
def test_send_pushes_the_message_apply_async_would(queue: str, countdown_s: float | None, from_a_task: bool) -> None:
    args, kwargs = [str(uuid.uuid4())], {"attempt": 2}
    if from_a_task:  # as in a worker's task: the message names it as its parent, and its root as its root
        _task_stack.push(RunningTask())
    try:
        ours_id = messages.send(poll_order, args, kwargs, queue=queue, countdown_s=countdown_s)
        theirs_id = poll_order.apply_async(args=args, kwargs=kwargs, queue=queue, countdown=countdown_s).id
    finally:
        if from_a_task:
            _task_stack.pop()

    ours, theirs = _messages(queue)
    assert (ours["headers"]["id"], theirs["headers"]["id"]) == (ours_id, theirs_id)
    assert ours["properties"]["delivery_tag"] != theirs["properties"]["delivery_tag"]
    if from_a_task:
        assert (ours["headers"]["parent_id"], ours["headers"]["root_id"]) == ("parent-task", "root-task")
    (ours, our_eta), (theirs, their_eta) = _unique_fields_dropped(ours), _unique_fields_dropped(theirs)
    assert ours == theirs
    if countdown_s is None:
        assert our_eta is their_eta is None
    else:
        assert our_eta.utcoffset() == their_eta.utcoffset()
        assert abs((their_eta - our_eta).total_seconds()) < 1


def test_without_a_queue_a_message_goes_where_the_tasks_route_sends_it(settings: Settings) -> None:
    # poll_order's route (config/celery.py task_routes) is the schedule queue; apply_async would send it there too
    task_id = messages.send(poll_order, [str(uuid.uuid4())], {"attempt": 0})
    waiting = _client().lrange(_key(SCHEDULE_QUEUE), 0, -1)
    [raw] = [raw for raw in waiting if json.loads(raw)["headers"]["id"] == task_id]
    _client().lrem(_key(SCHEDULE_QUEUE), 1, raw)  # the queue may hold earlier tests' messages: only this one goes


def test_a_push_that_fails_is_sent_by_apply_async_with_its_id(queue: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a broker connection that breaks on the first push, as a restarted Redis does
    original, pushes = Channel._put, []

    def put_failing_once(self, queue, message, **options):  # noqa: ANN001, ANN202 - kombu's signature
        pushes.append(message["headers"]["id"])
        if len(pushes) == 1:
            raise redis.ConnectionError("Connection reset by peer")
        return original(self, queue, message, **options)

    monkeypatch.setattr(Channel, "_put", put_failing_once)

    # When a message is sent
    task_id = messages.send(place_reserved, ["giftq-demo", "r-1", 123, "token"], queue=queue, countdown_s=0.5)

    # Then Celery's publish sent it again, once, with the same id
    assert pushes == [task_id, task_id]
    [message] = _messages(queue)
    assert message["headers"]["id"] == task_id and message["headers"]["task"] == "giftq.place_reserved"


def test_a_push_that_fails_raises_where_no_retry_is_wanted(queue: str, monkeypatch: pytest.MonkeyPatch) -> None:
    def put_failing(self, queue, message, **options):  # noqa: ANN001, ANN202 - kombu's signature
        raise redis.ConnectionError("Connection reset by peer")

    monkeypatch.setattr(Channel, "_put", put_failing)
    with pytest.raises(redis.ConnectionError):
        messages.send(place_reserved, ["giftq-demo", "r-1", 123, "token"], queue=queue, retry=False)
    assert _messages(queue) == []
