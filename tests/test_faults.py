"""Exactly once under faults, over the real stack: every fault ends fulfilled, charged once, no limit broken.

One sandbox on a scaled clock for the module (reset before each test), worker processes of each test's own,
short timeouts so unknown outcomes resolve in seconds. A fault at Place Order is resolved by the placing task's
own path (no beat, so no reconciliation); beat runs where a process dies and only reconciliation can help.
"Charged once" is counted from the sandbox's ledger (tests/fault_fixtures.py). giftq runs with its least margin,
and the independent judge (sandbox/judge.py) holds every call of the test's orders to the sandbox's bare rules.
The exactly-once tests run for both providers (`case`: Bamboo, and BHN on its own sandbox, tests/provider_cases.py),
each ending with one provider order per producer order by that sandbox's ledger.
"""

from __future__ import annotations

import json
import time
import uuid
from collections import Counter
from decimal import Decimal

import pytest
from celery import Celery

from config.settings import BAMBOO, BHN, MIN_MARGIN_MS, SCHEDULE_QUEUE, SLOTS_QUEUE, Credential, Limits, load_settings
from tasks.placing import _checkout, _ready_to_call, _WhenSent, slots_queue
from tests.bhn_fixtures import BHN_CLIENT_ID, BHN_CLIENT_SECRET
from tests.broker_messages import TaskMessage, push_again, queued, taken
from tests.fault_fixtures import an_order, assert_fulfilled_once, checkout_calls
from tests.provider_cases import ProviderCase, bamboo_case, bhn_case
from tests.waiting import final_state, wait_for
from worker.broker import DELIVERY_HEADER
from worker.cli.processes import Sandbox
from worker.cli.redis_server import RedisServer
from worker.errors import NotSent
from worker.orders import states
from worker.providers.bamboo import BambooClient
from worker.providers.base import OrderLine, PlaceRequest
from worker.runtime import Runtime, build_runtime

pytestmark = pytest.mark.timeout(90)

PRODUCTS = ((100001, "25"), (100002, "50"), (100004, "30"), (439685, "10"))


@pytest.fixture(params=[BAMBOO, BHN])
def case(request: pytest.FixtureRequest, fault_env: dict, sandbox_now: Sandbox, bhn_sandbox: Sandbox) -> ProviderCase:
    """The provider an exactly-once test runs for: Bamboo on the scaled sandbox, or BHN on its own sandbox (with
    giftq's BHN credential on the same short timeouts and least margin)."""
    if request.param == BAMBOO:
        return bamboo_case(sandbox_now)
    fault_env.update(
        GIFTQ_BHN_BASE_URL=bhn_sandbox.url,
        GIFTQ_BHN_CLIENT_ID=BHN_CLIENT_ID,
        GIFTQ_BHN_CLIENT_SECRET=BHN_CLIENT_SECRET,
        GIFTQ_BHN_TIMEOUT_S="1",
        GIFTQ_BHN_LEASE_MS="3000",
        GIFTQ_BHN_MARGIN_MS=str(MIN_MARGIN_MS),
    )
    return bhn_case(bhn_sandbox)


@pytest.mark.parametrize(
    "fault",
    [
        {"kind": "timeout_after_commit", "hold_ms": 3000},
        {"kind": "error_500_after_commit"},
        {"kind": "error_500_before_commit"},
        {"kind": "rate_limited_429", "wait_s": 1},
        {"kind": "connection_reset"},
        {"kind": "connection_reset", "after_commit": True},
    ],
    ids=lambda fault: fault["kind"] + ("_after_commit" if fault.get("after_commit") else ""),
)
def test_a_faulty_place_order_still_ends_fulfilled_and_charged_once(
    fault: dict, case: ProviderCase, rt: Runtime, producer: Celery, start_workers
) -> None:
    # Given the next Place Order call meets the fault, and no beat: nothing but the placing task's path resolves it
    case.sandbox.admin("POST", "faults", json={**fault, "endpoint": "place_order", "count": 1})
    start_workers(1)

    # When an order is submitted
    order = case.order()
    producer.send_task("giftq.submit_order", args=[order])

    # Then it is fulfilled, charged once, and the first call did meet the fault
    case.assert_fulfilled_once(rt, [order["RequestId"]])
    faulted = [call for call in case.sandbox.admin("GET", "calls")["calls"] if call["reason"] == fault["kind"]]
    assert len(faulted) == 1


