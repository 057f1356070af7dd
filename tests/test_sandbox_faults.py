"""Faults on command: what the caller sees, and what the audit records as committed and charged."""

import time
import uuid

import pytest
import requests

pytestmark = pytest.mark.timeout(30)


def apple() -> list[dict]:
    return [{"ProductId": 100002, "Quantity": 2, "Value": 10}]


def last_call(sandbox) -> dict:
    return sandbox.calls()[-1]


def was_charged(sandbox, request_id: str) -> bool:
    return request_id in sandbox.findings()["accepted_request_ids"]


def test_timeout_after_commit_charges_the_order_and_never_answers(bamboo_sandbox, bamboo_client):
    # Given the next Place Order is held for 2 s without an answer
    bamboo_sandbox.schedule_fault("timeout_after_commit", count=1, hold_ms=2000)
    request_id = str(uuid.uuid4())
    # When the caller waits only 0.3 s, then it sees a read timeout
    with pytest.raises(requests.ReadTimeout):
        bamboo_client.place_order(apple(), request_id=request_id, timeout=0.3)
    # And yet the order exists and was charged; the audit says nothing was answered
    assert was_charged(bamboo_sandbox, request_id)
    assert bamboo_client.get_order(request_id).status_code == 200
    call = bamboo_sandbox.calls()[0]
    assert (call["status"], call["reason"]) == (None, "timeout_after_commit")


def test_timeout_after_commit_closes_the_connection_unanswered_when_the_hold_ends(bamboo_sandbox, bamboo_client):
    bamboo_sandbox.schedule_fault("timeout_after_commit", count=1, hold_ms=200)
    request_id = str(uuid.uuid4())
    with pytest.raises(requests.ConnectionError):
        bamboo_client.place_order(apple(), request_id=request_id, timeout=5)
    assert was_charged(bamboo_sandbox, request_id)
    # Re-sending the same RequestId resolves the unknown outcome: the provider already has it
    assert bamboo_client.place_order(apple(), request_id=request_id).json() == {"message": "OrderAlreadyExists"}


def test_error_500_before_commit_stores_and_charges_nothing(bamboo_sandbox, bamboo_client):
    bamboo_sandbox.schedule_fault("error_500_before_commit", count=1)
    request_id = str(uuid.uuid4())
    assert bamboo_client.place_order(apple(), request_id=request_id).status_code == 500
    assert not was_charged(bamboo_sandbox, request_id)
    assert (last_call(bamboo_sandbox)["status"], last_call(bamboo_sandbox)["reason"]) == (
        500,
        "error_500_before_commit",
    )
    # The same RequestId can then be placed for real
    assert bamboo_client.place_order(apple(), request_id=request_id).status_code == 200


def test_error_500_after_commit_stores_and_charges_the_order_then_answers_500(bamboo_sandbox, bamboo_client):
    bamboo_sandbox.schedule_fault("error_500_after_commit", count=1)
    request_id = str(uuid.uuid4())
    assert bamboo_client.place_order(apple(), request_id=request_id).status_code == 500
    assert was_charged(bamboo_sandbox, request_id)
    assert last_call(bamboo_sandbox)["reason"] == "error_500_after_commit"
    assert bamboo_client.place_order(apple(), request_id=request_id).json() == {"message": "OrderAlreadyExists"}
    assert bamboo_sandbox.findings()["charged_more_than_once"] == []


def test_an_after_commit_fault_waits_for_a_call_that_commits(bamboo_sandbox, bamboo_client):
    bamboo_sandbox.schedule_fault("error_500_after_commit", count=1)
    assert bamboo_client.place_order([]).json() == {"message": "NoProducts"}
    assert bamboo_client.place_order(apple()).status_code == 500


