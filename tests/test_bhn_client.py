"""BhnClient against the real BHN sandbox over HTTP: tokens, idempotent creates, status mapping, faults and
refusals as giftq's own types, and no token or secret in any repr or exception text."""

from __future__ import annotations

import time
import uuid
from decimal import Decimal

import pytest

from config.settings import Credential, Limits
from tests.bhn_fixtures import AMAZON, TARGET, TIMS_CAD, VISA_PHYSICAL, BhnApi
from tests.waiting import wait_for
from worker.errors import (
    GiftqError,
    NotSent,
    OrderNotFound,
    OrderRejected,
    ProviderAuthFailed,
    RateLimited,
    UnknownOutcome,
)
from worker.providers.base import (
    FAILED,
    IN_PROGRESS,
    PARTIALLY_FAILED,
    SUCCEEDED,
    Address,
    OrderLine,
    Person,
    PlaceRequest,
)
from worker.providers.bhn import BhnClient

pytestmark = pytest.mark.timeout(30)
SECRET = "bhn-demo-secret"
RECIPIENT = Person(email="friend@example.com")


def make_client(sandbox, **options) -> BhnClient:
    credential = Credential(client_id="giftq-bhn-demo", client_secret=SECRET, limits=Limits())
    options.setdefault("timeout_s", 2)
    return BhnClient(sandbox.url, sandbox.url, credential, **options)


def request(*lines: OrderLine, request_id: str | None = None, **fields) -> PlaceRequest:
    lines = lines or (OrderLine(AMAZON, 1, Decimal("25.00"), "USD"),)
    fields.setdefault("recipient", RECIPIENT)
    return PlaceRequest(request_id or uuid.uuid4().hex[:24], None, lines, **fields)


def calls(sandbox, endpoint: str) -> list[dict]:
    return [call for call in sandbox.admin("GET", "calls")["calls"] if call["endpoint"] == endpoint]


def final(client: BhnClient, request_id: str):
    return wait_for(lambda: (order := client.get(request_id)).final and order, timeout_s=5, what="a final order")


@pytest.fixture
def client(bhn_sandbox) -> BhnClient:
    return make_client(bhn_sandbox)


def test_one_token_serves_many_calls(bhn_sandbox, client):
    for _ in range(3):
        client.place(request())
    client.catalog()
    assert len(calls(bhn_sandbox, "token")) == 1 and len(calls(bhn_sandbox, "place_order")) == 3


def test_a_token_past_its_lifetime_is_refreshed_before_the_call_with_no_extra_create(bhn_sandbox):
    # Given tokens that live one second and a client holding one
    bhn_sandbox.admin("POST", "config", json={"token_lifetime_s": 1})
    client = make_client(bhn_sandbox)
    client.warm()
    # When a token fetched after the client's has expired at the sandbox (so the client's has too)
    later = BhnApi(bhn_sandbox.url)
    wait_for(lambda: later.get("/v1/catalogs/default").status_code == 401, timeout_s=5, what="token expiry")
    # Then the next create fetches a new token first: one create call, no 401
    assert client.place(request()) is True
    creates = calls(bhn_sandbox, "place_order")
    assert [call["status"] for call in creates] == [201]
    assert len([call for call in calls(bhn_sandbox, "token") if call["client"] == "giftq-bhn-demo"]) == 3


def test_a_401_on_a_call_refreshes_the_token_once_and_retries(bhn_sandbox, client):
    client.warm()
    bhn_sandbox.admin("POST", "tokens/expire")
    assert client.place(request()) is True
    assert [call["status"] for call in calls(bhn_sandbox, "place_order")] == [401, 201]
    assert len(calls(bhn_sandbox, "token")) == 2
    assert bhn_sandbox.admin("GET", "findings")["accepted_orders"] == 1


def test_a_revoked_client_is_provider_auth_failed(bhn_sandbox, client):
    client.warm()
    bhn_sandbox.admin("POST", "clients/giftq-bhn-demo/access", json={"access": "revoked"})
    with pytest.raises(ProviderAuthFailed) as raised:
        client.place(request())
    assert raised.value.client_id == "giftq-bhn-demo" and "BHN" in str(raised.value)
    assert bhn_sandbox.admin("GET", "findings")["accepted_orders"] == 0


