"""A callback attempt has one deadline, GIFTQ_CALLBACK_TIMEOUT_S, for the whole call, and what it records of a
failure is a coarse class only: a callback server that trickles its answer does not hold a notify attempt past
its deadline.

The attack: a callback server sending one byte every 2 s, each byte within any per-read timeout, so a
per-read timeout never fires and the attempt, and the worker process running it, are held for as long as the
server likes.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests.callback_receiver import CallbackReceiver
from tests.notify_helpers import CALLBACK_SECRET, LOOPBACK_ONLY, final_order, notifier_for
from tests.trickling_server import TricklingServer
from tests.waiting import wait_for
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
