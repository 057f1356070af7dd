"""The order request schema: every rule refuses with a reason code a machine can read."""

from __future__ import annotations

import uuid

import pytest

from worker.errors import OrderRejected
from worker.intake import canonical


def order(**overrides: object) -> dict:
    base = {
        "RequestId": str(uuid.uuid4()),
        "AccountId": 555,
        "Products": [{"ProductId": 439685, "Quantity": 2, "Value": 10}],
    }
    return {**base, **overrides}


def test_a_valid_order_becomes_its_canonical_form() -> None:
    request = canonical(order(Products=[{"ProductId": 439685, "Quantity": 2, "Value": "10.5"}]))
    assert request["Products"] == [{"ProductId": 439685, "Quantity": 2, "Value": "10.50"}]


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"RequestId": "not-a-guid"}, "InvalidRequestId"),
        ({"Products": []}, "NoProducts"),
        ({"Products": [{"ProductId": 1, "Quantity": 501, "Value": 10}]}, "CardsLimitExceeded"),
        ({"Products": [{"ProductId": 1, "Quantity": 300, "Value": 10}] * 2}, "CardsLimitExceeded"),
        ({"Products": [{"ProductId": 1, "Quantity": 0, "Value": 10}]}, "InvalidQuantity"),
        ({"Products": [{"ProductId": 1, "Quantity": 1, "Value": -5}]}, "InvalidDenomination"),
        ({"AccountId": "555"}, "InvalidOrder"),
        ({"Surprise": True}, "InvalidOrder"),
    ],
)
def test_a_bad_order_is_refused_with_its_reason(overrides: dict, reason: str) -> None:
    with pytest.raises(OrderRejected) as refused:
        canonical(order(**overrides))
    assert refused.value.reason == reason


def test_a_refusal_keeps_the_request_id_when_it_is_a_guid() -> None:
    request_id = str(uuid.uuid4())
    with pytest.raises(OrderRejected) as refused:
        canonical(order(RequestId=request_id, Products=[]))
    assert refused.value.request_id == request_id