def test_a_wrong_secret_is_provider_auth_failed_without_the_secret_in_the_text(bhn_sandbox):
    credential = Credential(client_id="giftq-bhn-demo", client_secret="wrong-secret-value", limits=Limits())
    client = BhnClient(bhn_sandbox.url, bhn_sandbox.url, credential, timeout_s=2)
    with pytest.raises(ProviderAuthFailed) as raised:
        client.catalog()
    assert "wrong-secret-value" not in str(raised.value) and "wrong-secret-value" not in repr(client)


def test_a_second_place_of_the_same_request_is_false_and_the_ledger_holds_one_order(bhn_sandbox, client):
    placed = request(request_id="rid-twice", purchase_order_number="po-1")
    assert client.place(placed) is True
    assert client.place(placed) is False
    charges = bhn_sandbox.admin("GET", "ledger")["charges"]
    assert [charge["key"] for charge in charges] == ["rid-twice:po-1"]


def test_the_default_po_and_sender_go_out_when_the_request_has_none(bhn_sandbox, client):
    client.place(request(request_id="rid-po"))
    assert bhn_sandbox.admin("GET", "ledger")["charges"][0]["purchaseOrderNumber"] == "giftq"


def test_a_new_order_is_in_progress_then_succeeded_with_one_card_per_line(client):
    placed = request(OrderLine(AMAZON, 1, Decimal("25.00"), "USD"), OrderLine(TARGET, 3, Decimal("10.00"), "USD"))
    client.place(placed)
    assert client.get(placed.request_id).status == IN_PROGRESS
    order = final(client, placed.request_id)
    assert order.status == SUCCEEDED
    assert [(card.product_id, card.quantity) for card in order.cards] == [(AMAZON, 1), (TARGET, 3)]
    assert all(card.egift_url.startswith("http://") and card.issued for card in order.cards)
    assert all(card.serial_number == card.card_id for card in order.cards)
    assert "egift" not in repr(order)


@pytest.mark.parametrize(("fate", "status"), [("partial", PARTIALLY_FAILED), ("rejected", FAILED),
                                              ("cancelled", FAILED)])  # fmt: skip
def test_final_fates_map_to_giftq_statuses(bhn_sandbox, client, fate, status):
    bhn_sandbox.admin("POST", "next-order-fate", json={"fate": fate})
    placed = request(OrderLine(AMAZON, 1, Decimal("25.00"), "USD"), OrderLine(TARGET, 1, Decimal("10.00"), "USD"))
    client.place(placed)
    order = final(client, placed.request_id)
    assert order.status == status
    assert [bool(card.egift_url) for card in order.cards] == [status == PARTIALLY_FAILED, False]


def test_a_synchronous_client_gets_a_single_egift_completed_at_once(bhn_sandbox):
    client = make_client(bhn_sandbox, synchronous=True)
    placed = request()
    assert client.place(placed) is True
    assert client.get(placed.request_id).status == SUCCEEDED


def test_a_synchronous_client_sends_several_lines_asynchronously(bhn_sandbox):
    client = make_client(bhn_sandbox, synchronous=True)
    placed = request(OrderLine(AMAZON, 2, Decimal("25.00"), "USD"))
    assert client.place(placed) is True
    assert client.get(placed.request_id).status == IN_PROGRESS


def test_a_wait_time_returns_the_order_final(bhn_sandbox):
    client = make_client(bhn_sandbox, wait_time_ms=3000)
    placed = request()
    client.place(placed)
    assert client.get(placed.request_id).status == SUCCEEDED


def test_a_physical_card_to_a_named_sender_with_an_address_is_placed(client):
    address = Address(line1="1 Main St", city="Austin", postal_code="78701", country="US", region="TX")
    sender = Person(first_name="Ann", last_name="Lee", address=address)
    placed = request(OrderLine(VISA_PHYSICAL, 1, Decimal("50.00"), "USD"), sender=sender, recipient=None)
    assert client.place(placed) is True


def test_an_unknown_request_id_is_order_not_found(client):
    with pytest.raises(OrderNotFound):
        client.get("never-placed")


def test_a_400_is_order_rejected_with_the_first_error_code(client):
    with pytest.raises(OrderRejected) as raised:
        client.place(request(OrderLine(TIMS_CAD, 1, Decimal("25.00"), "USD")))
    assert raised.value.reason == "orderItems.amount.currency.mismatch"


def test_an_egift_without_a_recipient_is_rejected_by_bhn(client):
    with pytest.raises(OrderRejected) as raised:
        client.place(request(recipient=None))
    assert raised.value.reason == "recipient.email.required"


