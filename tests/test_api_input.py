"""How `POST /orders` reads its body, against the real gunicorn API: exact numbers, one value per key, UTF-8 only,
and a size limit that holds for chunked bodies too. Every refusal is giftq's JSON error with its reason code."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import pytest
import requests

from tests.api_fixtures import auth
from worker.cli.processes import ApiServer
from worker.orders import states
from worker.runtime import Runtime

pytestmark = pytest.mark.timeout(60)

JSON = {"Content-Type": "application/json"}


def post_raw(api: ApiServer, body: bytes | Iterator[bytes]) -> requests.Response:
    """POST bytes as they are (a generator is sent chunked, without Content-Length)."""
    return requests.post(f"{api.url}/orders", data=body, headers={**auth(), **JSON}, timeout=10)


def assert_error(response: requests.Response, status: int, reason: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert (body["status"], body["reason"]) == (status, reason), body
    assert body["message"] and set(body) == {"status", "reason", "message", "request_id"}
    return body


def an_order_text(value: str = "25", request_id: str | None = None) -> str:
    """An order's JSON text with `value` written into it as it stands (so no float rounds it on our side)."""
    request_id = request_id or str(uuid.uuid4())
    return (f'{{"RequestId": "{request_id}", "AccountId": 655, '
            f'"Products": [{{"ProductId": 100001, "Quantity": 1, "Value": {value}}}]}}')  # fmt: skip


def test_a_value_with_a_third_decimal_far_down_is_refused_not_rounded(api: ApiServer, module_rt: Runtime) -> None:
    # Given an order whose Value a float would read as 25.0
    request_id = str(uuid.uuid4())
    text = an_order_text("25.000000000000000000001", request_id)
    assert json.loads(text)["Products"][0]["Value"] == 25.0

    # When it is posted, then it is refused by the two-decimals rule, and stored as rejected with that reason
    body = assert_error(post_raw(api, text.encode()), 400, "InvalidDenomination")
    assert "2 decimals" in body["message"] and body["request_id"] == request_id
    record = module_rt.store.get(request_id)
    assert (record.state, record.reason) == (states.REJECTED, "InvalidDenomination")


def test_exact_decimal_values_are_still_accepted(api: ApiServer) -> None:
    created = post_raw(api, an_order_text("25.50").encode())
    assert created.status_code == 201, created.text
    assert created.json()["order"]["Products"][0]["Value"] == "25.50"


LINE = '{"ProductId": 100001, "Quantity": 1, "Value": 25}'


@pytest.mark.parametrize(
    "text",
    [
        '{"RequestId": "<new>", "RequestId": "<new>", "AccountId": 655, "Products": [' + LINE + "]}",
        '{"IdempotencyKey": "k-<new>", "AccountId": 655, "AccountId": 656, "Products": [' + LINE + "]}",
        '{"IdempotencyKey": "k-<new>", "AccountId": 655,'
        ' "Products": [{"ProductId": 100001, "Quantity": 1, "Quantity": 9, "Value": 25}]}',
    ],
)
def test_a_key_given_twice_in_one_object_is_a_400_and_nothing_is_stored(
    api: ApiServer, module_rt: Runtime, text: str
) -> None:
    before = module_rt.store.count_by_state()
    while "<new>" in text:
        text = text.replace("<new>", str(uuid.uuid4()), 1)
    body = assert_error(post_raw(api, text.encode()), 400, "DuplicateKey")
    assert body["request_id"] is None
    assert module_rt.store.count_by_state() == before


@pytest.mark.parametrize(
    "raw",
    [
        b'{"IdempotencyKey": "\\ud800", "AccountId": 655, "Products": [' + LINE.encode() + b"]}",
        b'{"IdempotencyKey": "cart-\\udfff-1", "AccountId": 655, "Products": []}',
        b'{"IdempotencyKey": "k", "AccountId": 655, "Products": [], "Notify": {"Task": ["\\ud800"]}}',
        b'{"IdempotencyKey": "\xed\xa0\x80", "AccountId": 655, "Products": []}',  # a surrogate encoded as UTF-8
    ],
)
def test_a_lone_surrogate_in_a_string_is_a_400_not_a_500(api: ApiServer, raw: bytes) -> None:
    body = assert_error(post_raw(api, raw), 400, "InvalidUnicode")
    assert body["request_id"] is None


def test_a_chunked_body_over_the_limit_is_a_413_even_when_its_first_64_kb_are_a_whole_order(
    api: ApiServer, module_rt: Runtime
) -> None:
    # Given a valid order followed by whitespace, sent chunked (no Content-Length), 100 KB in all
    request_id = str(uuid.uuid4())
    head = an_order_text("25", request_id).encode()

    def chunks() -> Iterator[bytes]:
        yield head
        for _ in range(100):
            yield b" " * 1024

    # When it is posted, then it is refused as too large, and no order was stored
    assert_error(post_raw(api, chunks()), 413, "BodyTooLarge")
    assert module_rt.store.get(request_id) is None


def test_a_chunked_body_within_the_limit_is_read_whole(api: ApiServer) -> None:
    text = an_order_text("25").encode()
    created = post_raw(api, iter([text[:10], text[10:]]))
    assert created.status_code == 201, created.text
