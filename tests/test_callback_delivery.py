"""A callback attempt has one deadline, GIFTQ_CALLBACK_TIMEOUT_S, for the whole call, and what it records of a
failure is a coarse class only; notifications run on workers of their own, so a callback server that trickles
its answer holds neither a notify attempt past its deadline nor anyone's Place Order.

The attack: a callback server sending one byte every 2 s, each byte within any per-read timeout, so a
per-read timeout never fires and the attempt, and the worker process running it, are held for as long as the
server likes.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from celery import Celery

from tests.callback_receiver import CallbackReceiver
from tests.notify_helpers import CALLBACK_SECRET, LOOPBACK_ONLY, final_order, notifier_for
from tests.trickling_server import TricklingServer
from tests.waiting import wait_for
from worker.cli.processes import Sandbox, start_worker
from worker.orders.callbacks import FAILURE_KINDS
from worker.orders.notifications import FAILING
from worker.runtime import Runtime

pytestmark = pytest.mark.timeout(120)

TIMEOUT_S = 3.0  # GIFTQ_CALLBACK_TIMEOUT_S of these tests; the trickle sends a byte every 2 s, within it
SLACK_S = 1.0  # for a process on 2 shared, busy cores


@pytest.fixture(autouse=True)
def callback_env(giftq_env: dict[str, str]) -> dict[str, str]:
    """`shop` has a callback secret; the test's servers on 127.0.0.1 are allowed; short notification backoffs."""
    giftq_env.update(GIFTQ_CALLBACK_SECRETS=f"shop:{CALLBACK_SECRET}", GIFTQ_CALLBACK_ALLOW_NETWORKS="127.0.0.1/32",
                     GIFTQ_CALLBACK_TIMEOUT_S=str(TIMEOUT_S), GIFTQ_NOTIFY_BACKOFF_MS="200",
                     GIFTQ_NOTIFY_MAX_BACKOFF_S="1")  # fmt: skip
    return giftq_env


@pytest.fixture
def trickler() -> Iterator[TricklingServer]:
    server = TricklingServer(every_s=2.0)
    yield server
    server.stop()


def last_error(rt: Runtime, request_id: str) -> str:
    return rt.store.get(request_id).notification.get("last_error", "")


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_a_trickling_callback_server_does_not_hold_an_attempt_past_the_timeout(
    rt: Runtime, trickler: TricklingServer, scheme: str
) -> None:
    # Given a callback server answering one byte every 2 s (over https, it trickles instead of a TLS handshake)
    record = final_order(rt, {"CallbackUrl": trickler.url.replace("http", scheme, 1)})
    # When one attempt is made
    started = time.monotonic()
    outcome = notifier_for(rt, callback_allow_networks=LOOPBACK_ONLY).deliver(record, 0)
    elapsed_s = time.monotonic() - started
    # Then it ended as a timeout within the deadline, though the server sent a byte before it
    assert (outcome.state, last_error(rt, record.request_id)) == (FAILING, "timeout")
    assert TIMEOUT_S - 0.1 <= elapsed_s <= TIMEOUT_S + SLACK_S
    (trickle,) = trickler.trickles
    assert trickle.sent >= 1
    # And giftq closed the connection by then
    wait_for(lambda: trickle.closed_at, timeout_s=SLACK_S, what="the connection closed")
    assert trickle.closed_at - trickle.accepted_at <= TIMEOUT_S + SLACK_S


@pytest.mark.parametrize(
    ("destination", "kind"),
    [
        ("nothing listens", "refused"),
        ("loopback, not allowed", "refused"),
        ("answers 500", "non-2xx"),
        ("answers 404", "non-2xx"),
        ("redirects (302)", "non-2xx"),
    ],
)
def test_what_a_failed_callback_records_is_its_coarse_class_only(rt: Runtime, destination: str, kind: str) -> None:
    # Given a callback destination that fails in one way or another
    status = {"answers 500": 500, "answers 404": 404, "redirects (302)": 302}.get(destination, 204)
    receiver = CallbackReceiver(status=status)
    if destination != "nothing listens":
        receiver.start()
    allowed = () if destination == "loopback, not allowed" else LOOPBACK_ONLY
    try:
        record = final_order(rt, {"CallbackUrl": receiver.url})
        # When an attempt fails
        assert notifier_for(rt, callback_allow_networks=allowed).deliver(record, 0).state == FAILING
    finally:
        receiver.stop()
    # Then the order keeps its class, not a status number, a port's state or an exception's name
    assert last_error(rt, record.request_id) == kind
    assert kind in FAILURE_KINDS
    assert len(receiver.received) == (1 if kind == "non-2xx" else 0)


def test_a_trickling_callback_server_delays_no_other_orders_place_order_when_notifications_have_their_own_worker(
    giftq_env: dict[str, str], rt: Runtime, producer: Celery, sandbox: Sandbox, trickler: TricklingServer,
    tmp_path: Path,
) -> None:  # fmt: skip
    # Given the Procfile's pair: a worker for everything but notifications, and one for notifications only,
    # one process each (so a held process would show)
    placing = start_worker(tmp_path / "placing.log", giftq_env, concurrency=1, name="placing",
                           exclude_queues=["giftq.notify"])  # fmt: skip
    notifying = start_worker(tmp_path / "notify.log", giftq_env, concurrency=1, name="notify", queues=["giftq.notify"])
    try:
        # And an order whose callback server trickles, its notification under way
        held = an_order({"CallbackUrl": trickler.url})
        producer.send_task("giftq.submit_order", args=[held], kwargs={"producer": "shop"})
        wait_for(lambda: trickler.trickles, timeout_s=45, what="the callback server's first connection")

        # When an unrelated order comes in while the callback is held
        submitted_at = time.time()
        other = an_order(None)
        producer.send_task("giftq.submit_order", args=[other], kwargs={"producer": "blog"})

        # Then its Place Order reaches the provider within one spacing (plus overhead), while the callback is held
        arrival = wait_for(lambda: place_order_arrival(sandbox, other["RequestId"]), timeout_s=15, what="Place Order")
        spacing_s = rt.limits("giftq-demo").spacing_ms / 1000
        assert arrival - submitted_at <= spacing_s + 0.5
        assert trickler.trickles[0].closed_at is None, "the callback had ended before the order was placed"

        # And the held attempt ended as a timeout within its deadline, on the notifications' worker only
        wait_for(lambda: last_error(rt, held["RequestId"]) == "timeout", timeout_s=TIMEOUT_S + 10, what="timeout")
        first = trickler.trickles[0]
        wait_for(lambda: first.closed_at, timeout_s=SLACK_S, what="the first connection closed")
        assert first.closed_at - first.accepted_at <= TIMEOUT_S + SLACK_S
        assert "giftq.notify[" in notifying.log_path.read_text()
        assert "giftq.notify[" not in placing.log_path.read_text()
    finally:
        notifying.stop()
        placing.stop()


def an_order(notify: dict | None) -> dict:
    order = {"RequestId": str(uuid.uuid4()), "AccountId": 555,
             "Products": [{"ProductId": 100002, "Quantity": 1, "Value": 20}]}  # fmt: skip
    return {**order, "Notify": notify} if notify else order


def place_order_arrival(sandbox: Sandbox, request_id: str) -> float | None:
    """When the sandbox received the order's Place Order (its clock: unix seconds), if it did."""
    calls = sandbox.admin("GET", "calls")["calls"]
    return next((c["at"] for c in calls if c["endpoint"] == "place_order" and c["request_id"] == request_id), None)