def test_rate_limited_429_answers_please_wait_and_stores_nothing(bamboo_sandbox, bamboo_client):
    bamboo_sandbox.schedule_fault("rate_limited_429", count=1, wait_s=7)
    request_id = str(uuid.uuid4())
    response = bamboo_client.place_order(apple(), request_id=request_id)
    assert (response.status_code, response.text) == (429, "Too many requests. Please wait for 7 seconds.")
    assert not was_charged(bamboo_sandbox, request_id)
    assert (last_call(bamboo_sandbox)["status"], last_call(bamboo_sandbox)["reason"]) == (429, "rate_limited_429")


def test_connection_reset_before_commit_is_a_connection_error_and_charges_nothing(bamboo_sandbox, bamboo_client):
    bamboo_sandbox.schedule_fault("connection_reset", count=1)
    request_id = str(uuid.uuid4())
    with pytest.raises(requests.ConnectionError) as raised:
        bamboo_client.place_order(apple(), request_id=request_id)
    assert "reset" in str(raised.value).lower()
    assert not was_charged(bamboo_sandbox, request_id)
    assert (last_call(bamboo_sandbox)["status"], last_call(bamboo_sandbox)["reason"]) == (None, "connection_reset")


def test_connection_reset_after_commit_is_a_connection_error_but_the_order_is_charged(bamboo_sandbox, bamboo_client):
    bamboo_sandbox.schedule_fault("connection_reset", count=1, after_commit=True)
    request_id = str(uuid.uuid4())
    with pytest.raises(requests.ConnectionError):
        bamboo_client.place_order(apple(), request_id=request_id)
    assert was_charged(bamboo_sandbox, request_id)


def test_slow_response_answers_correctly_after_the_delay(bamboo_sandbox, bamboo_client):
    bamboo_sandbox.schedule_fault("slow_response", count=1, delay_ms=400)
    request_id = str(uuid.uuid4())
    started = time.monotonic()
    response = bamboo_client.place_order(apple(), request_id=request_id)
    assert response.status_code == 200 and response.json() == request_id
    assert time.monotonic() - started >= 0.4
    assert (last_call(bamboo_sandbox)["status"], last_call(bamboo_sandbox)["reason"]) == (200, "slow_response")


def test_a_fault_on_get_order_leaves_place_order_alone(bamboo_sandbox, bamboo_client):
    bamboo_sandbox.schedule_fault("error_500_before_commit", endpoint="get_order", count=2)
    request_id = str(uuid.uuid4())
    assert bamboo_client.place_order(apple(), request_id=request_id).status_code == 200
    assert [bamboo_client.get_order(request_id).status_code for _ in range(3)] == [500, 500, 200]


def test_timeout_after_commit_on_get_order_is_a_read_timeout(bamboo_sandbox, bamboo_client):
    bamboo_sandbox.schedule_fault("timeout_after_commit", endpoint="get_order", count=1, hold_ms=1000)
    request_id = str(uuid.uuid4())
    bamboo_client.place_order(apple(), request_id=request_id)
    with pytest.raises(requests.ReadTimeout):
        bamboo_client.get_order(request_id, timeout=0.2)
    assert bamboo_client.get_order(request_id).status_code == 200


def test_a_fault_with_probability_one_hits_every_call_until_cleared(bamboo_sandbox, bamboo_client):
    bamboo_sandbox.schedule_fault("error_500_before_commit", endpoint="get_order", probability=1.0)
    assert [bamboo_client.get_order(str(uuid.uuid4())).status_code for _ in range(3)] == [500, 500, 500]
    assert len(bamboo_sandbox.admin_get("/_sandbox/faults")["faults"]) == 1
    bamboo_sandbox.admin_delete("/_sandbox/faults")
    assert bamboo_client.get_order(str(uuid.uuid4())).status_code == 400


def test_a_seeded_probability_fault_hits_some_calls_and_the_same_ones_after_a_reset(bamboo_sandbox, bamboo_client):
    def statuses() -> list[int]:
        bamboo_sandbox.reset()
        bamboo_sandbox.schedule_fault("error_500_before_commit", endpoint="get_order", probability=0.5)
        return [bamboo_client.get_order(str(uuid.uuid4())).status_code for _ in range(20)]

    first = statuses()
    assert {400, 500} <= set(first)
    assert statuses() == first


