"""Reading task messages where kombu's Redis transport keeps them: a queue's list, and the hash of messages a
worker has taken but not acknowledged. For tests that must see or copy the very message giftq sent."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass

import redis

UNACKED = "unacked"  # kombu's hash of delivered, unacknowledged messages: delivery tag -> [message, exchange, key]


@dataclass(frozen=True)
class TaskMessage:
    """One Celery task message as the broker holds it: `raw` is its exact bytes, to push it again unchanged."""

    raw: bytes
    task: str
    task_id: str
    args: list

    @classmethod
    def parse(cls, raw: bytes) -> TaskMessage:
        return cls.from_payload(raw, json.loads(raw))

    @classmethod
    def from_payload(cls, raw: bytes, payload: dict) -> TaskMessage:
        body = payload["body"]
        if payload.get("properties", {}).get("body_encoding") == "base64":
            body = base64.b64decode(body)
        args, _kwargs, _embed = json.loads(body)
        return cls(raw, payload["headers"]["task"], payload["headers"]["id"], args)


def queued(client: redis.Redis, broker_prefix: str, queue: str) -> list[TaskMessage]:
    """The messages waiting in `queue`, none taken yet."""
    return [TaskMessage.parse(raw) for raw in client.lrange(broker_prefix + queue, 0, -1)]


def taken(client: redis.Redis, broker_prefix: str) -> list[TaskMessage]:
    """The messages workers have taken and not acknowledged (running, or held for their ETA)."""
    messages = []
    for raw in client.hvals(broker_prefix + UNACKED):
        payload, _exchange, _routing_key = json.loads(raw)
        messages.append(TaskMessage.from_payload(json.dumps(payload).encode(), payload))
    return messages


def push_again(client: redis.Redis, broker_prefix: str, queue: str, message: TaskMessage) -> None:
    """Put a copy of `message`, byte for byte (same task id), into `queue`: a second delivery of the same message."""
    client.lpush(broker_prefix + queue, message.raw)
