"""How a worker takes turns between its queues (config/celery.py, worker/broker.py `PatientCycle`).

While there are new orders to take in, the schedule queue is served once after every SCHEDULE_TURN_AFTER messages
of the others; when they have none, at once. A real worker (concurrency 1, so one message at a time) reads
messages queued before it started, and its log says in which order it received them.
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest
from celery import Celery

from config.settings import SCHEDULE_QUEUE, SCHEDULE_TURN_AFTER
from tests.waiting import wait_for
from worker.broker import PatientCycle

pytestmark = pytest.mark.timeout(60)

RECEIVED = re.compile(r"Task (giftq\.[a-z_]+)\[[0-9a-f-]+\] received")
QUEUE_OF = {"giftq.submit_order": "giftq", "giftq.poll_order": SCHEDULE_QUEUE}


def _received(log: Path) -> list[str]:
    return [QUEUE_OF[name] for name in RECEIVED.findall(log.read_text(errors="replace"))]


def test_the_schedule_queue_waits_for_its_turn_while_new_orders_wait_and_not_once_they_are_taken_in(
    producer: Celery, start_workers
) -> None:
    # Given 10 orders in giftq's queue (refused at once: no products) and 3 polls of unknown orders in the
    # schedule queue, queued before the worker starts
    others, patient = 10, 3
    for _ in range(others):
        producer.send_task("giftq.submit_order", args=[{"RequestId": str(uuid.uuid4()), "AccountId": 555}],
                           queue="giftq")  # fmt: skip
    for _ in range(patient):
        producer.send_task("giftq.poll_order", args=[str(uuid.uuid4())], queue=SCHEDULE_QUEUE)

    # When one worker at concurrency 1 takes them
    (worker,) = start_workers(1, concurrency=1)
    order = wait_for(lambda: seen if len(seen := _received(worker.log_path)) == others + patient else None,
                     timeout_s=30, what="every message received")  # fmt: skip

    # Then each schedule message came after SCHEDULE_TURN_AFTER of the others, and the last one, once the others
    # were all taken, at once
    after = SCHEDULE_TURN_AFTER
    assert order == ["giftq"] * after + [SCHEDULE_QUEUE] + ["giftq"] * after + [SCHEDULE_QUEUE] + [
        "giftq"] * (others - 2 * after) + [SCHEDULE_QUEUE]  # fmt: skip


def test_the_patient_queue_takes_its_place_in_the_round_robin_again_after_its_turn() -> None:
    cycle = PatientCycle("giftq.schedule", 2)
    cycle.update(["giftq", "giftq.schedule", "giftq.intake.shop"])

    # the patient queue goes last until the others were served twice
    assert cycle.consume(3) == ["giftq", "giftq.intake.shop", "giftq.schedule"]
    cycle.rotate("giftq")
    assert cycle.consume(3) == ["giftq.intake.shop", "giftq", "giftq.schedule"]
    cycle.rotate("giftq.intake.shop")
    # then it is first (kombu's round robin left it there), and the others take turns among themselves as before
    assert cycle.consume(3) == ["giftq.schedule", "giftq", "giftq.intake.shop"]
    cycle.rotate("giftq.schedule")
    assert cycle.consume(3) == ["giftq", "giftq.intake.shop", "giftq.schedule"]
    # a queue the channel no longer consumes is not given back
    cycle.update(["giftq", "giftq.schedule"])
    assert cycle.consume(2) == ["giftq", "giftq.schedule"]