@pytest.mark.parametrize(("kind", "options"), [
    ("timeout_after_commit", {"hold_ms": 3000}),
    ("error_500_before_commit", {}),
    ("error_500_after_commit", {}),
    ("connection_reset", {}),
    ("connection_reset", {"after_commit": True}),
    ("ok_200_without_request_id", {}),
    ("ok_200_not_json", {}),
])  # fmt: skip
def test_each_fault_on_create_is_an_unknown_outcome(bhn_sandbox, kind, options):
    client = make_client(bhn_sandbox, timeout_s=0.5)
    client.warm()
    bhn_sandbox.admin("POST", "faults", json={"kind": kind, "count": 1, **options})
    with pytest.raises(UnknownOutcome):
        client.place(request())


def test_a_slow_response_within_the_timeout_is_still_the_answer(bhn_sandbox, client):
    bhn_sandbox.admin("POST", "faults", json={"kind": "slow_response", "count": 1, "delay_ms": 200})
    assert client.place(request()) is True


def test_a_429_is_rate_limited_with_the_retry_after(bhn_sandbox, client):
    bhn_sandbox.admin("POST", "faults", json={"kind": "rate_limited_429", "count": 1, "wait_s": 4})
    with pytest.raises(RateLimited) as raised:
        client.place(request())
    assert raised.value.wait_s == 4


def test_creates_too_close_together_are_rate_limited(bhn_sandbox, client):
    bhn_sandbox.admin("POST", "config", json={"spacing_ms": 5000})
    client.place(request())
    with pytest.raises(RateLimited):
        client.place(request())


def test_a_place_past_its_send_deadline_sends_nothing(bhn_sandbox, client):
    client.warm()
    with pytest.raises(NotSent):
        client.place(request(), send_by=time.monotonic() - 0.001)
    assert calls(bhn_sandbox, "place_order") == []


def test_on_sent_is_called_once_the_create_was_written(client):
    sent: list[float] = []
    before = time.monotonic()
    client.place(request(), on_sent=sent.append)
    assert len(sent) == 1 and sent[0] >= before


def test_catalog_and_accounts_are_giftq_types(client):
    products = {product.id: product for product in client.catalog()}
    assert products[TIMS_CAD].currency == "CAD" and products[AMAZON].max_face_value == Decimal("500.00")
    (account,) = client.accounts()
    assert (account.id, account.currency, account.active, account.sandbox_mode) == ("default", "USD", True, True)


def test_configured_account_ids_are_the_accounts(bhn_sandbox):
    client = make_client(bhn_sandbox, account_ids=["acct-1", "acct-2"])
    assert [account.id for account in client.accounts()] == ["acct-1", "acct-2"]


def test_no_repr_or_exception_text_carries_the_token_or_the_secret(bhn_sandbox, client):
    client.warm()
    token = client._token._token.value  # the cached token, to look for it
    texts = [repr(client), repr(client._token), repr(client._token._token)]
    for kind in ("error_500_before_commit", "connection_reset", "ok_200_not_json"):
        bhn_sandbox.admin("POST", "faults", json={"kind": kind, "count": 1})
        with pytest.raises(GiftqError) as raised:
            client.place(request())
        texts += [str(raised.value), repr(raised.value)]
    bhn_sandbox.admin("POST", "clients/giftq-bhn-demo/access", json={"access": "revoked"})
    with pytest.raises(ProviderAuthFailed) as refused:
        client.place(request())
    texts += [str(refused.value), repr(refused.value)]
    assert not [text for text in texts if token in text or SECRET in text]


@pytest.mark.parametrize("kind", ["error_500_before_commit", "connection_reset", "ok_200_not_json"])
def test_each_fault_on_get_is_an_unknown_outcome(bhn_sandbox, client, kind):
    placed = request()
    client.place(placed)
    bhn_sandbox.admin("POST", "faults", json={"kind": kind, "endpoint": "get_order", "count": 1})
    with pytest.raises(UnknownOutcome):
        client.get(placed.request_id)


def test_a_read_lagging_the_write_is_order_not_found_then_the_order(bhn_sandbox, client):
    placed = request()
    client.place(placed)
    bhn_sandbox.admin("POST", "faults", json={"kind": "order_not_found", "endpoint": "get_order", "count": 1})
    with pytest.raises(OrderNotFound):
        client.get(placed.request_id)
    assert client.get(placed.request_id).request_id == placed.request_id
