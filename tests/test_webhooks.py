"""Provider webhooks over the real stack: a valid one makes the order's Get Order happen now; a forged one nothing."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from celery import Celery

from tests.bhn_fixtures import BHN_WEBHOOK_SECRET, a_bhn_order
from tests.waiting import cards_of, wait_for
from worker.cli.processes import ApiServer, Sandbox
from worker.orders import states
from worker.runtime import Runtime

pytestmark = pytest.mark.timeout(90)

SECRET = "hook-secret"


@pytest.fixture
def hook_env(giftq_env: dict[str, str], own_sandbox: Sandbox) -> dict[str, str]:
    # The first Get Order would come 30 s after placing (the backoff's cap too: it bounds the first wait as well):
    # only a webhook can make it sooner.
    giftq_env.update(GIFTQ_BAMBOO_BASE_URL=own_sandbox.url, GIFTQ_BAMBOO_WEBHOOK_SECRET=SECRET,
                     GIFTQ_POLL_INTERVAL_MS="30000", GIFTQ_POLL_MAX_INTERVAL_MS="30000")  # fmt: skip
    return giftq_env


@pytest.fixture
def api(hook_env: dict[str, str], tmp_path: Path) -> Iterator[ApiServer]:
    server = ApiServer(tmp_path / "api.log", hook_env)  # hook_env is giftq_env: with BHN's settings if a test asks
    yield server
    server.stop()


def get_order_calls(sandbox: Sandbox, request_id: str) -> int:
    calls = sandbox.admin("GET", "calls")["calls"]
    return sum(1 for call in calls if call["request_id"] == request_id and call["method"] == "GET")


def test_the_providers_webhook_makes_a_placed_order_final_without_waiting_for_its_poll(
    hook_env: dict, rt: Runtime, producer: Celery, own_sandbox: Sandbox, api: ApiServer, start_workers
) -> None:
    # Given Bamboo's webhook registered to giftq's API with the shared secretKey
    registration = {"notificationUrl": "", "notificationUrlSandbox": f"{api.url}/webhooks/bamboo", "secretKey": SECRET}
    response = requests.post(f"{own_sandbox.url}/api/Integration/v1/notification", json=registration,
                             auth=("giftq-demo", "demo-secret"), timeout=10)  # fmt: skip
    assert response.ok, response.text
    start_workers(1)

    # When an order is placed (its own first poll is 30 s away)
    order = {"RequestId": str(uuid.uuid4()), "AccountId": 555,
             "Products": [{"ProductId": 100001, "Quantity": 1, "Value": "25"}]}  # fmt: skip
    producer.send_task("giftq.submit_order", args=[order])

    # Then the sandbox's webhook brings it to fulfilled within seconds, through one Get Order
    request_id = order["RequestId"]
    wait_for(lambda: rt.store.get(request_id) and rt.store.get(request_id).state == states.FULFILLED,
             timeout_s=20, what="fulfilled by the webhook")  # fmt: skip
    assert get_order_calls(own_sandbox, request_id) == 1
    assert cards_of(rt, request_id)


def test_a_webhook_with_a_wrong_secret_is_refused_and_polls_nothing(
    hook_env: dict, rt: Runtime, own_sandbox: Sandbox, api: ApiServer
) -> None:
    request_id = str(uuid.uuid4())
    rt.store.create(request_id, {"RequestId": request_id}, credential="giftq-demo", provider_request_id=request_id)
    forged = {"requestId": request_id, "status": "succeeded", "secretKey": "guess", "cards": [{"cardCode": "X"}]}
    response = requests.post(f"{api.url}/webhooks/bamboo", json=forged, timeout=10)
    assert response.status_code == 401
    assert response.json()["reason"] == "InvalidSecretKey"
    assert get_order_calls(own_sandbox, request_id) == 0


def test_a_webhook_without_a_request_id_is_a_json_400(hook_env: dict, api: ApiServer) -> None:
    response = requests.post(f"{api.url}/webhooks/bamboo", data="not json", timeout=10)
    assert response.status_code == 400
    assert response.json()["reason"] == "InvalidWebhook"


def test_a_replayed_webhook_makes_at_most_one_extra_get_order(
    hook_env: dict, rt: Runtime, own_sandbox: Sandbox, api: ApiServer, start_workers, redis_client
) -> None:
    # Given a placed order, not final at the provider (unknown to it), and a worker
    request_id = str(uuid.uuid4())
    rt.store.create(request_id, {"RequestId": request_id}, credential="giftq-demo", provider_request_id=request_id)
    for state in (states.SUBMITTING, states.PLACED):
        rt.store.transition(request_id, state)
    start_workers(1)
    body = {"requestId": request_id, "status": "succeeded", "secretKey": SECRET}

    # When one valid webhook body is sent 130 times
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: requests.post(f"{api.url}/webhooks/bamboo", json=body, timeout=10),
                                range(130)))  # fmt: skip

    # Then every one is answered alike, and the order gets one Get Order, once the queue has drained
    assert {answer.status_code for answer in answers} == {202}
    wait_for(lambda: get_order_calls(own_sandbox, request_id) >= 1, timeout_s=20, what="the webhook's Get Order")
    queue = f"{hook_env['GIFTQ_BROKER_KEY_PREFIX']}giftq"
    wait_for(lambda: redis_client.llen(queue) == 0, timeout_s=20, what="the broker queue drained")
    assert get_order_calls(own_sandbox, request_id) == 1
    assert rt.store.get(request_id).state == states.PLACED


def test_bhns_webhook_makes_a_placed_bhn_order_final_without_waiting_for_its_poll(
    bhn_env: dict, rt: Runtime, producer: Celery, bhn_sandbox: Sandbox, api: ApiServer, start_workers
) -> None:
    # Given BHN's webhook pointed at giftq's API, with the shared secret giftq expects in X-BHN-Webhook-Secret
    bhn_sandbox.admin("POST", "config", json={"webhook_url": f"{api.url}/webhooks/bhn",
                                              "webhook_secret": BHN_WEBHOOK_SECRET})  # fmt: skip
    start_workers(1)

    # When a BHN order is placed (its own first poll is 30 s away). Two cards make it asynchronous at BHN: a
    # synchronous one is final at once, and its webhook can come before giftq has recorded it placed (then it
    # polls nothing, and the order waits for its own poll: see the README, "When things go wrong")
    order = a_bhn_order(quantity=2)
    producer.send_task("giftq.submit_order", args=[order])

    # Then BHN's webhook brings it to fulfilled within seconds, through one read of the order
    request_id = order["RequestId"]
    wait_for(lambda: rt.store.get(request_id) and rt.store.get(request_id).state == states.FULFILLED,
             timeout_s=20, what="fulfilled by the webhook")  # fmt: skip
    reads = [call for call in bhn_sandbox.admin("GET", "calls")["calls"] if call["endpoint"] == "get_order"]
    assert len(reads) == 1
    assert cards_of(rt, request_id)[0]["egift_url"]


def test_a_bhn_webhook_without_the_shared_secret_or_for_a_bamboo_order_polls_nothing(
    bhn_env: dict, rt: Runtime, api: ApiServer
) -> None:
    # Given a placed Bamboo order
    request_id = str(uuid.uuid4())
    rt.store.create(request_id, {"RequestId": request_id}, credential="giftq-demo", provider_request_id=request_id)

    # When BHN's webhook path is called without the secret, with a wrong one, and rightly but for that order
    url, body = f"{api.url}/webhooks/bhn", {"external_id": request_id, "id": "x", "status": "COMPLETED"}
    missing = requests.post(url, json=body, timeout=10)
    wrong = requests.post(url, json=body, headers={"X-BHN-Webhook-Secret": "guess"}, timeout=10)
    other = requests.post(url, json=body, headers={"X-BHN-Webhook-Secret": BHN_WEBHOOK_SECRET}, timeout=10)

    # Then the first two are refused as unauthenticated and the third finds no BHN order of that id
    assert (missing.status_code, wrong.status_code, other.status_code) == (401, 401, 404), other.text
    assert missing.json()["reason"] == wrong.json()["reason"] == "InvalidSecretKey"
