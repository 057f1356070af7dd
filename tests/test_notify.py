"""Producers are told their order is final: a task of theirs on their queue, a signed callback that survives an
endpoint being down, and the README's verification snippet, over the real stack (Redis, worker, sandbox)."""

from __future__ import annotations

import json
import re
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from celery import Celery

from tests.callback_receiver import CallbackReceiver
from tests.waiting import wait_for
from worker.cli.processes import Child, Sandbox
from worker.orders import states
from worker.orders.callbacks import SIGNATURE_HEADER, TIMESTAMP_HEADER, signature
from worker.orders.notifications import DELIVERED, FAILING
from worker.orders.store import OrderStore
from worker.runtime import Runtime

pytestmark = pytest.mark.timeout(90)

README = Path(__file__).resolve().parent.parent / "README.md"
SECRET = "shop-callback-secret-0123456789"

# A producer's own Celery app and task, run by a real `celery worker` on its queue; it writes what it receives.
SHOP_APP = """
import json, os
from celery import Celery

app = Celery("shop", broker=os.environ["SHOP_BROKER"])
app.conf.broker_transport_options = {"global_keyprefix": os.environ["SHOP_BROKER_PREFIX"]}

@app.task(name="shop.order_done")
def order_done(note):
    with open(os.environ["SHOP_OUT"], "a") as out:
        out.write(json.dumps(note) + "\\n")
"""


def readme_verifier() -> Callable[..., bool]:
    """`verify_giftq_callback` exactly as the README shows it to producers."""
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.DOTALL)
    source = next(block for block in blocks if "def verify_giftq_callback" in block)
    namespace: dict = {}
    exec(source, namespace)  # noqa: S102 - the documented snippet is what is under test
    return namespace["verify_giftq_callback"]


@pytest.fixture
def notify_env(giftq_env: dict[str, str]) -> dict[str, str]:
    """This test's giftq environment with a callback secret for `shop` and short notification backoffs.

    The test's callback receiver listens on loopback, and `shop` is notified on its own task and queue: both allowed.
    """
    giftq_env.update(GIFTQ_CALLBACK_SECRETS=f"shop:{SECRET}", GIFTQ_NOTIFY_BACKOFF_MS="200",
                     GIFTQ_NOTIFY_MAX_BACKOFF_S="1", GIFTQ_CALLBACK_ALLOW_NETWORKS="127.0.0.1/32",
                     GIFTQ_NOTIFY_TASKS="shop:shop.order_done@shop")  # fmt: skip
    return giftq_env


@pytest.fixture
def receiver() -> Iterator[CallbackReceiver]:
    server = CallbackReceiver()
    yield server
    server.stop()


def an_order(product_id: int, notify: dict) -> dict:
    return {"RequestId": str(uuid.uuid4()), "AccountId": 555,
            "Products": [{"ProductId": product_id, "Quantity": 1, "Value": 20}], "Notify": notify}  # fmt: skip


def notification_of(rt: Runtime, request_id: str) -> dict:
    record = rt.store.get(request_id)
    return record.notification if record else {}


def issued_codes(sandbox: Sandbox, request_id: str) -> set[str]:
    cards = sandbox.admin("GET", f"orders/{request_id}")["allCards"]
    return {card[field] for card in cards for field in ("cardCode", "pin") if card[field]}


def test_a_signed_callback_verifies_with_the_readme_snippet_and_carries_no_card_data(
    notify_env: dict[str, str], rt: Runtime, producer: Celery, sandbox: Sandbox, start_workers, receiver
) -> None:
    # Given a worker and a producer's callback endpoint
    start_workers(1)
    receiver.start()

    # When the producer's order, asking for a callback, is fulfilled
    order = an_order(100002, {"CallbackUrl": receiver.url})
    producer.send_task("giftq.submit_order", args=[order], kwargs={"producer": "shop"})
    wait_for(lambda: receiver.received, timeout_s=30, what="a callback")

    # Then it arrived once, signed, verifiable with the documented snippet, with the state and no card data
    callback = receiver.received[0]
    verify = readme_verifier()
    assert verify(SECRET, callback.headers[TIMESTAMP_HEADER], callback.headers[SIGNATURE_HEADER], callback.body)
    note = json.loads(callback.body)
    assert (note["request_id"], note["state"]) == (order["RequestId"], states.FULFILLED)
    assert note["summary"] == {"cards_issued": 1, "cards_failed": 0}
    assert not any(secret in callback.body.decode() for secret in issued_codes(sandbox, order["RequestId"]))
    delivered = wait_for(lambda: notification_of(rt, order["RequestId"]).get("state") == DELIVERED and
                         notification_of(rt, order["RequestId"]), timeout_s=10, what="delivered")  # fmt: skip
    assert delivered["attempts"] == "1"


def test_a_tampered_or_stale_callback_fails_the_readme_verification() -> None:
    verify = readme_verifier()
    body = json.dumps({"request_id": "r", "state": "fulfilled", "summary": {}}).encode()
    now = int(time.time())
    assert verify(SECRET, str(now), signature(SECRET, now, body), body)
    assert not verify(SECRET, str(now), signature(SECRET, now, body), body.replace(b"fulfilled", b"failed"))
    assert not verify(SECRET, str(now + 1), signature(SECRET, now, body), body)
    assert not verify("another-secret-0123456789", str(now), signature(SECRET, now, body), body)
    stale = now - 301
    assert not verify(SECRET, str(stale), signature(SECRET, stale, body), body)
    assert not verify(SECRET, "soon", signature(SECRET, now, body), body)


