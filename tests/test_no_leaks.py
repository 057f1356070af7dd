"""No card code or PIN leaks: a demo-sized run over the real stack, then every place giftq writes is searched.

The stack: a Redis of this module's own (so every key in it is giftq's: store, throttle, broker), the Bamboo
sandbox, a worker with beat, the HTTP API, and Flower watching the tasks. Ten orders (five over HTTP, five by
task name) ask for notifications (a callback, and a task on the producer's queue that nobody consumes, so its
message stays in Redis). Then the codes and PINs the sandbox issued are searched for in every Redis key and
value, every log line giftq's processes wrote, every callback, and Flower's task API: none may be found. And
every one of them comes back through `GET /orders/{request_id}/cards`.
"""

from __future__ import annotations

import base64
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import requests
from celery import Celery

from tests.callback_receiver import CallbackReceiver
from tests.conftest import CARDS_KEYS, environment_for
from tests.leak_scan import file_blobs, hits, redis_blobs
from tests.waiting import wait_for
from worker.cli.processes import ApiServer, Child, Sandbox, start_worker
from worker.cli.redis_server import RedisServer, free_port
from worker.orders import states
from worker.orders.notifications import DELIVERED

pytestmark = pytest.mark.timeout(180)

ORDERS = 10
PRODUCTS = ((439685, 10), (100001, 25), (100002, 50), (100003, 20), (100004, 30))
SECRET = "leak-test-callback-secret-0123456789"


class Stack:
    """Everything the run started, and where each process logs."""

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.redis = RedisServer()
        self.redis.__enter__()
        self.sandbox = Sandbox(workdir / "sandbox.log", fulfil_delay_ms=300)
        self.receiver = CallbackReceiver().start()
        self.env = environment_for(self.redis.url, f"leak-{uuid.uuid4().hex[:6]}", self.sandbox)
        # Task events from each worker's first task on: Flower must see every task, to show none leaks a card.
        self.env.update(GIFTQ_CALLBACK_SECRETS=f"shop:{SECRET}", FLOWER_UNAUTHENTICATED_API="true",
                        GIFTQ_NOTIFY_BACKOFF_MS="200", GIFTQ_NOTIFY_MAX_BACKOFF_S="1",
                        GIFTQ_CALLBACK_ALLOW_NETWORKS="127.0.0.1/32",
                        GIFTQ_NOTIFY_TASKS="shop:shop.order_done@shop",
                        GIFTQ_TASK_EVENTS="true")  # fmt: skip
        self.logs = workdir / "giftq-logs"
        self.logs.mkdir()
        self.children: list[Child] = []

    def start(self) -> None:
        self.flower_url = f"http://127.0.0.1:{free_port()}"
        port = self.flower_url.rsplit(":", 1)[1]
        command = [sys.executable, "-m", "celery", "-A", "worker", "flower", "--address=127.0.0.1", f"--port={port}"]
        flower = Child("flower", command, self.logs / "flower.log", env=self.env)
        self.children.append(flower)
        flower.wait_ready(f"{self.flower_url}/healthcheck")
        self.children.append(start_worker(self.logs / "worker.log", self.env, concurrency=2, beat=True))
        self.api = ApiServer(self.logs / "api.log", self.env)
        self.children.append(self.api)

    def stop(self) -> None:
        for child in reversed(self.children):
            child.stop()
        self.receiver.stop()
        self.sandbox.stop()
        self.redis.__exit__(None, None, None)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    running = Stack(tmp_path_factory.mktemp("leaks"))
    try:
        running.start()
        yield running
    finally:
        running.stop()


def an_order(index: int, callback_url: str) -> dict:
    product_id, value = PRODUCTS[index % len(PRODUCTS)]
    return {"RequestId": str(uuid.uuid4()), "AccountId": 555,
            "Products": [{"ProductId": product_id, "Quantity": 2, "Value": value}],
            "Notify": {"Task": "shop.order_done", "Queue": "shop", "CallbackUrl": callback_url}}  # fmt: skip