def test_a_faulty_get_order_is_polled_again(
    fault_env: dict, rt: Runtime, producer: Celery, sandbox_now: Sandbox, start_workers
) -> None:
    sandbox_now.admin("POST", "faults", json={"kind": "error_500_before_commit", "endpoint": "get_order", "count": 2})
    start_workers(1)
    order = an_order()
    producer.send_task("giftq.submit_order", args=[order])
    assert_fulfilled_once(rt, sandbox_now, [order["RequestId"]])


def test_a_place_order_past_its_send_deadline_is_never_sent_and_can_still_be_placed(sandbox_now: Sandbox) -> None:
    # Given giftq's Bamboo client, and an order whose slot was claimed longer ago than the send budget
    credential = Credential(client_id="giftq-demo", client_secret="demo-secret", limits=Limits())
    client = BambooClient(sandbox_now.url, credential, timeout_s=5)
    request = PlaceRequest(str(uuid.uuid4()), 555, (OrderLine(100001, 1, Decimal(25)),))

    # When it places the order after the deadline, then again in time
    with pytest.raises(NotSent):
        client.place(request, send_by=time.monotonic() - 0.001)
    checkouts_after_the_late_try = checkout_calls(sandbox_now)
    placed = client.place(request, send_by=time.monotonic() + 5)

    # Then the late try never reached the provider, and the same RequestId was placed once, afterwards
    assert checkouts_after_the_late_try == []
    assert placed is True
    assert sandbox_now.admin("GET", "findings")["accepted_request_ids"] == [request.request_id]


def test_a_place_order_says_when_its_request_left_before_its_answer_comes(sandbox_now: Sandbox) -> None:
    # Given giftq's Bamboo client, and a sandbox that answers the next Place Order 800 ms after it arrives
    sandbox_now.admin("POST", "faults", json={"kind": "slow_response", "endpoint": "place_order", "count": 1,
                                              "delay_ms": 800})  # fmt: skip
    credential = Credential(client_id="giftq-demo", client_secret="demo-secret", limits=Limits())
    client = BambooClient(sandbox_now.url, credential, timeout_s=5)
    request = PlaceRequest(str(uuid.uuid4()), 555, (OrderLine(100001, 1, Decimal(25)),))

    # When it places the order, noting when the request was written
    written: list[float] = []
    before = time.monotonic()
    assert client.place(request, send_by=before + 5, on_sent=written.append) is True
    answered = time.monotonic()

    # Then it was told once, as soon as the request left and not when the answer came
    assert len(written) == 1
    assert before <= written[0] <= answered - 0.7


def test_a_get_order_says_when_its_request_left_before_its_answer_comes(sandbox_now: Sandbox) -> None:
    # Given an order the sandbox has, and a sandbox that answers the next Get Order 800 ms after it arrives
    credential = Credential(client_id="giftq-demo", client_secret="demo-secret", limits=Limits())
    client = BambooClient(sandbox_now.url, credential, timeout_s=5)
    request = PlaceRequest(str(uuid.uuid4()), 555, (OrderLine(100001, 1, Decimal(25)),))
    assert client.place(request) is True
    sandbox_now.admin("POST", "faults", json={"kind": "slow_response", "endpoint": "get_order", "count": 1,
                                              "delay_ms": 800})  # fmt: skip

    # When giftq's client asks Get Order for it, noting when the request was written
    written: list[float] = []
    before = time.monotonic()
    assert client.get(request.request_id, on_sent=written.append).request_id == request.request_id
    answered = time.monotonic()

    # Then it was told once, as soon as the request left (the Get Order window's log counts the call from there)
    assert len(written) == 1
    assert before <= written[0] <= answered - 0.7


def test_a_worker_killed_between_calling_and_recording_leaves_the_order_to_be_resolved(
    case: ProviderCase, fault_env: dict, rt: Runtime, producer: Celery, start_workers
) -> None:
    # Given a Place Order call that the sandbox takes (and charges) at once but answers 3 s late
    first, request_id = a_call_in_flight(case, fault_env, rt, producer, start_workers, delay_ms=3000)

    # When the worker dies while the call is in flight
    first.kill()
    start_workers(1, beat=True)

    # Then reconciliation resolves the unknown outcome by Get Order: fulfilled, charged once
    case.assert_fulfilled_once(rt, [request_id])
    assert "found by Get Order" in [entry.get("note") for entry in rt.store.history(request_id)]


