"""Order intake on a real Redis with the sandbox's catalog: one record per RequestId, refusals stored with reasons."""

from __future__ import annotations

import uuid

import pytest

from config.settings import Credential, Limits
from worker.errors import CatalogUnavailable, OrderRejected
from worker.keys import Keys
from worker.orders import states
from worker.orders.catalog import CatalogCache
from worker.orders.intake import IdempotencyConflict, Intake, request_id_for
from worker.providers.bamboo import BambooClient
from worker.runtime import Runtime


def an_order(**overrides: object) -> dict:
    base = {"RequestId": str(uuid.uuid4()), "AccountId": 555,
            "Products": [{"ProductId": 100001, "Quantity": 1, "Value": 25}]}  # fmt: skip
    return {key: value for key, value in {**base, **overrides}.items() if value is not ...}


@pytest.fixture
def enqueued() -> list[str]:
    return []


@pytest.fixture
def intake(rt: Runtime, enqueued: list[str]) -> Intake:
    return rt.intake(enqueued.append)


def test_a_valid_order_is_stored_once_with_its_producer_and_enqueued_once(
    intake: Intake, rt: Runtime, enqueued: list[str]
) -> None:
    order = an_order()
    first = intake.submit(order, producer="shop")
    again = intake.submit(order, producer="shop")
    assert (first.created, again.created) == (True, False)
    assert again.order == first.order
    assert first.order.state == states.ACCEPTED
    assert first.order.producer == "shop"
    assert enqueued == [order["RequestId"]]


def test_an_idempotency_key_maps_a_retry_to_the_first_order(intake: Intake, enqueued: list[str]) -> None:
    order = an_order(RequestId=..., IdempotencyKey="checkout-7781")
    first = intake.submit(order, producer="shop")
    again = intake.submit(order, producer="shop")
    assert first.order.request_id == again.order.request_id == request_id_for("shop", "checkout-7781")
    assert first.order.idempotency_key == "checkout-7781"
    assert len(enqueued) == 1


def test_the_same_request_id_with_another_body_or_from_another_producer_is_a_conflict(
    intake: Intake, rt: Runtime
) -> None:
    order = an_order()
    intake.submit(order, producer="shop")
    with pytest.raises(IdempotencyConflict):
        intake.submit({**order, "AccountId": 556}, producer="shop")
    with pytest.raises(IdempotencyConflict):
        intake.submit(order, producer="blog")
    assert rt.store.get(order["RequestId"]).request["AccountId"] == 555


def test_an_order_refused_by_the_catalog_is_stored_rejected_and_refused_again_on_retry(
    intake: Intake, rt: Runtime, enqueued: list[str]
) -> None:
    order = an_order(Products=[{"ProductId": 100001, "Quantity": 1, "Value": 500}])
    for _ in range(2):
        with pytest.raises(OrderRejected) as refused:
            intake.submit(order, producer="shop")
        assert refused.value.reason == "InvalidDenomination"
    record = rt.store.get(order["RequestId"])
    assert (record.state, record.reason, record.producer) == (states.REJECTED, "InvalidDenomination", "shop")
    assert [entry["to"] for entry in rt.store.history(order["RequestId"])] == ["accepted", "rejected"]
    assert enqueued == []


def test_without_any_catalog_nothing_is_stored_but_a_stored_order_is_still_answered(
    intake: Intake, rt: Runtime, enqueued: list[str]
) -> None:
    # Given an order stored while the catalog was there
    stored = an_order()
    intake.submit(stored)
    # And an intake whose credential can get no catalog (a fresh cache key: another credential)
    unreachable = Credential(client_id="unreachable", client_secret="x", limits=Limits())
    broken = BambooClient(rt.settings.bamboo.base_url + "/down", unreachable, timeout_s=2)
    cache = CatalogCache(rt.redis, Keys(rt.settings.key_prefix), broken, refresh_s=900, retry_s=30)
    blind = Intake(store=rt.store, catalog_for=lambda _: cache, credential_for=lambda *_: "unreachable",
                   sandbox_mode_for=lambda _: True, enqueue=enqueued.append)  # fmt: skip

    # When a new order comes, it is refused as CatalogUnavailable and not stored
    new = an_order()
    with pytest.raises(CatalogUnavailable):
        blind.submit(new)
    assert rt.store.get(new["RequestId"]) is None
    # But a retry of the stored order is answered from the store
    assert blind.submit(stored).order.request_id == stored["RequestId"]
    assert enqueued == [stored["RequestId"]]


def test_a_bhn_order_without_a_bhn_credential_is_refused_and_nothing_is_stored(
    intake: Intake, rt: Runtime, enqueued: list[str]
) -> None:
    # Given a giftq with Bamboo credentials only, and a well-formed BHN order
    assert rt.settings.bhn.credentials == ()
    order = {"Provider": "bhn", "RequestId": str(uuid.uuid4()), "Sender": {"Email": "shop@example.com"},
             "Recipient": {"Email": "friend@example.com"},
             "Products": [{"ProductId": "egift-usd", "Quantity": 1, "Value": "25", "Currency": "USD"}]}  # fmt: skip

    # When it is submitted, Then it is refused naming what the operator must set, and nothing is kept
    with pytest.raises(OrderRejected) as refused:
        intake.submit(order, producer="shop")
    assert refused.value.reason == "NoCredential" and "GIFTQ_BHN_CLIENT_ID" in refused.value.detail
    assert rt.store.get(order["RequestId"]) is None and enqueued == []


def test_a_producer_may_charge_only_the_bhn_accounts_the_operator_gave_it(rt: Runtime, enqueued: list[str]) -> None:
    # Given a producer allowed Bamboo account 555 and BHN account acme-ca only (GIFTQ_PRODUCER_ACCOUNTS)
    intake = Intake(store=rt.store, catalog_for=rt.catalog, credential_for=rt.credential_for,
                    sandbox_mode_for=lambda _: True, enqueue=enqueued.append,
                    producer_accounts={"shop": frozenset({"555", "bhn/acme-ca"})})  # fmt: skip
    order = {"Provider": "bhn", "RequestId": str(uuid.uuid4()), "Sender": {"Email": "shop@example.com"},
             "Recipient": {"Email": "friend@example.com"},
             "Products": [{"ProductId": "egift-usd", "Quantity": 1, "Value": "25", "Currency": "USD"}]}  # fmt: skip

    # When it sends a BHN order naming no account (the credential's default one), and one naming another account
    for account in (None, "acme-us"):
        with pytest.raises(OrderRejected) as refused:
            intake.submit({**order, "RequestId": str(uuid.uuid4())} | ({"AccountId": account} if account else {}),
                          producer="shop")  # fmt: skip

        # Then each is refused as an account it may not charge, and nothing is enqueued
        assert refused.value.reason == "AccountNotAllowed"
        assert f"bhn/{account or 'default'}" in refused.value.detail
    assert enqueued == []
