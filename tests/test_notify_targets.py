"""Notify tasks go only to a task and queue giftq's operator configured for the order's producer
(GIFTQ_NOTIFY_TASKS): an order naming another producer's queue, or one of giftq's own tasks or queues, is refused
at intake (`NotifyTaskNotAllowed`), and an attempt sends nothing the settings no longer allow.

The attacks: a notification delivered into another producer's queue, and `giftq.kick_schedules` or
`giftq.submit_order` run on giftq's own queues.
"""

from __future__ import annotations

import uuid

import pytest
import redis
from celery import Celery

from tests.notify_helpers import final_order, notifier_for
from tests.waiting import final_state, wait_for
from worker.errors import OrderRejected
from worker.orders import states
from worker.orders.intake import Intake
from worker.orders.notifications import FAILING
from worker.orders.notify_rules import NotifyRules
from worker.runtime import Runtime

pytestmark = pytest.mark.timeout(60)

CONFIGURED = "shop:shop.order_done@shop,blog:blog.order_done@blog"
NOT_CONFIGURED_FOR_THE_PRODUCER = {
    "another producer's task and queue": ("blog", "shop.order_done", "shop"),
    "its task on another producer's queue": ("shop", "shop.order_done", "blog"),
    "a task never configured": ("shop", "shop.refund", "shop"),
    "giftq.kick_schedules on giftq": ("shop", "giftq.kick_schedules", "giftq"),
    "giftq.submit_order on giftq": ("shop", "giftq.submit_order", "giftq"),
    "its task on giftq.notify": ("shop", "shop.order_done", "giftq.notify"),
    "its task on celery": ("shop", "shop.order_done", "celery"),
}


@pytest.fixture(autouse=True)
def targets_env(giftq_env: dict[str, str]) -> dict[str, str]:
    giftq_env.update(GIFTQ_NOTIFY_TASKS=CONFIGURED)
    return giftq_env


def an_order(task: str, queue: str) -> dict:
    return {"RequestId": str(uuid.uuid4()), "AccountId": 555,
            "Products": [{"ProductId": 100001, "Quantity": 1, "Value": 25}],
            "Notify": {"Task": task, "Queue": queue}}  # fmt: skip


@pytest.mark.parametrize(("producer", "task", "queue"), NOT_CONFIGURED_FOR_THE_PRODUCER.values(),
                         ids=NOT_CONFIGURED_FOR_THE_PRODUCER)  # fmt: skip
def test_a_notify_task_not_configured_for_the_producer_is_refused_at_intake(
    rt: Runtime, producer: str, task: str, queue: str
) -> None:
    enqueued: list[str] = []
    order = an_order(task, queue)
    with pytest.raises(OrderRejected) as refused:
        rt.intake(enqueued.append).submit(order, producer=producer)
    assert refused.value.reason == "NotifyTaskNotAllowed"
    assert (rt.store.get(order["RequestId"]).state, enqueued) == (states.REJECTED, [])


def test_a_configured_notify_task_is_accepted(rt: Runtime) -> None:
    enqueued: list[str] = []
    order = an_order("blog.order_done", "blog")
    assert rt.intake(enqueued.append).submit(order, producer="blog").created
    assert enqueued == [order["RequestId"]]


def test_giftqs_own_names_are_refused_even_by_rules_that_list_them(rt: Runtime) -> None:
    # Settings cannot hold them (tests/test_notify_settings.py); intake refuses them on its own as well.
    rules = NotifyRules(tasks={"shop": frozenset({("giftq.kick_schedules", "shop"), ("shop.order_done", "giftq")})})
    intake = Intake(store=rt.store, catalog_for=rt.catalog, credential_for=rt.credential_for,
                    sandbox_mode_for=lambda _: True,
                    enqueue=lambda _: None, notify_rules=rules)  # fmt: skip
    for task, queue in (("giftq.kick_schedules", "shop"), ("shop.order_done", "giftq")):
        with pytest.raises(OrderRejected) as refused:
            intake.submit(an_order(task, queue), producer="shop")
        assert refused.value.reason == "NotifyTaskNotAllowed"


def test_through_a_worker_an_order_aiming_at_another_producers_queue_or_giftqs_tasks_is_refused(
    giftq_env: dict[str, str], rt: Runtime, producer: Celery, start_workers
) -> None:
    # Given a worker, and shop's queue with nobody consuming it
    start_workers(1)
    orders = [an_order("shop.order_done", "shop"), an_order("giftq.kick_schedules", "giftq"),
              an_order("giftq.submit_order", "giftq")]  # fmt: skip
    # When producer blog sends orders whose Notify names shop's queue, or giftq's own tasks and queue
    for order in orders:
        producer.send_task("giftq.submit_order", args=[order], kwargs={"producer": "blog"})
    # Then each is refused with its reason, and nothing was put on shop's queue
    request_ids = [order["RequestId"] for order in orders]
    wait_for(lambda: all(final_state(rt, rid) for rid in request_ids), timeout_s=30, what="every order refused")
    assert {(rt.store.get(rid).state, rt.store.get(rid).reason) for rid in request_ids} == {
        (states.REJECTED, "NotifyTaskNotAllowed")
    }
    client = redis.Redis.from_url(giftq_env["GIFTQ_REDIS_URL"])
    assert client.llen(f"{giftq_env['GIFTQ_BROKER_KEY_PREFIX']}shop") == 0
    client.close()


def test_an_attempt_sends_no_task_the_settings_no_longer_allow(rt: Runtime) -> None:
    # Given an order accepted with shop's task, and settings from which the operator has since removed it
    record = final_order(rt, {"Task": "shop.order_done", "Queue": "shop"})
    sent: list[tuple] = []
    notifier = notifier_for(rt, send_task=lambda *args, **kwargs: sent.append((args, kwargs)), notify_tasks={})
    # When it is notified, then nothing is sent and the attempt fails with a coarse reason
    assert notifier.deliver(record, 0).state == FAILING
    assert sent == []
    assert rt.store.get(record.request_id).notification["last_error"] == "task: not-allowed"
