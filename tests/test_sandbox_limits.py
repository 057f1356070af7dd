"""Bamboo's limits answered with 429, and the findings that prove (or disprove) a client kept them."""

import re
import uuid

import pytest

from tests.sandbox_fixtures import BambooClient

pytestmark = pytest.mark.timeout(30)

WAIT_TEXT = re.compile(r"^Too many requests\. Please wait for (\d+) seconds\.$")


def steam() -> list[dict]:
    return [{"ProductId": 100001, "Quantity": 1, "Value": 20}]


def wait_seconds(response) -> int:
    assert response.status_code == 429, response.text
    match = WAIT_TEXT.match(response.text)
    assert match, response.text
    return int(match.group(1))


def test_place_order_sooner_than_the_spacing_is_refused_429_and_creates_nothing(bamboo_sandbox, bamboo_client):
    # Given a spacing of 1 s, when a client places two orders back to back
    bamboo_sandbox.configure(spacing_ms=1000)
    first = bamboo_client.place_order(steam(), paced=False)
    second_id = str(uuid.uuid4())
    second = bamboo_client.place_order(steam(), request_id=second_id, paced=False)
    # Then the second waits whole seconds, is not stored and not charged
    assert first.status_code == 200
    assert wait_seconds(second) == 1
    assert bamboo_client.get_order(second_id).json() == {"message": "OrderNotFound"}
    assert bamboo_sandbox.findings()["accepted_orders"] == 1
    assert bamboo_sandbox.calls()[1]["reason"] == "TooManyRequests"


def test_the_spacing_is_per_client(bamboo_sandbox, bamboo_client):
    bamboo_sandbox.configure(spacing_ms=1000)
    other = BambooClient(bamboo_sandbox.url, "giftq-demo-2", "demo-secret-2")
    assert bamboo_client.place_order(steam(), paced=False).status_code == 200
    assert other.place_order(steam(), account_id=655, paced=False).status_code == 200


def test_a_seventh_order_of_a_product_within_the_window_is_refused_429(bamboo_sandbox, bamboo_client):
    # Given at most 6 orders of a product per 3 s (spacing kept by the paced client)
    answers = [bamboo_client.place_order(steam()).status_code for _ in range(6)]
    refused = bamboo_client.place_order(steam())
    # Then the seventh waits until the first leaves the window, while another product is still free
    assert answers == [200] * 6
    assert 1 <= wait_seconds(refused) <= 3
    assert bamboo_client.place_order([{"ProductId": 100002, "Quantity": 1, "Value": 5}]).status_code == 200
    assert bamboo_sandbox.findings()["accepted_orders"] == 7


def test_an_order_fits_again_once_the_window_has_rolled_past_every_attempt(bamboo_sandbox, bamboo_client):
    # Given one order of a product per 300 ms, where refused attempts count like accepted ones
    bamboo_sandbox.configure(product_limit=1, product_window_ms=300)
    assert bamboo_client.place_order(steam()).status_code == 200
    assert bamboo_client.place_order(steam()).status_code == 429
    # When the client waits out the window after its refused attempt, then the order fits again
    bamboo_client.pace_s = 0.35
    assert bamboo_client.place_order(steam()).status_code == 200
    assert bamboo_sandbox.findings()["window_violations"][0]["count_in_window"] == 2


def test_get_order_beyond_its_limit_per_window_is_refused_429(bamboo_sandbox, bamboo_client):
    bamboo_sandbox.configure(get_order_limit=3)
    request_id = str(uuid.uuid4())
    bamboo_client.place_order(steam(), request_id=request_id)
    answers = [bamboo_client.get_order(request_id).status_code for _ in range(3)]
    assert answers == [200] * 3
    assert 1 <= wait_seconds(bamboo_client.get_order(request_id)) <= 3


def test_findings_report_spacing_and_window_violations_of_a_client_calling_too_fast(bamboo_sandbox, bamboo_client):
    # Given 1 s spacing and 2 orders of a product per window, when four orders go out at once
    bamboo_sandbox.configure(spacing_ms=1000, product_limit=2)
    for _ in range(4):
        bamboo_client.place_order(steam(), paced=False)
    findings = bamboo_sandbox.findings()
    # Then every call after the first broke the spacing, and the third and fourth broke the window
    assert [v["client"] for v in findings["spacing_violations"]] == ["giftq-demo"] * 3
    assert all(0 <= v["gap_ms"] < 1000 for v in findings["spacing_violations"])
    assert [v["count_in_window"] for v in findings["window_violations"]] == [3, 4]
    assert {v["product_id"] for v in findings["window_violations"]} == {100001}
    assert findings["place_order_calls"] == 4 and findings["accepted_orders"] == 1


def test_findings_are_empty_for_a_client_that_keeps_the_limits(bamboo_sandbox, bamboo_client):
    for product_id in (100001, 100002, 100001):
        bamboo_client.place_order([{"ProductId": product_id, "Quantity": 1, "Value": 10}])
    findings = bamboo_sandbox.findings()
    assert findings["spacing_violations"] == [] and findings["window_violations"] == []
    assert findings["accepted_orders"] == 3