def test_a_counted_fault_is_used_up(bamboo_sandbox, bamboo_client):
    bamboo_sandbox.schedule_fault("rate_limited_429", count=2)
    assert [bamboo_client.place_order(apple()).status_code for _ in range(3)] == [429, 429, 200]
    assert bamboo_sandbox.admin_get("/_sandbox/faults")["faults"] == []


@pytest.mark.parametrize(
    "fault",
    [
        {"kind": "meteor_strike", "count": 1},
        {"kind": "slow_response"},
        {"kind": "slow_response", "count": 0},
        {"kind": "slow_response", "count": 1, "endpoint": "accounts"},
        {"count": 1},
    ],
    ids=["unknown-kind", "no-count-or-probability", "zero-count", "unknown-endpoint", "no-kind"],
)
def test_a_malformed_fault_is_refused_with_a_400(bamboo_sandbox, fault):
    response = requests.post(bamboo_sandbox.url + "/_sandbox/faults", json=fault, timeout=5)
    assert response.status_code == 400 and response.json()["error"]


def test_ok_200_without_request_id_before_commit_answers_200_and_charges_nothing(bamboo_sandbox, bamboo_client):
    bamboo_sandbox.schedule_fault("ok_200_without_request_id", count=1)
    request_id = str(uuid.uuid4())
    response = bamboo_client.place_order(apple(), request_id=request_id)
    assert (response.status_code, response.json()) == (200, {})
    assert (last_call(bamboo_sandbox)["status"], last_call(bamboo_sandbox)["reason"]) == (
        200,
        "ok_200_without_request_id",
    )
    assert not was_charged(bamboo_sandbox, request_id)
    assert bamboo_client.get_order(request_id).json() == {"message": "OrderNotFound"}


def test_ok_200_not_json_after_commit_charges_the_order_and_answers_a_page(bamboo_sandbox, bamboo_client):
    bamboo_sandbox.schedule_fault("ok_200_not_json", count=1, after_commit=True)
    request_id = str(uuid.uuid4())
    response = bamboo_client.place_order(apple(), request_id=request_id)
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("text/html")
    with pytest.raises(ValueError):
        response.json()
    assert was_charged(bamboo_sandbox, request_id)
    assert bamboo_client.place_order(apple(), request_id=request_id).json() == {"message": "OrderAlreadyExists"}


def test_order_not_found_on_get_order_hides_an_order_that_exists_once(bamboo_sandbox, bamboo_client):
    # Given an accepted order, and a Get Order that lags the write once
    request_id = str(uuid.uuid4())
    assert bamboo_client.place_order(apple(), request_id=request_id).status_code == 200
    bamboo_sandbox.schedule_fault("order_not_found", endpoint="get_order", count=1)
    # Then the first Get Order says OrderNotFound, the next one finds it, and Place Order still knows it
    first, second = (bamboo_client.get_order(request_id) for _ in range(2))
    assert (first.status_code, first.json()) == (400, {"message": "OrderNotFound"})
    assert second.status_code == 200 and second.json()["requestId"] == request_id
    assert bamboo_client.place_order(apple(), request_id=request_id).json() == {"message": "OrderAlreadyExists"}
    assert bamboo_sandbox.findings()["accepted_request_ids"] == [request_id]


@pytest.mark.parametrize(
    "fault",
    [
        {"kind": "order_not_found", "endpoint": "place_order", "count": 1},
        {"kind": "slow_response", "after_commit": True, "count": 1},
    ],
    ids=["order-not-found-on-place-order", "after-commit-on-a-kind-without-it"],
)
def test_a_fault_at_a_moment_or_endpoint_it_has_not_is_refused_with_a_400(bamboo_sandbox, fault):
    response = requests.post(bamboo_sandbox.url + "/_sandbox/faults", json=fault, timeout=5)
    assert response.status_code == 400 and response.json()["error"]