def test_a_worker_killed_between_reserving_and_calling_loses_no_order(
    case: ProviderCase, fault_env: dict, rt: Runtime, producer: Celery, start_workers
) -> None:
    # Given the credential is held for 3 s, so the order's slot is reserved well ahead of its call
    fault_env[case.setting("MAX_WAIT_MS")] = "5000"  # slots are handed out up to max_wait ahead
    (first,) = start_workers(1)
    rt.throttle.hold(case.credential, 3000)
    order = case.order()
    producer.send_task("giftq.submit_order", args=[order])
    request_id = order["RequestId"]
    limits = rt.limits(case.credential)
    wait_for(lambda: rt.throttle.holds(case.credential, limits, request_id, now_ms=rt.now_ms())
             and not_parked(rt, request_id, case.credential), timeout_s=10, what="a reserved slot")  # fmt: skip

    # When the worker has taken the placing task off the queue (an ETA task it holds) and dies before the slot comes
    prefix = fault_env["GIFTQ_BROKER_KEY_PREFIX"]
    wait_for(lambda: placing_messages(taken(rt.redis, prefix), request_id)
             and not any(placing_messages(queued(rt.redis, prefix, queue), request_id)
                         for queue in (SLOTS_QUEUE, SCHEDULE_QUEUE)),
             timeout_s=10, what="the placing message taken by the worker")  # fmt: skip
    assert rt.store.get(request_id).state == states.ACCEPTED, "the slot had not come yet"
    first.kill()
    start_workers(1, beat=True)

    # Then the order is placed later, once, inside the limits
    case.assert_fulfilled_once(rt, [request_id])


def submit_two_orders(producer: Celery) -> list[str]:
    """Submit one order of each of two products at once; return their RequestIds."""
    orders = [an_order(100001, "25"), an_order(100002, "50")]
    for order in orders:
        producer.send_task("giftq.submit_order", args=[order])
    return [order["RequestId"] for order in orders]


def test_a_slow_place_order_answer_does_not_hold_back_the_next_order(
    fault_env: dict, rt: Runtime, producer: Celery, sandbox_now: Sandbox, start_workers
) -> None:
    # Given start-to-start spacing (100 ms) and a provider whose first Place Order answer comes 3 s late
    sandbox_now.admin("POST", "faults", json={"kind": "slow_response", "delay_ms": 3000, "count": 1})
    fault_env["GIFTQ_BAMBOO_TIMEOUT_S"] = "10"
    start_workers(1, concurrency=3)

    # When two orders of different products are submitted together
    request_ids = submit_two_orders(producer)

    # Then the second one reaches the provider while the first answer is still on its way, and both end once
    def both_arrived() -> list[dict] | None:
        calls = checkout_calls(sandbox_now)
        return calls if len(calls) == 2 else None

    first, _ = sorted(wait_for(both_arrived, timeout_s=20, what="two Place Order arrivals"), key=lambda c: c["at"])
    assert first["status"] is None, "the first answer had gone out before the second order arrived"
    assert_fulfilled_once(rt, sandbox_now, request_ids)


def test_with_end_to_start_spacing_the_next_order_waits_for_the_slow_answer_and_the_spacing(
    fault_env: dict, rt: Runtime, producer: Celery, sandbox_now: Sandbox, start_workers
) -> None:
    # Given end-to-start spacing (100 ms from the previous call's end) and a first answer 1 s late
    sandbox_now.admin("POST", "faults", json={"kind": "slow_response", "delay_ms": 1000, "count": 1})
    fault_env.update(GIFTQ_BAMBOO_TIMEOUT_S="10", GIFTQ_BAMBOO_SPACING_MODE="end")
    start_workers(1, concurrency=3)

    # When two orders of different products are submitted together
    request_ids = submit_two_orders(producer)

    # Then the second arrives only after the first answer and the spacing, and both end fulfilled, charged once
    assert_fulfilled_once(rt, sandbox_now, request_ids)
    first, second = sorted(call["at"] for call in checkout_calls(sandbox_now))
    assert second - first >= 1.0 + 0.1, f"the second order arrived {second - first:.3f} s after the first"


