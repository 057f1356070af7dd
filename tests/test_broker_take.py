"""How giftq's broker transport takes a message (worker/broker.py `Channel`, worker/lua/take_message.lua).

kombu's own Redis transport pops a message with BRPOP and records it as unacknowledged in a second command; a
worker killed between the two loses the message for good (the chaos test caught it now and then). giftq's takes a
waiting message and records it in one command, so a consumer that dies right after taking leaves it where kombu's
visibility timeout puts it back. These tests run kombu's consumer over a real Redis, without a worker.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest
import redis
from celery import Celery
from kombu import Connection, Consumer, Queue

from tests.broker_messages import queued, taken

QUEUE = "giftq"


class Died(Exception):
    """The consumer's process, as if killed where this is raised."""


@pytest.fixture
def broker_prefix(key_prefix: str) -> str:
    return f"{key_prefix}:broker:"


@pytest.fixture
def send(redis_url: str, broker_prefix: str) -> Iterator:
    """Send a task message by name to `giftq`, as a producer does."""
    app = Celery(broker=redis_url)
    app.conf.broker_transport_options = {"global_keyprefix": broker_prefix}
    yield lambda task_id: app.send_task("giftq.poll_order", args=["r-1"], task_id=task_id, queue=QUEUE)
    app.close()


def _drain_until(connection: Connection, condition: Callable[[], bool], *, what: str, before=lambda: None) -> None:
    """Let the consumer take messages until `condition()` holds (`before()` is called each round); fail after 10 s."""
    deadline = time.monotonic() + 10
    while not condition():
        assert time.monotonic() < deadline, f"timed out after 10 s waiting for {what}"
        before()
        try:
            connection.drain_events(timeout=0.5)
        except TimeoutError:
            pass


def _connection(redis_url: str, broker_prefix: str, **options: object) -> Connection:
    return Connection(redis_url, transport="worker.broker:Transport",
                      transport_options={"global_keyprefix": broker_prefix, **options})  # fmt: skip


def test_a_consumer_that_dies_right_after_taking_a_message_leaves_it_to_be_delivered_again(
    redis_url: str, broker_prefix: str, redis_client: redis.Redis, send
) -> None:
    # Given a message waiting, and a consumer that dies as soon as the transport has taken it, before anything runs
    send("task-1")

    def die(message: dict, queue: str) -> None:
        raise Died

    with _connection(redis_url, broker_prefix) as connection:
        connection.transport._deliver = die
        with Consumer(connection, [Queue(QUEUE)], callbacks=[lambda body, message: None], accept=["json"]):
            with pytest.raises(Died):
                connection.drain_events(timeout=5)

    # Then the message is no longer waiting, but recorded as taken and not acknowledged
    assert queued(redis_client, broker_prefix, QUEUE) == []
    assert [message.task_id for message in taken(redis_client, broker_prefix)] == ["task-1"]

    # And once its visibility timeout has passed, another consumer gets it again
    got = []
    with _connection(redis_url, broker_prefix, visibility_timeout=1) as connection:
        with Consumer(connection, [Queue(QUEUE)], callbacks=[lambda body, message: got.append(message)],
                      accept=["json"]):  # fmt: skip
            qos = connection.default_channel.qos
            _drain_until(
                connection,
                lambda: got,
                what="the message again",
                before=lambda: qos.restore_visible(num=10, interval=1),
            )
            assert [message.headers["id"] for message in got] == ["task-1"]
            assert got[0].headers["giftq_deliveries"] == 2
            got[0].ack()
    assert taken(redis_client, broker_prefix) == [] and queued(redis_client, broker_prefix, QUEUE) == []


def test_after_the_queues_ran_dry_new_messages_are_delivered_recorded_and_acknowledged(
    redis_url: str, broker_prefix: str, redis_client: redis.Redis, send
) -> None:
    # Given a consumer that found nothing waiting (it then waits with kombu's BRPOP)
    got = []
    with _connection(redis_url, broker_prefix) as connection:
        with Consumer(connection, [Queue(QUEUE)], callbacks=[lambda body, message: got.append(message)],
                      accept=["json"]):  # fmt: skip
            with pytest.raises(TimeoutError):
                connection.drain_events(timeout=0.5)

            # When a message comes, and then a second once the first is acknowledged
            send("task-1")
            _drain_until(connection, lambda: len(got) >= 1, what="message 1")
            assert [message.task_id for message in taken(redis_client, broker_prefix)] == ["task-1"]
            got[0].ack()
            send("task-2")
            _drain_until(connection, lambda: len(got) >= 2, what="message 2")

            # Then each is delivered once and counted once, and the first's acknowledgement was written (with the
            # take of the second), while the second stays recorded until it is acknowledged
            assert [message.headers["id"] for message in got] == ["task-1", "task-2"]
            assert [message.headers["giftq_deliveries"] for message in got] == [1, 1]
            assert [message.task_id for message in taken(redis_client, broker_prefix)] == ["task-2"]
            got[1].ack()
    # And an acknowledgement still due when the consumer stops is written then
    assert taken(redis_client, broker_prefix) == [] and queued(redis_client, broker_prefix, QUEUE) == []


def test_a_message_redis_can_parse_and_python_cannot_is_dropped_and_the_next_one_delivered(
    redis_url: str, broker_prefix: str, redis_client: redis.Redis, send
) -> None:
    # Given a sender's malformed message (a raw tab inside a string: Redis's JSON parser takes it, Python's does
    # not), and a good message after it
    redis_client.lpush(broker_prefix + QUEUE, b'{"properties": {"delivery_tag": "bad\ttag"}, "body": "x"}')
    send("task-1")

    # When a consumer takes them
    got = []
    with _connection(redis_url, broker_prefix) as connection:
        with Consumer(connection, [Queue(QUEUE)], callbacks=[lambda body, message: got.append(message)],
                      accept=["json"]):  # fmt: skip
            _drain_until(connection, lambda: got, what="the good message")

            # Then the malformed one is dropped, not kept as unacknowledged (where it would fail every restore),
            # and the good one is delivered
            assert [message.headers["id"] for message in got] == ["task-1"]
            assert redis_client.hkeys(broker_prefix + "unacked") == [got[0].delivery_tag.encode()]
            got[0].ack()
    assert queued(redis_client, broker_prefix, QUEUE) == [] and taken(redis_client, broker_prefix) == []
