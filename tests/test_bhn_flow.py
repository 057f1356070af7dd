"""Orders through Blackhawk Network over the real stack: Redis, `celery -A worker worker` processes, the BHN sandbox
over HTTP (OAuth 2 tokens, Create order, Get order). Each order is counted against the sandbox's ledger.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import requests
from celery import Celery

from tests.bhn_fixtures import BHN_CLIENT_ID, BHN_CREDENTIAL, BHN_PRODUCTS, a_bhn_order, bhn_charges, bhn_creates
from tests.conftest import CARDS_KEYS
from tests.waiting import cards_of, final_state, wait_for
from worker.cli.processes import ApiServer, Sandbox
from worker.errors import OrderRejected
from worker.orders import states
from worker.runtime import Runtime

pytestmark = pytest.mark.timeout(90)


@pytest.fixture(autouse=True)
def _bhn(bhn_env: dict[str, str]) -> None:
    """Every test here runs giftq with a BHN credential (before `rt` and the workers read the environment)."""


def test_a_bhn_order_goes_from_submit_to_fulfilled_holding_its_e_gift_urls(
    rt: Runtime, producer: Celery, bhn_sandbox: Sandbox, start_workers
) -> None:
    # Given a worker, and an order of two lines (asynchronous at BHN), sent by task name
    start_workers(1)
    order = a_bhn_order()
    order["Products"].append({"ProductId": BHN_PRODUCTS[1][0], "Quantity": 2, "Value": "50.00", "Currency": "USD"})
    producer.send_task("giftq.submit_order", args=[order])

    # When it is final
    request_id = order["RequestId"]
    assert wait_for(lambda: final_state(rt, request_id), timeout_s=30, what="a final state") == states.FULFILLED

    # Then BHN charged it once, routed to the BHN credential, and it holds one e-gift URL per line, no code or PIN
    record = rt.store.get(request_id)
    assert (record.provider, record.credential) == ("bhn", BHN_CREDENTIAL)
    assert bhn_charges(bhn_sandbox, [request_id]) == {request_id: 1}
    assert len(bhn_creates(bhn_sandbox, {request_id})) == 1
    cards = cards_of(rt, request_id)
    assert sorted(card["quantity"] for card in cards) == [1, 2]
    assert all(card["egift_url"].startswith(bhn_sandbox.url + "/egift/") for card in cards)
    assert all(card["code"] == card["pin"] == "" for card in cards)
    assert record.summary["cards_issued"] == 3


def test_tokens_expiring_mid_run_cost_no_order_and_no_extra_create_call(
    rt: Runtime, producer: Celery, bhn_sandbox: Sandbox, start_workers
) -> None:
    # Given BHN tokens that live 3 s, and a worker
    bhn_sandbox.admin("POST", "config", json={"token_lifetime_s": 3})
    start_workers(1)

    # When orders keep coming, one after the other, for longer than two token lifetimes
    started, rids = time.monotonic(), []
    while time.monotonic() - started < 7 or len(rids) < 3:
        order = a_bhn_order()
        producer.send_task("giftq.submit_order", args=[order])
        rids.append(order["RequestId"])
        wait_for(lambda rid=order["RequestId"]: final_state(rt, rid), timeout_s=30, what="the order final")

    # Then every one is fulfilled, charged once, with one Create order each, none refused: the worker took a new
    # token before each old one expired
    assert {final_state(rt, rid) for rid in rids} == {states.FULFILLED}
    assert bhn_charges(bhn_sandbox, rids) == dict.fromkeys(rids, 1)
    creates = bhn_creates(bhn_sandbox)
    assert len(creates) == len(rids) and {call["status"] for call in creates} == {201}
    assert bhn_sandbox.admin("GET", "findings")["token_calls"] >= 3


def test_a_token_revoked_before_its_expiry_costs_one_refused_create_and_no_order(
    rt: Runtime, producer: Celery, bhn_sandbox: Sandbox, start_workers
) -> None:
    # Given one BHN order fulfilled with a token the worker keeps (one process: each process has its own token)
    start_workers(1, concurrency=1)
    first = a_bhn_order()
    producer.send_task("giftq.submit_order", args=[first])
    assert wait_for(lambda: final_state(rt, first["RequestId"]), timeout_s=30, what="the first order") == "fulfilled"

    # When BHN drops every token it issued, before their stated expiry, and a second order comes
    bhn_sandbox.admin("POST", "tokens/expire")
    second = a_bhn_order(*BHN_PRODUCTS[2])
    producer.send_task("giftq.submit_order", args=[second])

    # Then it is fulfilled and charged once: its first Create order was refused (401), and sent once more with a
    # new token
    rids = [first["RequestId"], second["RequestId"]]
    assert wait_for(lambda: final_state(rt, rids[1]), timeout_s=30, what="the second order") == states.FULFILLED
    assert bhn_charges(bhn_sandbox, rids) == dict.fromkeys(rids, 1)
    assert sorted(call["status"] for call in bhn_creates(bhn_sandbox)) == [201, 201, 401]


def test_a_revoked_bhn_credential_moves_the_order_to_needs_attention_with_a_reason_instead_of_retrying(
    rt: Runtime, producer: Celery, bhn_sandbox: Sandbox, start_workers
) -> None:
    # Given a worker (one process: it holds the token) whose BHN catalog is cached, then the credential revoked
    start_workers(1, concurrency=1)
    warm_up = a_bhn_order()
    producer.send_task("giftq.submit_order", args=[warm_up])
    wait_for(lambda: final_state(rt, warm_up["RequestId"]), timeout_s=30, what="the first order")
    calls_before_revoke = bhn_sandbox.admin("GET", "calls")["calls"]
    bhn_sandbox.admin("POST", f"clients/{BHN_CLIENT_ID}/access", json={"access": "revoked"})

    # When an order comes
    order = a_bhn_order()
    producer.send_task("giftq.submit_order", args=[order])

    # Then it needs attention with the reason, and nothing was created or charged for it: the create sent with the
    # worker's cached token was refused (401), the one token asked for then was refused too, and nothing more came
    request_id = order["RequestId"]
    record = wait_for(lambda: (r := rt.store.get(request_id)) and r.state == states.NEEDS_ATTENTION and r,
                      timeout_s=30, what="needs_attention")  # fmt: skip
    assert record.reason == "ProviderAuthFailed"
    assert bhn_charges(bhn_sandbox, [request_id]) == {request_id: 0}
    calls = bhn_sandbox.admin("GET", "calls")["calls"]
    after_revoke = [call for call in calls if call["at"] > calls_before_revoke[-1]["at"]]
    assert [(call["endpoint"], call["status"]) for call in after_revoke] == [("place_order", 401), ("token", 401)]


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"Products": [{"ProductId": "PRD-NOPE", "Quantity": 1, "Value": "25.00", "Currency": "USD"}]},
         "InvalidProductIds"),
        ({"Products": [{"ProductId": "PRD-2V6P-VISA-US", "Quantity": 1, "Value": "25.00", "Currency": "USD"}]},
         "InvalidProduct"),
        ({"Products": [{"ProductId": "PRD-5C1T-TIMS-CA", "Quantity": 1, "Value": "25.00", "Currency": "USD"}]},
         "InvalidCurrency"),
        ({"Products": [{"ProductId": "PRD-9X4M-STBX-US", "Quantity": 1, "Value": "100.01", "Currency": "USD"}]},
         "InvalidDenomination"),
        ({"Products": [{"ProductId": "PRD-9X4M-STBX-US", "Quantity": 1, "Value": "4.99", "Currency": "USD"}]},
         "InvalidDenomination"),
        ({"Products": [{"ProductId": "PRD-9X4M-STBX-US", "Quantity": 0, "Value": "10.00", "Currency": "USD"}]},
         "InvalidQuantity"),
        ({"Products": [{"ProductId": "PRD-9X4M-STBX-US", "Quantity": 501, "Value": "10.00", "Currency": "USD"}]},
         "CardsLimitExceeded"),
        ({"Products": []}, "NoProducts"),
        ({"Sender": {}}, "InvalidSender"),
        ({"Sender": {"FirstName": "Ada", "LastName": "Lovelace"}}, "InvalidSender"),
        ({"Recipient": {"FirstName": "Bo"}}, "InvalidRecipient"),
        ({"RequestId": "not-a-guid"}, "InvalidRequestId"),
        ({"PurchaseOrderNumber": "po:1"}, "InvalidPurchaseOrderNumber"),
        ({"Locale": "english"}, "InvalidLocale"),
        ({"AccountId": "someone-elses-account"}, "WrongAccount"),
    ],
)  # fmt: skip
def test_a_bhn_order_breaking_a_rule_of_the_page_is_refused_before_any_call(
    rt: Runtime, bhn_sandbox: Sandbox, change: dict, reason: str
) -> None:
    # Given the BHN credential's catalog, fetched from the sandbox
    intake = rt.intake(lambda _: None)

    # When an order breaking one rule is submitted
    with pytest.raises(OrderRejected) as refused:
        intake.submit({**a_bhn_order(), **change}, producer="shop")

    # Then it is refused with that rule's reason, and BHN saw no Create order
    assert refused.value.reason == reason
    assert bhn_creates(bhn_sandbox) == []


def test_a_bhn_orders_cards_endpoint_answers_its_e_gift_urls_to_its_producer_over_http(
    giftq_env: dict[str, str], rt: Runtime, bhn_sandbox: Sandbox, start_workers, tmp_path: Path
) -> None:
    # Given giftq's API and a worker, and a BHN order submitted over HTTP by the producer "shop"
    api = ApiServer(tmp_path / "api.log", giftq_env)
    try:
        start_workers(1)
        order = a_bhn_order(quantity=2)
        headers = {"Authorization": f"Bearer {CARDS_KEYS['shop']}"}
        submitted = requests.post(f"{api.url}/orders", json=order, headers=headers, timeout=10)
        assert submitted.status_code == 201, submitted.text
        request_id = order["RequestId"]
        wait_for(lambda: final_state(rt, request_id), timeout_s=30, what="a final state")

        # When the producer reads the cards
        answer = requests.get(f"{api.url}/orders/{request_id}/cards", headers=headers, timeout=10)
    finally:
        api.stop()

    # Then it gets the order's e-gift URL, standing for its 2 cards, and no code or PIN
    assert answer.status_code == 200, answer.text
    (card,) = answer.json()["cards"]
    assert card["egift_url"].startswith(bhn_sandbox.url + "/egift/") and card["quantity"] == 2
    assert card["code"] == card["pin"] == "" and card["product_id"] == order["Products"][0]["ProductId"]


def test_an_order_with_its_own_purchase_order_number_is_found_again_after_an_unknown_outcome(
    rt: Runtime, producer: Celery, bhn_sandbox: Sandbox, start_workers
) -> None:
    # Given a create that BHN commits but answers only after giftq's timeout (an unknown outcome), no beat
    bhn_sandbox.admin("POST", "faults", json={"kind": "timeout_after_commit", "endpoint": "place_order", "count": 1,
                                              "hold_ms": 3000})  # fmt: skip
    start_workers(1)

    # When an order naming its producer's own purchase order number is submitted
    order = {**a_bhn_order(), "PurchaseOrderNumber": "shop-po-77"}
    producer.send_task("giftq.submit_order", args=[order])

    # Then giftq reads it back by its external_id, finds it, and it ends fulfilled, charged once, under that PO
    request_id = order["RequestId"]
    assert wait_for(lambda: final_state(rt, request_id), timeout_s=40, what="a final state") == states.FULFILLED
    assert bhn_charges(bhn_sandbox, [request_id]) == {request_id: 1}
    (charge,) = [c for c in bhn_sandbox.admin("GET", "ledger")["charges"] if c["externalId"] == request_id]
    assert charge["purchaseOrderNumber"] == "shop-po-77"
    assert "found by Get Order" in [entry.get("note") for entry in rt.store.history(request_id)]
