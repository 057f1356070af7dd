"""How a worker takes turns between its queues (config/celery.py, worker/broker.py `PatientCycle`).

While there are new orders to take in, the schedule queue is served once after every SCHEDULE_TURN_AFTER messages
of the others, however many queues they are in; when they have none, at once. The slots queue is served before
all of them. A real worker (concurrency 1, so one message at a time) reads messages queued before it started, and
its log says in which order it received them. Which of the two queues a slot's task goes to: tasks/placing.py
`slots_queue`.
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest
from celery import Celery

from config.settings import SCHEDULE_QUEUE, SCHEDULE_TURN_AFTER, SLOTS_QUEUE, intake_queue
from tasks.placing import follow
from tests.broker_messages import queued
from tests.waiting import wait_for
from worker.broker import PatientCycle
from worker.celery import app
from worker.runtime import Runtime
from worker.throttle.scheduler import Go, Wait

pytestmark = pytest.mark.timeout(60)

RECEIVED = re.compile(r"Task (giftq\.[a-z_]+)\[[0-9a-f-]+\] received")
RECEIVED_ID = re.compile(r"Task giftq\.[a-z_]+\[([0-9a-f-]+)\] received")
OTHER = "other"  # a message of giftq's own queue or of an intake queue: an order to take in
PRODUCERS = ("shop", "blog", "p3", "p4", "p5", "p6")  # six intake queues, more than a turn's worth


def _send_order_refused_at_once(producer: Celery, queue: str) -> None:
    """An order without products: intake refuses it without a catalog, so its task is quick and sends nothing."""
    producer.send_task("giftq.submit_order", args=[{"RequestId": str(uuid.uuid4()), "AccountId": 555}], queue=queue)


def _two_orders_in_each_queue(giftq_env: dict[str, str], producer: Celery) -> list[str]:
    """Two orders refused at once in giftq's queue and in each of the six producers' intake queues; the queues."""
    giftq_env["GIFTQ_INTAKE_PRODUCERS"] = ",".join(PRODUCERS)
    queues = ["giftq", *map(intake_queue, PRODUCERS)]
    for queue in queues * 2:
        _send_order_refused_at_once(producer, queue)
    return queues


def _received(log: Path) -> list[str]:
    """The queue of each message the worker received, in order: the schedule queue, or another."""
    return [SCHEDULE_QUEUE if name == "giftq.poll_order" else OTHER
            for name in RECEIVED.findall(log.read_text(errors="replace"))]  # fmt: skip


def test_the_schedule_queue_waits_for_its_turn_while_new_orders_wait_and_not_once_they_are_taken_in(
    giftq_env: dict[str, str], producer: Celery, start_workers
) -> None:
    # Given two orders in giftq's queue and two in each of six producers' intake queues (refused at once: no
    # products), and 3 polls of unknown orders in the schedule queue, queued before the worker starts
    queues = _two_orders_in_each_queue(giftq_env, producer)
    patient = 3
    for _ in range(patient):
        producer.send_task("giftq.poll_order", args=[str(uuid.uuid4())], queue=SCHEDULE_QUEUE)

    # When one worker at concurrency 1 takes them
    (worker,) = start_workers(1, concurrency=1)
    everything = 2 * len(queues) + patient
    order = wait_for(lambda: seen if len(seen := _received(worker.log_path)) == everything else None,
                     timeout_s=30, what="every message received")  # fmt: skip

    # Then each schedule message came after SCHEDULE_TURN_AFTER of the others, however many queues they were in
    # (kombu's round robin would have served each of the seven before it), and the rest of the others after
    after = SCHEDULE_TURN_AFTER
    assert order == ([OTHER] * after + [SCHEDULE_QUEUE]) * patient + [OTHER] * (2 * len(queues) - patient * after)


def test_once_the_others_are_taken_in_the_schedule_queue_is_served_at_once(producer: Celery, start_workers) -> None:
    # Given 2 orders to take in and 3 polls, queued before the worker starts
    for _ in range(2):
        _send_order_refused_at_once(producer, "giftq")
    for _ in range(3):
        producer.send_task("giftq.poll_order", args=[str(uuid.uuid4())], queue=SCHEDULE_QUEUE)

    # When one worker at concurrency 1 takes them
    (worker,) = start_workers(1, concurrency=1)
    order = wait_for(lambda: seen if len(seen := _received(worker.log_path)) == 5 else None, timeout_s=30,
                     what="every message received")  # fmt: skip

    # Then the polls did not wait for turns of queues that had nothing
    assert order == [OTHER, OTHER, SCHEDULE_QUEUE, SCHEDULE_QUEUE, SCHEDULE_QUEUE]


def test_the_patient_queue_goes_first_when_its_turn_comes_whatever_its_place_in_the_round_robin() -> None:
    giftq, shop, blog, schedule = "giftq", "giftq.intake.shop", "giftq.intake.blog", "giftq.schedule"
    cycle = PatientCycle(schedule, 2)
    cycle.update([giftq, schedule, shop, blog])
    cycle.rotate(schedule)  # it was just served

    # it goes last until the others were served twice
    assert cycle.consume(4) == [giftq, shop, blog, schedule]
    cycle.rotate(giftq)
    assert cycle.consume(4) == [shop, blog, giftq, schedule]
    cycle.rotate(shop)
    # then first, though kombu's round robin has blog before it; the others keep their turns among themselves
    assert cycle.consume(4) == [schedule, blog, giftq, shop]
    cycle.rotate(blog)  # the schedule queue had nothing: it stays first until it is served
    assert cycle.consume(4) == [schedule, giftq, shop, blog]
    cycle.rotate(schedule)
    assert cycle.consume(4) == [giftq, shop, blog, schedule]


def test_the_slots_queue_is_served_before_every_other_queue_and_takes_none_of_their_turns(
    giftq_env: dict[str, str], producer: Celery, start_workers
) -> None:
    # Given two orders in giftq's queue and in each of six intake queues, 2 polls in the schedule queue, and then 3
    # messages in the slots queue (polls of unknown orders: quick, and they send nothing), queued before the worker
    queues = _two_orders_in_each_queue(giftq_env, producer)
    sent: dict[str, str] = {}
    for queue in [SCHEDULE_QUEUE] * 2 + [SLOTS_QUEUE] * 3:
        sent[producer.send_task("giftq.poll_order", args=[str(uuid.uuid4())], queue=queue).id] = queue

    # When one worker at concurrency 1 takes them
    (worker,) = start_workers(1, concurrency=1)
    everything = 2 * len(queues) + len(sent)

    def received() -> list[str]:
        return [
            sent.get(task_id, OTHER) for task_id in RECEIVED_ID.findall(worker.log_path.read_text("utf-8", "replace"))
        ]

    order = wait_for(lambda: seen if len(seen := received()) == everything else None, timeout_s=30,
                     what="every message received")  # fmt: skip

    # Then the slots queue's came first, though queued last; and the schedule queue's still had their turns after
    # SCHEDULE_TURN_AFTER of the others each, as if the slots queue's had not been there
    after = SCHEDULE_TURN_AFTER
    rest = 2 * len(queues) - 2 * after
    assert order == [SLOTS_QUEUE] * 3 + ([OTHER] * after + [SCHEDULE_QUEUE]) * 2 + [OTHER] * rest


def test_the_first_queue_is_asked_first_and_serving_it_counts_as_no_turn_of_the_others() -> None:
    giftq, shop, schedule, slots = "giftq", "giftq.intake.shop", "giftq.schedule", "giftq.slots"
    cycle = PatientCycle(schedule, 1, first=slots)
    cycle.update([giftq, schedule, slots, shop])
    cycle.rotate(schedule)
    assert cycle.consume(4) == [slots, giftq, shop, schedule]
    cycle.rotate(slots)  # neither a turn of the others nor a move in the round robin
    assert cycle.consume(4) == [slots, giftq, shop, schedule]
    cycle.rotate(giftq)  # one of the others: the schedule queue's turn has come
    assert cycle.consume(4) == [slots, schedule, shop, giftq]


def _where_sent(request_id: str) -> list[str]:
    """The queues holding a placing or schedule message naming `request_id` (a slot's task) or a Wait's token."""
    prefix = app.conf.broker_transport_options.get("global_keyprefix", "")
    client = app.connection_for_write().default_channel.client
    return [queue for queue in (SLOTS_QUEUE, SCHEDULE_QUEUE)
            for message in queued(client, prefix, queue) if request_id in message.args]  # fmt: skip


@pytest.mark.parametrize("coalesce", ["1", "0"])
def test_a_slot_waits_its_turn_where_orders_pack_and_goes_first_where_they_never_do(
    coalesce: str, giftq_env: dict[str, str], request: pytest.FixtureRequest
) -> None:
    # Given a credential whose orders pack (or, with coalesce 0, never do)
    giftq_env["GIFTQ_BAMBOO_COALESCE"] = coalesce
    rt: Runtime = request.getfixturevalue("rt")
    now_ms = rt.now_ms()
    ahead, due_now, look = (str(uuid.uuid4()) for _ in range(3))

    # When the schedule hands out a slot 400 ms ahead, one due now, and a look at the schedule 300 ms ahead
    follow(rt, "giftq-demo", Go(ahead, now_ms + 400, "token-1", now_ms=now_ms))
    follow(rt, "giftq-demo", Go(due_now, now_ms, "token-2", now_ms=now_ms))
    follow(rt, "giftq-demo", Wait(now_ms + 300, look, now_ms=now_ms))

    # Then where orders pack each waits its turns in the schedule queue (the orders taken in meanwhile ride in its
    # provider order); where they never do, each goes to the slots queue, served first
    queue = SCHEDULE_QUEUE if coalesce == "1" else SLOTS_QUEUE
    assert [_where_sent(ahead), _where_sent(due_now), _where_sent(look)] == [[queue]] * 3