def test_after_a_429_no_place_order_arrives_during_the_wait_the_provider_named(
    fault_env: dict, rt: Runtime, producer: Celery, sandbox_now: Sandbox, start_workers
) -> None:
    # Given the provider answers the first Place Order with 429 "Please wait for 1 seconds", and a spacing long
    # enough for that answer to come back before the next slot (a slot handed out before the 429 is given up
    # at its claim; a call claimed before the 429 came back still goes: tests/test_throttle.py)
    sandbox_now.admin("POST", "faults", json={"kind": "rate_limited_429", "wait_s": 1, "count": 1})
    fault_env["GIFTQ_BAMBOO_SPACING_MS"] = "800"
    start_workers(1, concurrency=3)

    # When two orders of different products are submitted together
    request_ids = submit_two_orders(producer)

    # Then no Place Order arrives during the wait the provider named, and both end fulfilled, charged once
    assert_fulfilled_once(rt, sandbox_now, request_ids)
    calls = sorted(checkout_calls(sandbox_now), key=lambda call: call["at"])
    (limited,) = [call for call in calls if call["status"] == 429]
    after = [call["at"] - limited["at"] for call in calls if call["at"] > limited["at"]]
    assert len(after) == 2 and min(after) >= 1.0, f"calls {after} s after the 429"