def test_a_callback_endpoint_that_is_down_gets_the_notification_after_it_comes_back(
    notify_env: dict[str, str], rt: Runtime, producer: Celery, start_workers, receiver
) -> None:
    # Given a worker and a callback endpoint that is down (nothing listens on its port)
    start_workers(1)
    order = an_order(100003, {"CallbackUrl": receiver.url})
    producer.send_task("giftq.submit_order", args=[order], kwargs={"producer": "shop"})

    # When the order is final, the notification fails and is retried, visible on the order as failing
    failing = wait_for(lambda: notification_of(rt, order["RequestId"]).get("state") == FAILING and
                       int(notification_of(rt, order["RequestId"])["attempts"]) >= 2 and
                       notification_of(rt, order["RequestId"]), timeout_s=30, what="failed attempts")  # fmt: skip
    assert failing["last_error"] == "refused"

    # Then, once the endpoint comes back, it receives the notification, and the order shows it delivered
    receiver.start()
    wait_for(lambda: receiver.received, timeout_s=15, what="the callback after the endpoint came back")
    assert json.loads(receiver.received[0].body)["request_id"] == order["RequestId"]
    wait_for(lambda: notification_of(rt, order["RequestId"]).get("state") == DELIVERED, timeout_s=10, what="delivered")


def test_a_non_2xx_answer_is_not_an_acknowledgement(
    notify_env: dict[str, str], rt: Runtime, producer: Celery, start_workers, receiver
) -> None:
    receiver.status = 500
    receiver.start()
    start_workers(1)
    order = an_order(100004, {"CallbackUrl": receiver.url})
    producer.send_task("giftq.submit_order", args=[order], kwargs={"producer": "shop"})
    wait_for(lambda: len(receiver.received) >= 2, timeout_s=30, what="a second attempt after a 500")
    assert notification_of(rt, order["RequestId"])["last_error"] == "non-2xx"
    receiver.status = 200
    wait_for(lambda: notification_of(rt, order["RequestId"]).get("state") == DELIVERED, timeout_s=15, what="delivered")


def test_the_producers_task_is_sent_to_its_queue_with_the_state_and_no_card_data(
    notify_env: dict[str, str], rt: Runtime, producer: Celery, sandbox: Sandbox, start_workers, tmp_path: Path
) -> None:
    # Given the producer's own worker on its queue "shop", and a giftq worker
    (tmp_path / "shop_app.py").write_text(SHOP_APP)
    out = tmp_path / "received.jsonl"
    shop_env = {**notify_env, "SHOP_BROKER": notify_env["GIFTQ_REDIS_URL"], "PYTHONPATH": str(tmp_path),
                "SHOP_BROKER_PREFIX": notify_env["GIFTQ_BROKER_KEY_PREFIX"], "SHOP_OUT": str(out)}  # fmt: skip
    command = [sys.executable, "-m", "celery", "-A", "shop_app", "worker", "-Q", "shop", "--pool", "solo",
               "--without-mingle", "--without-gossip", "--hostname", f"shop-{uuid.uuid4().hex[:6]}@%h"]  # fmt: skip
    shop_worker = Child("shop worker", command, tmp_path / "shop.log", env=shop_env)
    try:
        start_workers(1)

        # When its order asking for a task notification is fulfilled
        order = an_order(100001, {"Task": "shop.order_done", "Queue": "shop"})
        producer.send_task("giftq.submit_order", args=[order], kwargs={"producer": "shop"})

        # Then the producer's task ran once with the order's state and summary, and no card data
        wait_for(lambda: out.exists() and out.read_text(), timeout_s=30, what="the producer's task")
        notes = [json.loads(line) for line in out.read_text().splitlines()]
        assert notes == [{"request_id": order["RequestId"], "state": states.FULFILLED,
                          "summary": {"cards_issued": 1, "cards_failed": 0}}]  # fmt: skip
        assert not any(secret in out.read_text() for secret in issued_codes(sandbox, order["RequestId"]))
        assert notification_of(rt, order["RequestId"])["state"] == DELIVERED
    finally:
        shop_worker.stop()


def test_an_order_made_final_by_a_process_that_died_before_notifying_is_notified_by_reconciliation(
    notify_env: dict[str, str], rt: Runtime, start_workers, receiver
) -> None:
    # Given a fulfilled order whose producer asked for a callback, moved final by a process that died before
    # it could enqueue the notification (a store without the on-final hook stands for it)
    notify_env.update(GIFTQ_RECONCILE_INTERVAL_S="1", GIFTQ_STUCK_AFTER_S="1")
    receiver.start()
    request_id = str(uuid.uuid4())
    silent = OrderStore(rt.redis, rt.keys)
    silent.create(request_id, {"RequestId": request_id}, producer="shop", credential="giftq-demo",
                  notify=json.dumps({"CallbackUrl": receiver.url}))  # fmt: skip
    for target in (states.SUBMITTING, states.PLACED, states.FULFILLED):
        silent.transition(request_id, target)
    assert notification_of(rt, request_id) == {}

    # When a worker with beat runs, then reconciliation starts the notification and the producer gets it
    start_workers(1, beat=True)
    wait_for(lambda: receiver.received, timeout_s=30, what="the callback started by reconciliation")
    assert json.loads(receiver.received[0].body)["request_id"] == request_id
    wait_for(lambda: notification_of(rt, request_id).get("state") == DELIVERED, timeout_s=10, what="delivered")
