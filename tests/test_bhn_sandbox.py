"""The BHN sandbox over real HTTP: identity, create-order rules, idempotency, sync and async orders, faults and
the webhook, as sandbox/README.md states them."""

from __future__ import annotations

import time

import pytest
import requests

from tests.bhn_fixtures import (
    AMAZON,
    SECOND_CLIENT,
    TARGET,
    TIMS_CAD,
    VISA_PHYSICAL,
    BhnApi,
    egift_line,
    order_body,
)
from tests.waiting import wait_for

pytestmark = pytest.mark.timeout(30)
FINAL = ("COMPLETED", "REJECTED", "CANCELLED")


def codes(response: requests.Response) -> list[str]:
    assert response.status_code == 400, response.text
    return [error["errorCode"] for error in response.json()["errors"]]


def final_order(api: BhnApi, order_id: str) -> dict:
    def probe() -> dict | None:
        body = api.get(f"/v3/orders/{order_id}").json()
        return body if body["status"] in FINAL else None

    return wait_for(probe, timeout_s=5, what=f"order {order_id} final")


def test_the_identity_endpoint_gives_a_bearer_token_with_its_lifetime(bhn_api):
    body = bhn_api.fetch_token().json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3600 and len(body["access_token"]) >= 32


def test_a_wrong_secret_is_refused_as_an_invalid_client(bhn_api):
    response = bhn_api.fetch_token(client_secret="not-the-secret")
    assert response.status_code == 401 and response.json()["error"] == "invalid_client"
    assert "error_description" in response.json()


def test_a_grant_other_than_client_credentials_is_refused(bhn_api):
    response = bhn_api.fetch_token(grant_type="password")
    assert response.status_code == 400 and response.json()["error"] == "unsupported_grant_type"


def test_an_api_call_without_a_token_or_with_an_unknown_one_gets_401(bhn_api):
    assert requests.get(bhn_api.url + "/v1/catalogs/default", timeout=5).status_code == 401
    bhn_api.token = "made-up"
    response = bhn_api.get("/v1/catalogs/default")
    assert response.status_code == 401 and response.json()["errors"][0]["errorCode"] == "token.invalid"


def test_a_token_stops_working_once_its_lifetime_has_passed(bhn_sandbox):
    # Given tokens that live one second
    bhn_sandbox.admin("POST", "config", json={"token_lifetime_s": 1})
    api = BhnApi(bhn_sandbox.url)
    assert api.get("/v1/catalogs/default").status_code == 200
    # Then the same token is refused as expired once the second is over
    expired = wait_for(lambda: api.get("/v1/catalogs/default").status_code == 401, timeout_s=5, what="expiry")
    assert expired
    assert api.get("/v1/catalogs/default").json()["errors"][0]["errorCode"] == "token.expired"


def test_a_revoked_client_loses_its_tokens_and_gets_no_new_one_until_restored(bhn_sandbox, bhn_api):
    bhn_sandbox.admin("POST", "clients/giftq-bhn-demo/access", json={"access": "revoked"})
    assert bhn_api.get("/v1/catalogs/default").status_code == 401
    assert bhn_api.fetch_token().status_code == 401
    bhn_sandbox.admin("POST", "clients/giftq-bhn-demo/access", json={"access": "granted"})
    assert BhnApi(bhn_sandbox.url).get("/v1/catalogs/default").status_code == 200


def test_the_catalog_lists_usd_cad_and_physical_products_with_opaque_ids(bhn_api):
    products = bhn_api.get("/v1/catalogs/default").json()["products"]
    assert {product["currency"] for product in products} == {"USD", "CAD"}
    assert any(product["type"] == "PHYSICAL" for product in products)
    assert all(isinstance(product["productId"], str) for product in products)
    assert products[0]["minValue"] == "5.00" and products[0]["maxValue"] == "500.00"


def _without(field: str) -> dict:
    body = order_body()
    del body[field]
    return body