def test_a_request_not_sent_in_time_is_parked_again_unsent_and_misses_in_a_row_raise_an_error(
    fault_env: dict,
    rt: Runtime,
    sandbox_now: Sandbox,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given an order marked submitting, whose slot was claimed, and a schedule whose driver is alive
    monkeypatch.setattr("tasks.placing._not_sent_in_a_row", Counter())  # this process has missed none yet
    order = an_order()
    request_id = order["RequestId"]
    rt.store.create(request_id, {**order, "Products": [{**order["Products"][0], "Value": "25.00"}]},
                    credential="giftq-demo", provider_request_id=request_id)  # fmt: skip
    rt.store.transition(request_id, states.SUBMITTING)
    limits = rt.limits("giftq-demo")
    rt.throttle.park_and_schedule("giftq-demo", limits, request_id="another", age_ms=0, product_ids=[100002], cards=1)

    # When the placing task gets to send only after its send deadline, three times in a row
    outcomes = []
    for _ in range(3):
        record = rt.store.get(request_id)
        claimed = _WhenSent(rt, "giftq-demo", record, 0, time.monotonic() - 0.01, None)
        outcomes.append(_checkout(rt, "giftq-demo", record, time.monotonic() - 0.001, claimed))

    # Then nothing reached the provider, and the order waits in the schedule for a slot of its own
    assert outcomes == ["not sent"] * 3
    assert checkout_calls(sandbox_now) == []
    assert rt.store.get(request_id).state == states.SUBMITTING
    assert rt.redis.hexists(rt.keys.parked("giftq-demo"), request_id)
    # And the third miss in a row is an error that names the setting to raise
    misses = [record for record in caplog.records if "not sent in time" in record.getMessage()]
    assert [record.levelname for record in misses] == ["WARNING", "WARNING", "ERROR"]
    assert "GIFTQ_BAMBOO_MARGIN_MS" in misses[-1].getMessage()


def a_call_in_flight(case: ProviderCase, env: dict, rt: Runtime, producer: Celery, start_workers, *, delay_ms: int):
    """One worker, and one order whose Place Order the sandbox has taken and charged but answers `delay_ms` late."""
    case.sandbox.admin("POST", "faults", json={"kind": "slow_response", "delay_ms": delay_ms, "count": 1})
    env[case.setting("TIMEOUT_S")] = "10"
    (worker,) = start_workers(1)
    order = case.order()
    producer.send_task("giftq.submit_order", args=[order])
    wait_for(lambda: case.charges([order["RequestId"]])[order["RequestId"]] == 1, timeout_s=20, what="a charge")
    assert rt.store.get(order["RequestId"]).state == states.SUBMITTING
    return worker, order["RequestId"]


def not_parked(rt: Runtime, request_id: str, credential: str = "giftq-demo") -> bool:
    return not rt.redis.hexists(rt.keys.parked(credential), request_id)


def placing_messages(messages: list[TaskMessage], request_id: str) -> list[TaskMessage]:
    """The `giftq.place_reserved` messages (the task that calls Place Order) of one order."""
    return [m for m in messages if m.task == "giftq.place_reserved" and m.args[1] == request_id]


def test_the_placing_message_delivered_twice_at_once_makes_one_provider_call(
    case: ProviderCase, fault_env: dict, rt: Runtime, producer: Celery, start_workers
) -> None:
    # Given an order parked by a worker that runs no slot's task, so its placing message waits in the broker
    start_workers(1, queues=("giftq",))
    order = case.order()
    producer.send_task("giftq.submit_order", args=[order])
    request_id = order["RequestId"]
    prefix = fault_env["GIFTQ_BROKER_KEY_PREFIX"]
    queue = slots_queue(rt, case.credential)  # where the credential's slot tasks go
    (message,) = wait_for(lambda: placing_messages(queued(rt.redis, prefix, queue), request_id),
                          timeout_s=20, what="the placing message in its queue")  # fmt: skip

    # When that very message is delivered twice at once (a redelivery: the same bytes, the same task id)
    push_again(rt.redis, prefix, queue, message)
    workers = start_workers(2, concurrency=2)

    # Then both deliveries ran, and one Place Order call reached the sandbox: fulfilled, charged once
    case.assert_fulfilled_once(rt, [request_id])
    assert len(case.creates()) == 1
    ran = wait_for(lambda: len(task_ends(workers, message.task_id)) == 2 and task_ends(workers, message.task_id),
                   timeout_s=10, what="two runs of the placing message")  # fmt: skip
    assert ran.count("'missing'") == 1, f"one run claimed the slot, the other found it taken: {ran}"


def test_a_delivery_that_read_the_order_before_the_other_marked_it_submitting_is_still_ready_to_call(
    rt: Runtime,
) -> None:
    # Given an order one delivery of its placing message read as `accepted`, then the other marked `submitting`
    request_id = str(uuid.uuid4())
    rt.store.create(request_id, {"RequestId": request_id}, credential="giftq-demo", provider_request_id=request_id)
    read_first = rt.store.get(request_id)
    assert rt.store.transition(request_id, states.SUBMITTING)

    # Then the first is still ready to call (only the one that claims the slot will): not giving the slot up unused
    ready = _ready_to_call(rt, read_first)
    assert ready is not None and (ready.request_id, ready.state) == (request_id, states.SUBMITTING)

    # And an order that moved on further (placed by the other) is not
    assert rt.store.transition(request_id, states.PLACED)
    assert _ready_to_call(rt, read_first) is None


def task_ends(workers: list, task_id: str) -> list[str]:
    """What each run of a task returned, from the workers' logs (`... succeeded in 0.01s: 'placed'`)."""
    marker = f"[{task_id}] succeeded in "
    lines = [line for worker in workers for line in worker.log_path.read_text().splitlines() if marker in line]
    return [line.rsplit(": ", 1)[1] for line in lines]


def test_redis_restarted_mid_run_loses_no_order_and_charges_none_twice(
    case: ProviderCase, fault_env: dict, start_workers, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a Redis of this test's own (broker, throttle and store), and 8 orders under way: one provider order
    # each (no packing), one per 100 ms slot, so that most are still to be placed when Redis dies
    with RedisServer() as server:
        fault_env["GIFTQ_REDIS_URL"] = server.url
        fault_env[case.setting("COALESCE")] = "0"
        for key, value in fault_env.items():
            monkeypatch.setenv(key, value)
        rt = build_runtime(load_settings())
        producer = Celery(broker=server.url)
        producer.conf.broker_transport_options = {"global_keyprefix": fault_env["GIFTQ_BROKER_KEY_PREFIX"]}
        (worker,) = start_workers(1, beat=True)
        orders = [case.order(index) for index in range(8)]
        for order in orders:
            producer.send_task("giftq.submit_order", args=[order], queue="giftq")
        request_ids = [order["RequestId"] for order in orders]
        wait_for(lambda: sum(case.charges(request_ids).values()) >= 2, timeout_s=20, what="2 charges")

        # When Redis is killed and started again on its append-only file
        server.kill()
        server.start()

        # Then every order ends fulfilled, each charged once. Like a process supervisor, the test starts a
        # worker again if it exited: kombu 5.7's Redis transport may exit on losing its broker.
        workers = [worker]

        def supervised_all_final() -> bool:
            if workers[-1].process.poll() is not None:
                workers.extend(start_workers(1, beat=True))
            return all(final_state(rt, rid) for rid in request_ids)

        wait_for(supervised_all_final, timeout_s=60, what="final orders with a supervised worker")
        case.assert_fulfilled_once(rt, request_ids)
        producer.close()


def test_a_warm_shutdown_lets_an_in_flight_checkout_finish_and_record(
    case: ProviderCase, fault_env: dict, rt: Runtime, producer: Celery, start_workers
) -> None:
    # Given a Place Order call that the sandbox takes (and charges) at once but answers 2 s late
    worker, request_id = a_call_in_flight(case, fault_env, rt, producer, start_workers, delay_ms=2000)

    # When the worker is asked to stop (SIGTERM: Celery's warm shutdown) while the call is in flight
    worker.stop()

    # Then the call finished and was recorded before the worker exited; a new worker takes it to the end
    assert rt.store.get(request_id).state == states.PLACED
    start_workers(1)
    case.assert_fulfilled_once(rt, [request_id])


def test_a_partially_failed_order_keeps_its_issued_cards_and_says_which_failed(
    fault_env: dict, rt: Runtime, producer: Celery, sandbox_now: Sandbox, start_workers
) -> None:
    # Given a provider that fails some cards of every order
    sandbox_now.admin("POST", "config", json={"partial_probability": 1.0})
    try:
        start_workers(1)
        order = an_order()
        order["Products"][0]["Quantity"] = 3
        producer.send_task("giftq.submit_order", args=[order])
        request_id = order["RequestId"]

        # Then the order ends partially fulfilled with exactly the issued cards, and names the failed ones
        wait_for(lambda: final_state(rt, request_id), timeout_s=30, what="a final state")
        record = rt.store.get(request_id)
        assert record.state == states.PARTIALLY_FULFILLED
        cards = sandbox_now.admin("GET", f"orders/{request_id}")["allCards"]
        issued = {card["cardCode"] for card in cards if card["cardCode"]}
        failed = {str(card["id"]) for card in cards if not card["cardCode"]}
        assert issued and failed
        assert {card["code"] for card in rt.cipher.decrypt(record.cards_token, record.cards_context)} == issued
        assert {card["card_id"] for card in record.summary["failed_cards"]} == failed
        assert record.summary["cards_failed"] == len(failed)
    finally:
        sandbox_now.admin("POST", "config", json={"partial_probability": 0.0})


def test_a_message_delivered_again_and_again_is_parked_as_a_dead_letter(
    fault_env: dict, rt: Runtime, producer: Celery, start_workers
) -> None:
    # Given workers that allow one delivery per message, and one message delivered three times
    request_id, letters = _one_poll_delivered_three_times(fault_env, rt, producer, start_workers)

    # Then the second and third deliveries are parked, not run, and hold only the RequestId
    parked = [json.loads(letter) for letter in letters]
    assert {letter["id"] for letter in parked} == {f"poll-{request_id}"}
    assert all(letter["args"] == [request_id] and letter["task"] == "giftq.poll_order" for letter in parked)


def test_a_sender_cannot_write_its_own_delivery_count(
    fault_env: dict, rt: Runtime, producer: Celery, start_workers
) -> None:
    # Given workers that allow one delivery per message, and one message delivered three times, each copy claiming
    # in the header giftq reads its count from that it was never delivered before
    request_id, letters = _one_poll_delivered_three_times(fault_env, rt, producer, start_workers,
                                                          headers={DELIVERY_HEADER: 0})  # fmt: skip

    # Then the broker counted each delivery itself: the second and third are parked all the same
    assert {json.loads(letter)["id"] for letter in letters} == {f"poll-{request_id}"}
    # And the count is kept under the broker's key prefix, for a day
    counter = fault_env["GIFTQ_BROKER_KEY_PREFIX"] + f"giftq.delivery:giftq:poll-{request_id}:0"
    assert rt.redis.get(counter) == b"3" and 0 < rt.redis.ttl(counter) <= 86400


def _one_poll_delivered_three_times(
    fault_env: dict, rt: Runtime, producer: Celery, start_workers, **send_options: object
) -> tuple[str, list]:
    """Send one poll message three times (one task id) to a worker allowing one delivery per message; return its
    RequestId and the dead letters, once there are two."""
    fault_env["GIFTQ_MAX_DELIVERIES"] = "1"
    request_id = str(uuid.uuid4())
    for _ in range(3):
        producer.send_task("giftq.poll_order", args=[request_id], task_id=f"poll-{request_id}", **send_options)
    start_workers(1)
    letters = wait_for(lambda: len(rt.redis.lrange(rt.keys.dead_letters(), 0, -1)) >= 2 and
                       rt.redis.lrange(rt.keys.dead_letters(), 0, -1), timeout_s=20, what="2 dead letters")  # fmt: skip
    return request_id, letters
