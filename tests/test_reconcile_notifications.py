"""Reconciliation restarts a lost notification wherever it lies among the final orders, not only the oldest 500."""

from __future__ import annotations

import json
import uuid

import pytest

from tests.waiting import wait_for
from worker.orders import states
from worker.runtime import Runtime

pytestmark = pytest.mark.timeout(120)

NOTIFY = json.dumps({"Queue": "shop.notifications", "Task": "shop.order_done"})


def a_final_order(rt: Runtime, *, told: bool) -> str:
    """A fulfilled order whose producer asked to be told, as a process that died right after its final move
    leaves it (nothing enqueued its notification); `told`: its notification was delivered."""
    request_id = str(uuid.uuid4())
    rt.store.create(request_id, {"RequestId": request_id}, producer="shop", credential="giftq-demo")
    for state in (states.SUBMITTING, states.PLACED, states.FULFILLED):
        rt.store.transition(request_id, state)
    rt.store.set_fields(request_id, {"notify": NOTIFY, **({"notify_state": "delivered"} if told else {})})
    return request_id


def test_a_lost_notification_among_600_final_orders_is_restarted(
    giftq_env: dict[str, str], rt: Runtime, start_workers
) -> None:
    # Given 600 fulfilled orders, all told but one, which lies past the oldest 500
    request_ids = [a_final_order(rt, told=index != 550) for index in range(600)]
    lost = request_ids[550]
    assert rt.store.request_ids(states.FULFILLED, 600).index(lost) == 550
    assert not rt.store.get(lost).notification

    # When beat's reconciliation runs (every second here)
    giftq_env.update(GIFTQ_RECONCILE_INTERVAL_S="1", GIFTQ_STUCK_AFTER_S="1")
    start_workers(1, beat=True)

    # Then the lost order's notification begins, and no told order's is begun again
    wait_for(lambda: rt.store.get(lost).notification.get("attempts"), timeout_s=60, what="the lost one notified")
    assert all(rt.store.get(rid).notification == {"state": "delivered"} for rid in request_ids if rid != lost)