RULES = [
    ("externalId.required", _without("external_id"), {}),
    ("externalId.tooLong", order_body(external_id="x" * 37), {}),
    ("externalId.invalid", order_body() | {"external_id": 12}, {}),
    ("purchaseOrderNumber.invalid", order_body(purchase_order_number="p" * 37), {}),
    ("locale.invalid", order_body(locale="english"), {}),
    ("customerId.tooLong", order_body(customer_id="c" * 101), {}),
    ("accountId.tooLong", order_body(account_id="a" * 37), {}),
    ("orderItems.required", order_body() | {"order_items": []}, {}),
    ("orderItems.invalid", order_body("not an object"), {}),
    ("orderItems.productId.unknown", order_body(egift_line(product_id="PRD-NOPE")), {}),
    ("orderItems.quantity.invalid", order_body(egift_line(quantity=0)), {}),
    ("orderItems.amount.invalid", order_body(egift_line(amount="501.00")), {}),
    ("orderItems.amount.invalid", order_body(egift_line(amount="25,00")), {}),
    ("orderItems.amount.currency.mismatch", order_body(egift_line(product_id=TIMS_CAD)), {}),
    ("recipient.email.required", order_body(egift_line() | {"recipient": {"first_name": "Ann"}}), {}),
    ("recipient.invalid", order_body(egift_line() | {"recipient": "friend@example.com"}), {}),
    ("sender.required", _without("sender"), {}),
    ("sender.invalid", order_body(sender={"first_name": "Ann", "last_name": "Lee"}), {}),
    ("metaData.invalid", order_body(meta_data=["a"]), {}),
    ("sourceConfiguration.unknown", order_body(), {"X-Source-Configuration": "elsewhere"}),
    ("waitTime.invalid", order_body(), {"X-Wait-Time-Ms": "30001"}),
    ("synchronous.invalid", order_body(), {"X-Synchronous": "maybe"}),
    ("sync.notAllowed", order_body(egift_line(quantity=2)), {"X-Synchronous": "true"}),
    ("clientTimestamp.invalid", order_body(), {"X-Client-Timestamp": "yesterday"}),
    ("request.invalid", ["not", "an", "object"], {}),
]


@pytest.mark.parametrize(("code", "body", "headers"), RULES, ids=[f"{rule[0]}-{n}" for n, rule in enumerate(RULES)])
def test_a_create_order_breaking_a_rule_is_refused_with_its_code_and_charges_nothing(
    bhn_sandbox, bhn_api, code, body, headers
):
    assert code in codes(bhn_api.create(body, **headers))
    assert bhn_sandbox.admin("GET", "findings")["accepted_orders"] == 0


def test_a_request_breaking_several_rules_gets_every_code(bhn_api):
    body = order_body(egift_line(quantity=0), locale="xx", sender={})
    assert {"orderItems.quantity.invalid", "locale.invalid", "sender.invalid"} <= set(codes(bhn_api.create(body)))
    body = order_body(external_id="x" * 37) | {"order_items": []}
    assert {"externalId.tooLong", "orderItems.required"} <= set(codes(bhn_api.create(body)))


def test_a_sender_may_be_a_name_with_an_address_and_a_physical_line_needs_no_recipient_email(bhn_api):
    sender = {"first_name": "Ann", "last_name": "Lee",
              "address": {"line1": "1 Main St", "city": "Austin", "postal_code": "78701", "country": "US"}}  # fmt: skip
    physical = {"product_id": VISA_PHYSICAL, "quantity": 1, "amount": {"amount": "50.00", "currency": "USD"}}
    assert bhn_api.create(order_body(physical, sender=sender)).status_code == 201


def test_a_second_create_with_the_same_key_answers_200_with_the_original_order_and_charges_once(bhn_sandbox, bhn_api):
    # Given an order placed with a key
    first = bhn_api.create(order_body(external_id="shop-1", purchase_order_number="po-7"))
    assert first.status_code == 201
    # When the same key comes again with another body
    again = bhn_api.create(order_body(egift_line(TARGET, amount="99.00"), external_id="shop-1",
                                      purchase_order_number="po-7"))  # fmt: skip
    # Then it answers 200 with the original order, and only one order was charged
    assert again.status_code == 200
    assert again.json()["id"] == first.json()["id"] and again.json()["order_items"][0]["product_id"] == AMAZON
    findings = bhn_sandbox.admin("GET", "findings")
    assert findings["accepted_orders"] == 1 and findings["charged_more_than_once"] == []
    assert len(bhn_sandbox.admin("GET", "ledger")["charges"]) == 1


def test_the_same_external_id_with_another_po_is_another_order(bhn_api):
    one = bhn_api.create(order_body(external_id="shop-2", purchase_order_number="po-a")).json()
    two = bhn_api.create(order_body(external_id="shop-2", purchase_order_number="po-b"))
    assert two.status_code == 201 and two.json()["id"] != one["id"]
    assert len(bhn_api.list_orders("shop-2")) == 2
    assert [order["id"] for order in bhn_api.list_orders("shop-2", purchase_order_number="po-a")] == [one["id"]]


