"""Fifty producers' retries of one order at once, against the real gunicorn API: one order, one Place Order."""

from __future__ import annotations

import threading
import uuid
from collections import Counter

import pytest
import requests

from tests.api_fixtures import auth
from tests.waiting import wait_for
from worker.cli.processes import ApiServer, Sandbox
from worker.orders import states
from worker.runtime import Runtime

pytestmark = pytest.mark.timeout(90)

SENDERS = 50


def test_fifty_concurrent_posts_of_one_request_id_store_one_order_and_place_it_once(
    api: ApiServer, api_worker: object, module_rt: Runtime, sandbox: Sandbox
) -> None:
    # Given one order, and 50 threads that post it at the same moment
    order = {"RequestId": str(uuid.uuid4()), "AccountId": 655,
             "Products": [{"ProductId": 100003, "Quantity": 1, "Value": 20}]}  # fmt: skip
    barrier = threading.Barrier(SENDERS)
    answers: list[requests.Response] = []

    def send() -> None:
        with requests.Session() as session:
            barrier.wait()
            answers.append(session.post(f"{api.url}/orders", json=order, headers=auth(), timeout=30))

    threads = [threading.Thread(target=send) for _ in range(SENDERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    # Then every answer is 201 (exactly one) or 200, each with that order as it was created
    assert len(answers) == SENDERS
    assert Counter(answer.status_code for answer in answers) == {201: 1, 200: SENDERS - 1}
    views = [answer.json() for answer in answers]
    assert {(v["request_id"], v["created_ms"]) for v in views} == {(order["RequestId"], views[0]["created_ms"])}
    assert all(v["order"]["Products"] == [{"ProductId": 100003, "Quantity": 1, "Value": "20.00"}] for v in views)

    # And one order is stored, fulfilled after one Place Order call at the sandbox
    request_id = order["RequestId"]

    def final_state() -> str | None:
        state = module_rt.store.get(request_id).state
        return state if state in states.FINAL else None

    assert wait_for(final_state, timeout_s=30, what="a final state") == states.FULFILLED
    assert len(module_rt.store.history(request_id)) == 4  # accepted, submitting, placed, fulfilled: once each
    calls = sandbox.admin("GET", "calls")["calls"]
    assert [c["endpoint"] for c in calls if c["request_id"] == request_id].count("place_order") == 1
    assert sandbox.admin("GET", "findings")["accepted_request_ids"].count(request_id) == 1
