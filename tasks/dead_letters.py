"""Dead letters: task messages parked after too many deliveries (worker/delivery.py), listed and replayed.

A replay sends the letter's task by name, with its arguments, to the queue it came in on, as a new message: the
worker meets it as it meets any message (that queue's door; intake for an order), never by a shortcut. The
letter leaves the list only once its replay is on the broker.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from worker.celery import app
from worker.errors import GiftqError
from worker.redaction import task_argsrepr, task_kwargsrepr
from worker.runtime import Runtime

REPLAY_LOCK_S = 60  # a replay that died mid-way frees its letter after this long


class NotReplayable(GiftqError):
    """Raised when a dead letter cannot be replayed: no arguments kept, no queue, not a giftq task, or gone."""


@dataclass(frozen=True)
class DeadLetter:
    """One parked message as worker/delivery.py stored it; `raw` is its stored JSON, which names it in the list."""

    task: str
    id: str
    queue: str | None
    args: list | None
    kwargs: dict | None
    at: float
    raw: bytes

    @classmethod
    def from_raw(cls, raw: bytes) -> DeadLetter:
        letter = json.loads(raw)
        return cls(task=letter.get("task", ""), id=letter.get("id", ""), queue=letter.get("queue"),
                   args=letter.get("args"), kwargs=letter.get("kwargs"), at=float(letter.get("at") or 0),
                   raw=raw)  # fmt: skip


def dead_letters(rt: Runtime) -> list[DeadLetter]:
    """Every parked letter, oldest first."""
    return [DeadLetter.from_raw(raw) for raw in rt.redis.lrange(rt.keys.dead_letters(), 0, -1)]


def find(rt: Runtime, task_id: str) -> DeadLetter | None:
    """The oldest letter of the task message `task_id`, or None."""
    return next((letter for letter in dead_letters(rt) if letter.id == task_id), None)


def replay(rt: Runtime, letter: DeadLetter) -> str:
    """Send the letter's task again, as a new message to its queue; then drop the letter. Returns the new task id."""
    if letter.args is None or letter.kwargs is None:
        raise NotReplayable(f"dead letter {letter.id} kept only a digest of its arguments (too large to keep)")
    if not letter.queue:
        raise NotReplayable(f"dead letter {letter.id} names no queue it came in on")
    app.loader.import_default_modules()  # giftq's task modules, so `app.tasks` names every task a worker runs
    if letter.task not in app.tasks or not letter.task.startswith("giftq."):
        raise NotReplayable(f"dead letter {letter.id} is of {letter.task!r}, not one of giftq's tasks")
    lock = rt.keys.dead_letter_replay(letter.id)
    if not rt.redis.set(lock, "1", nx=True, ex=REPLAY_LOCK_S):
        raise NotReplayable(f"dead letter {letter.id} is being replayed by someone else")
    try:
        if rt.redis.lpos(rt.keys.dead_letters(), letter.raw) is None:
            raise NotReplayable(f"dead letter {letter.id} is no longer parked")
        shown = {"argsrepr": task_argsrepr(letter.args), "kwargsrepr": task_kwargsrepr(letter.kwargs)}
        sent = app.send_task(letter.task, args=letter.args, kwargs=letter.kwargs, queue=letter.queue, **shown)
        rt.redis.lrem(rt.keys.dead_letters(), 1, letter.raw)
        return sent.id
    finally:
        rt.redis.delete(lock)