def test_an_order_without_a_po_takes_the_account_default(bhn_api):
    assert bhn_api.create(order_body()).json()["purchase_order_number"] == "default-po"


def test_keys_are_per_client(bhn_sandbox, bhn_api):
    bhn_api.create(order_body(external_id="shared"))
    other = BhnApi(bhn_sandbox.url, SECOND_CLIENT)
    assert other.create(order_body(external_id="shared")).status_code == 201
    assert len(other.list_orders("shared")) == 1


def test_a_synchronous_single_egift_answers_completed_with_its_egift_url(bhn_api):
    order = bhn_api.create(order_body(), **{"X-Synchronous": "true"}).json()
    assert order["status"] == "COMPLETED"
    url = order["order_items"][0]["egift_url"]
    page = requests.get(url, timeout=5)
    assert page.status_code == 200 and "SANDBOX-" in page.text


def test_an_asynchronous_order_goes_new_then_completed_and_shows_its_urls_only_then(bhn_api):
    created = bhn_api.create(order_body(egift_line(), egift_line(TARGET, quantity=3))).json()
    assert created["status"] == "NEW" and all(line["egift_url"] is None for line in created["order_items"])
    done = final_order(bhn_api, created["id"])
    assert done["status"] == "COMPLETED"
    urls = [line["egift_url"] for line in done["order_items"]]
    assert all(urls) and len(set(urls)) == 2


def test_a_wait_time_holds_the_answer_until_the_order_is_final(bhn_api):
    started = time.monotonic()
    order = bhn_api.create(order_body(), **{"X-Wait-Time-Ms": "5000"}).json()
    assert order["status"] == "COMPLETED" and time.monotonic() - started < 4


@pytest.mark.parametrize(("fate", "status", "lines"), [
    ("rejected", "REJECTED", ["REJECTED", "REJECTED"]),
    ("cancelled", "CANCELLED", ["CANCELLED", "CANCELLED"]),
    ("partial", "COMPLETED", ["COMPLETED", "REJECTED"]),
])  # fmt: skip
def test_the_next_order_fate_decides_how_the_order_and_its_lines_end(bhn_sandbox, bhn_api, fate, status, lines):
    bhn_sandbox.admin("POST", "next-order-fate", json={"fate": fate})
    created = bhn_api.create(order_body(egift_line(), egift_line(TARGET))).json()
    done = final_order(bhn_api, created["id"])
    assert done["status"] == status and [line["status"] for line in done["order_items"]] == lines
    assert [bool(line["egift_url"]) for line in done["order_items"]] == [line == "COMPLETED" for line in lines]


def test_a_reject_probability_of_one_rejects_every_order(bhn_sandbox, bhn_api):
    bhn_sandbox.admin("POST", "config", json={"reject_probability": 1.0})
    created = bhn_api.create(order_body()).json()
    assert final_order(bhn_api, created["id"])["status"] == "REJECTED"


def test_get_order_of_another_client_is_not_found_and_list_of_an_unknown_id_is_empty(bhn_sandbox, bhn_api):
    created = bhn_api.create(order_body()).json()
    other = BhnApi(bhn_sandbox.url, SECOND_CLIENT)
    assert other.get(f"/v3/orders/{created['id']}").status_code == 404
    assert bhn_api.list_orders("never-used") == []


def test_creates_closer_than_the_spacing_get_429_with_retry_after(bhn_sandbox, bhn_api):
    bhn_sandbox.admin("POST", "config", json={"spacing_ms": 5000})
    assert bhn_api.create(order_body()).status_code == 201
    refused = bhn_api.create(order_body())
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
    assert bhn_sandbox.admin("GET", "findings")["accepted_orders"] == 1


def test_gets_over_the_get_limit_get_429(bhn_sandbox, bhn_api):
    bhn_sandbox.admin("POST", "config", json={"get_limit": 2, "get_window_ms": 10_000})
    statuses = [bhn_api.get("/v3/orders", external_id="x").status_code for _ in range(3)]
    assert statuses == [200, 200, 429]


