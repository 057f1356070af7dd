"""What a refused order leaves in the store: its reason, identity and a digest of its body, never the body.

Before, a refused order kept its raw body for the whole retention: 200 POSTs of 60 KB grew Redis by 12 MB.
"""

from __future__ import annotations

import uuid

import pytest

from config.settings import settings_from
from worker.errors import OrderRejected
from worker.orders import states
from worker.orders.intake import ACCOUNT_NOT_ALLOWED, body_digest, request_id_for
from worker.runtime import Runtime, build_runtime


def a_60_kb_order_refused_by_its_shape() -> dict:
    return {"RequestId": str(uuid.uuid4()), "AccountId": 555,
            "Products": [{"ProductId": 100001, "Quantity": 1, "Value": "25", "Note": "x" * 60_000}]}  # fmt: skip


def test_a_refused_order_keeps_its_reason_identity_and_digest_not_its_body(rt: Runtime) -> None:
    # Given an order of 60 KB that its shape refuses
    order = a_60_kb_order_refused_by_its_shape()

    # When it is submitted
    with pytest.raises(OrderRejected) as refused:
        rt.intake(lambda request_id: None).submit(order, producer="shop")

    # Then the store keeps a small record: the reason, the RequestId, the producer, the body's digest
    record = rt.store.get(order["RequestId"])
    assert record.state == states.REJECTED and record.reason == refused.value.reason
    assert record.producer == "shop"
    assert record.request == body_digest(order)
    assert rt.redis.memory_usage(rt.keys.order(order["RequestId"])) < 2_000


def test_a_retry_of_a_refused_order_is_refused_again_and_another_body_is_a_conflict(rt: Runtime) -> None:
    order = {"RequestId": str(uuid.uuid4()), "AccountId": 999_999,
             "Products": [{"ProductId": 100001, "Quantity": 1, "Value": "25"}]}  # fmt: skip
    intake = rt.intake(lambda request_id: None)
    with pytest.raises(OrderRejected) as first:
        intake.submit(order, producer="shop")
    with pytest.raises(OrderRejected) as again:
        intake.submit(order, producer="shop")
    assert again.value.reason == first.value.reason
    other = {**order, "Products": [{"ProductId": 100001, "Quantity": 2, "Value": "25"}]}
    with pytest.raises(Exception, match="already submitted"):
        intake.submit(other, producer="shop")


def test_an_order_for_an_account_its_producer_may_not_charge_is_refused_with_its_reason(
    giftq_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given an operator who lets shop charge account 655 only, and blog 555
    giftq_env["GIFTQ_PRODUCER_ACCOUNTS"] = "shop:655,blog:555"
    rt = build_runtime(settings_from(giftq_env))
    intake = rt.intake(lambda request_id: None)
    order = {"RequestId": str(uuid.uuid4()), "AccountId": 555,
             "Products": [{"ProductId": 100002, "Quantity": 1, "Value": "20"}]}  # fmt: skip

    # When shop orders on account 555, Then it is refused with AccountNotAllowed, and stored so
    with pytest.raises(OrderRejected) as refused:
        intake.submit(order, producer="shop")
    assert refused.value.reason == ACCOUNT_NOT_ALLOWED
    assert rt.store.get(order["RequestId"]).reason == ACCOUNT_NOT_ALLOWED
    # And blog, whose account it is, may
    other = {**order, "RequestId": str(uuid.uuid4())}
    assert intake.submit(other, producer="blog").created
    rt.redis.close()


def test_a_version_5_request_id_is_refused_so_no_producer_can_take_anothers_idempotency_key(rt: Runtime) -> None:
    # Given the RequestId giftq derives from shop's IdempotencyKey, which anyone can compute
    squatted = request_id_for("shop", "cart-1042")
    order = {"RequestId": squatted, "AccountId": 555, "Products": [{"ProductId": 100001, "Quantity": 1, "Value": 25}]}
    # When blog sends it as its own RequestId, Then it is refused and nothing is stored under it
    with pytest.raises(OrderRejected) as refused:
        rt.intake(lambda request_id: None).submit(order, producer="blog")
    assert refused.value.reason == "InvalidRequestId"
    assert rt.store.get(squatted) is None
