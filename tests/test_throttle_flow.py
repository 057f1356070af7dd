"""The throttle over the real stack: worker processes, backlogs with a hot product, a sandbox on a scaled clock.

giftq runs with its least margin and the independent judge (sandbox/judge.py) holds the sandbox's call log to the
bare rules, so any scheduling error larger than 10 ms fails the test.
"""

from __future__ import annotations

import re
import uuid
from collections import Counter
from pathlib import Path

import pytest
from celery import Celery

from tests.conftest import SCALED
from tests.judging import MIN_MARGIN_ENV, assert_within_limits
from tests.waiting import cards_of, final_state, wait_for
from worker.cli.processes import Sandbox
from worker.orders import states
from worker.runtime import Runtime

pytestmark = pytest.mark.timeout(120)

HOT, OTHERS = 100002, (439685, 100001, 100003, 100004)
VALUE = {439685: "10", 100001: "25", 100002: "50", 100003: "20", 100004: "30"}


@pytest.fixture
def scaled_env(giftq_env: dict[str, str], scaled_sandbox: Sandbox) -> dict[str, str]:
    """The scheduler of one provider order per producer order (coalescing off: tests/test_coalescing_*.py pack)."""
    giftq_env.update(
        GIFTQ_BAMBOO_COALESCE="0",
        GIFTQ_BAMBOO_BASE_URL=scaled_sandbox.url,
        GIFTQ_BAMBOO_SPACING_MS=str(SCALED["spacing_ms"]),
        GIFTQ_BAMBOO_PRODUCT_LIMIT=str(SCALED["product_limit"]),
        GIFTQ_BAMBOO_PRODUCT_WINDOW_MS=str(SCALED["product_window_ms"]),
        **MIN_MARGIN_ENV,
    )
    return giftq_env


def test_a_hot_product_waits_for_its_window_while_every_other_product_goes_first(
    scaled_env: dict[str, str], rt: Runtime, producer: Celery, scaled_sandbox: Sandbox, start_workers, tmp_path: Path
) -> None:
    # Given 4 worker processes and a backlog that starts with 18 orders of one hot product
    start_workers(4, concurrency=1)
    hot = [order(HOT) for _ in range(18)]
    others = [order(OTHERS[i % len(OTHERS)]) for i in range(20)]
    for each in hot + others:
        producer.send_task("giftq.submit_order", args=[each])
    request_ids = {each["RequestId"] for each in hot + others}

    # When every order is final
    wait_for(lambda: all(final_state(rt, rid) for rid in request_ids), timeout_s=60, what="38 final orders")

    # Then all are fulfilled, the judge finds no limit broken, and there is exactly one charge each
    assert {final_state(rt, rid) for rid in request_ids} == {states.FULFILLED}
    assert_within_limits(scaled_sandbox, request_ids)
    accepted = scaled_sandbox.admin("GET", "findings")["accepted_request_ids"]
    assert sorted(rid for rid in accepted if rid in request_ids) == sorted(request_ids)
    # And the other products were all placed well before the hot product's last window opened
    arrivals = {call["request_id"]: call["at"] for call in scaled_sandbox.admin("GET", "calls")["calls"]
                if call["path"].endswith("/orders/checkout") and call["status"] == 200}  # fmt: skip
    last_other = max(arrivals[each["RequestId"]] for each in others)
    last_hot = max(arrivals[each["RequestId"]] for each in hot)
    assert last_hot - last_other > 2.0, f"others ended {last_hot - last_other:.2f} s before the hot product"


def test_orders_of_several_products_each_count_in_every_products_window(
    scaled_env: dict[str, str], rt: Runtime, producer: Celery, scaled_sandbox: Sandbox, start_workers
) -> None:
    # Given 4 worker processes, 10 orders that each hold the hot product and another one, and 8 of two others
    start_workers(4, concurrency=1)
    with_hot = [order(HOT, OTHERS[i % len(OTHERS)]) for i in range(10)]
    without = [order(OTHERS[i % len(OTHERS)], OTHERS[(i + 1) % len(OTHERS)]) for i in range(8)]
    for each in with_hot + without:
        producer.send_task("giftq.submit_order", args=[each])
    request_ids = {each["RequestId"] for each in with_hot + without}

    # When every order is final
    wait_for(lambda: all(final_state(rt, rid) for rid in request_ids), timeout_s=60, what="18 final orders")

    # Then all are fulfilled with a card of each of their products, and the judge finds no limit broken: no
    # more than 6 orders holding one product in any 3 s, whichever other products they hold
    assert {final_state(rt, rid) for rid in request_ids} == {states.FULFILLED}
    for each in with_hot + without:
        cards = cards_of(rt, each["RequestId"])
        assert sorted(card["product_id"] for card in cards) == sorted(line["ProductId"] for line in each["Products"])
    report = assert_within_limits(scaled_sandbox, request_ids)
    assert report.place_orders >= 18


def test_a_placing_task_that_comes_before_its_slot_waits_for_it_and_claims_it_on_its_first_run(
    scaled_env: dict[str, str], rt: Runtime, producer: Celery, scaled_sandbox: Sandbox, start_workers
) -> None:
    # Given a sandbox whose windows hold no earlier test's orders, one worker process and five orders of five
    # products: every placing task after the first is enqueued to come lead_ms (30 ms) before its slot, 100 ms
    # after the one before
    scaled_sandbox.admin("POST", "reset")
    (worker,) = start_workers(1, concurrency=1)
    orders = [order(product_id) for product_id in (HOT, *OTHERS)]
    for each in orders:
        producer.send_task("giftq.submit_order", args=[each])
    request_ids = {each["RequestId"] for each in orders}

    # When every order is final
    wait_for(lambda: all(final_state(rt, rid) for rid in request_ids), timeout_s=60, what="5 final orders")

    # Then all are fulfilled within the provider's spacing, and each placing task ran once: it waited for its slot
    # and claimed it, none was told it was early and came back (a retry is received again, under the same task id).
    # A slot whose request could not leave within its send budget (a loaded host) parks its order for a slot and a
    # placing task of its own: more tasks than orders, each received once all the same
    assert {final_state(rt, rid) for rid in request_ids} == {states.FULFILLED}
    report = assert_within_limits(scaled_sandbox, request_ids)
    assert report.place_orders == 5
    received = Counter(re.findall(r"Task giftq\.place_reserved\[([0-9a-f-]+)\] received", worker.log_path.read_text()))
    assert len(received) >= 5, f"the worker's log names {len(received)} placing tasks, fewer than the 5 orders"
    again = {task_id: times for task_id, times in received.items() if times > 1}
    assert not again, f"placing tasks received again (retried): {again}"


def order(*product_ids: int) -> dict:
    return {
        "RequestId": str(uuid.uuid4()),
        "AccountId": 555,
        "Products": [
            {"ProductId": product_id, "Quantity": 1, "Value": VALUE[product_id]} for product_id in product_ids
        ],
    }