def test_timeout_after_commit_charges_the_order_and_never_answers(bhn_sandbox, bhn_api):
    bhn_sandbox.admin("POST", "faults", json={"kind": "timeout_after_commit", "count": 1, "hold_ms": 2000})
    with pytest.raises(requests.ReadTimeout):
        bhn_api.create(order_body(external_id="held"), timeout=0.3)
    assert len(bhn_api.list_orders("held")) == 1
    assert bhn_sandbox.admin("GET", "findings")["accepted_orders"] == 1


@pytest.mark.parametrize(("kind", "charged"), [("error_500_before_commit", 0), ("error_500_after_commit", 1)])
def test_a_500_fault_before_commit_charges_nothing_and_after_commit_charges(bhn_sandbox, bhn_api, kind, charged):
    bhn_sandbox.admin("POST", "faults", json={"kind": kind, "count": 1})
    response = bhn_api.create(order_body())
    assert response.status_code == 500 and response.json()["errors"][0]["errorCode"] == "internal.error"
    assert bhn_sandbox.admin("GET", "findings")["accepted_orders"] == charged


@pytest.mark.parametrize("after_commit", [False, True])
def test_a_connection_reset_fault_ends_the_call_unanswered(bhn_sandbox, bhn_api, after_commit):
    fault = {"kind": "connection_reset", "count": 1, "after_commit": after_commit}
    bhn_sandbox.admin("POST", "faults", json=fault)
    with pytest.raises(requests.ConnectionError):
        bhn_api.create(order_body())
    assert bhn_sandbox.admin("GET", "findings")["accepted_orders"] == int(after_commit)
    assert bhn_sandbox.admin("GET", "calls")["calls"][-1]["status"] is None


def test_a_429_fault_answers_retry_after(bhn_sandbox, bhn_api):
    bhn_sandbox.admin("POST", "faults", json={"kind": "rate_limited_429", "count": 1, "wait_s": 3})
    response = bhn_api.create(order_body())
    assert response.status_code == 429 and response.headers["Retry-After"] == "3"


def test_a_slow_response_fault_answers_correctly_but_late(bhn_sandbox, bhn_api):
    bhn_sandbox.admin("POST", "faults", json={"kind": "slow_response", "count": 1, "delay_ms": 400})
    started = time.monotonic()
    assert bhn_api.create(order_body()).status_code == 201
    assert time.monotonic() - started >= 0.4


def test_the_calls_log_keeps_each_arrival_with_its_client_and_answer(bhn_sandbox, bhn_api):
    bhn_api.create(order_body(external_id="logged"))
    calls = bhn_sandbox.admin("GET", "calls")["calls"]
    assert [call["endpoint"] for call in calls] == ["token", "place_order"]
    create = calls[-1]
    assert (create["client"], create["request_id"], create["status"]) == ("giftq-bhn-demo", "logged", 201)
    assert create["at"] >= calls[0]["at"]


def test_the_admin_endpoints_answer_loopback_peers(bhn_sandbox):
    assert bhn_sandbox.admin("GET", "health") == {"ok": True, "provider": "bhn"}


def test_a_final_order_is_announced_to_the_webhook_with_the_secret_and_no_card_data(
    bhn_sandbox, bhn_api, bhn_webhook_receiver
):
    bhn_sandbox.admin("POST", "config", json={"webhook_url": bhn_webhook_receiver.url})
    created = bhn_api.create(order_body(external_id="hooked")).json()
    wait_for(lambda: bhn_webhook_receiver.received, timeout_s=5, what="the webhook")
    headers, body = bhn_webhook_receiver.received[0]
    assert body == {"id": created["id"], "external_id": "hooked", "status": "COMPLETED"}
    assert headers["X-BHN-Webhook-Secret"] == "bhn-webhook-secret"


def test_the_command_line_refuses_a_setting_out_of_range():
    from sandbox.cli import main

    with pytest.raises(SystemExit, match="reject_probability"):
        main(["bhn", "--port", "0", "--reject-probability", "2"])


def test_the_command_line_takes_every_setting_as_an_option():
    from sandbox.bhn.settings import Settings
    from sandbox.cli import build_parser

    args = build_parser().parse_args(["bhn", "--port", "0", "--token-lifetime-s", "2", "--webhook-url", "http://h/x",
                                      "--synchronous-header", "X-Sync"])  # fmt: skip
    assert (args.token_lifetime_s, args.webhook_url, args.synchronous_header) == (2, "http://h/x", "X-Sync")
    assert {name for name in Settings.__dataclass_fields__} <= set(vars(args))