def submit_all(stack: Stack) -> list[str]:
    """Half the orders over HTTP, half by task name, as the two kinds of producers send them."""
    orders = [an_order(index, stack.receiver.url) for index in range(ORDERS)]
    headers = {"Authorization": f"Bearer {CARDS_KEYS['shop']}"}
    for order in orders[: ORDERS // 2]:
        answer = requests.post(f"{stack.api.url}/orders", json=order, headers=headers, timeout=10)
        assert answer.status_code == 201, answer.text
    producer = Celery(broker=stack.env["GIFTQ_REDIS_URL"])
    producer.conf.broker_transport_options = {"global_keyprefix": stack.env["GIFTQ_BROKER_KEY_PREFIX"]}
    for order in orders[ORDERS // 2 :]:
        producer.send_task("giftq.submit_order", args=[order], kwargs={"producer": "shop"}, queue="giftq")
    producer.close()
    return [order["RequestId"] for order in orders]


def view(stack: Stack, request_id: str) -> dict:
    headers = {"Authorization": f"Bearer {CARDS_KEYS['shop']}"}
    return requests.get(f"{stack.api.url}/orders/{request_id}", headers=headers, timeout=10).json()


def flower_blobs(stack: Stack) -> list[tuple[str, bytes]]:
    """Flower's task list and each task's info, as its API answers them."""
    tasks = requests.get(f"{stack.flower_url}/api/tasks", timeout=10)
    assert tasks.status_code == 200, tasks.text
    blobs = [("flower /api/tasks", tasks.content)]
    for task_id in tasks.json():
        info = requests.get(f"{stack.flower_url}/api/task/info/{task_id}", timeout=10)
        blobs.append((f"flower /api/task/info/{task_id}", info.content))
    return blobs


def test_no_card_code_or_pin_is_found_anywhere_and_every_one_comes_back_through_the_cards_endpoint(
    stack: Stack,
) -> None:
    # Given ten orders over both producer paths, each final with its notification delivered
    request_ids = submit_all(stack)

    def all_delivered() -> bool:
        views = [view(stack, request_id) for request_id in request_ids]
        return all(v.get("state") in states.FINAL and (v.get("notification") or {}).get("state") == DELIVERED
                   for v in views)  # fmt: skip

    # Looked at twice a second: ten views each time stay well inside the API key's rate limit (a 429 has no state)
    wait_for(all_delivered, timeout_s=90, what=f"{ORDERS} final orders with delivered notifications", every_s=0.5)
    assert {view(stack, request_id)["state"] for request_id in request_ids} == {states.FULFILLED}

    # And the codes and PINs the sandbox issued for them (for the provider orders they rode in, as the API shows)
    placed_as = {order["request_id"] for rid in request_ids for order in view(stack, rid)["provider_orders"]}
    issued = [stack.sandbox.admin("GET", f"orders/{provider_id}")["allCards"] for provider_id in placed_as]
    secrets = {card[field] for cards in issued for card in cards for field in ("cardCode", "pin")}
    assert len(secrets) == 2 * 2 * ORDERS

    # When the producer reads every order's cards through the API
    headers = {"Authorization": f"Bearer {CARDS_KEYS['shop']}"}
    read = set()
    for request_id in request_ids:
        answer = requests.get(f"{stack.api.url}/orders/{request_id}/cards", headers=headers, timeout=10)
        assert answer.status_code == 200, answer.text
        read |= {card[field] for card in answer.json()["cards"] for field in ("code", "pin")}

    # Then it got every one of them
    assert read == secrets

    # And none is found in Redis (store, throttle, broker: every key and value), giftq's logs, callbacks or Flower
    client = redis.Redis.from_url(stack.redis.url)
    redis_found = hits(redis_blobs(client), secrets)
    logs = sorted(stack.logs.glob("*.log"))
    assert {path.name for path in logs} == {"flower.log", "worker.log", "api.log"}
    log_found = hits(file_blobs(logs), secrets)
    callback_found = hits((("callback", r.body) for r in stack.receiver.received), secrets)
    flower = flower_blobs(stack)
    flower_found = hits(flower, secrets)
    assert (redis_found, log_found, callback_found, flower_found) == ([], [], [], [])

    # And the search would have found them: the scan is not blind (base64 like Celery's bodies, Flower has tasks)
    code, pin = next(iter(secrets - {s for s in secrets if s.isdigit()})), next(s for s in secrets if s.isdigit())
    planted = base64.b64encode(f'{{"cardCode": "{code}", "pin": "{pin}"}}'.encode())
    assert {found for _, found in hits([("planted", planted)], secrets)} == {code, pin}
    submits = [task for task in requests.get(f"{stack.flower_url}/api/tasks", timeout=10).json().values()
               if task["name"] == "giftq.submit_order"]  # fmt: skip
    assert len(submits) == ORDERS // 2
    assert {task["args"] for task in submits} == {repr([{"RequestId": rid}]) for rid in request_ids[ORDERS // 2 :]}
    assert client.llen("shop") + client.llen(f"{stack.env['GIFTQ_BROKER_KEY_PREFIX']}shop") == ORDERS
    client.close()
