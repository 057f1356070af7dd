"""Place Order's rules: every reason code of the seed page, reached by a real condition, and the money."""

import uuid
from decimal import Decimal

import pytest
import requests

from tests.sandbox_fixtures import BambooClient

pytestmark = pytest.mark.timeout(30)

CHECKOUT = "/api/integration/v1.0/orders/checkout"


def steam(quantity: int = 1, value: int = 20) -> list[dict]:
    return [{"ProductId": 100001, "Quantity": quantity, "Value": value}]


def assert_refused(response: requests.Response, reason: str) -> None:
    assert response.status_code == 400, response.text
    assert response.json() == {"message": reason}


def balance(client: BambooClient, account_id: int) -> Decimal:
    accounts = client.get("/api/integration/v1.0/accounts").json(parse_float=Decimal)["accounts"]
    return next(account["balance"] for account in accounts if account["id"] == account_id)


def test_a_valid_order_is_accepted_with_its_request_id_as_a_bare_json_string(bamboo_client):
    request_id = str(uuid.uuid4())
    response = bamboo_client.place_order(steam(), request_id=request_id)
    assert response.status_code == 200
    assert response.text.strip() == f'"{request_id}"'


def test_the_seed_pages_example_charges_108_51_usd_for_ten_eur_10_cards(bamboo_sandbox, bamboo_client):
    # Given account 555 in USD, when it buys ten EUR 10 Amazon.de cards at EUR->USD 1.0851
    before = balance(bamboo_client, 555)
    response = bamboo_client.place_order([{"ProductId": 439685, "Quantity": 10, "Value": 10}], account_id=555)
    # Then it is charged exactly USD 108.51 and the balance drops by that
    assert response.status_code == 200
    assert before - balance(bamboo_client, 555) == Decimal("108.51")
    assert bamboo_sandbox.findings()["charged_per_account"] == {
        "555": {"currency": "USD", "total": "108.51", "orders": 1}
    }


def test_an_account_of_another_client_is_refused_with_wrong_account(bamboo_client):
    assert_refused(bamboo_client.place_order(steam(), account_id=655), "WrongAccount")


def test_an_inactive_account_is_refused_with_wrong_account(bamboo_client):
    assert_refused(bamboo_client.place_order(steam(), account_id=557), "WrongAccount")


def test_a_live_account_used_in_the_sandbox_is_refused_with_wrong_account(bamboo_client):
    assert_refused(bamboo_client.place_order(steam(), account_id=9555), "WrongAccount")


def test_an_order_costing_more_than_the_balance_is_refused_with_insufficient_balance(bamboo_sandbox):
    client = BambooClient(bamboo_sandbox.url, "giftq-demo-2", "demo-secret-2")
    assert_refused(client.place_order(steam(quantity=2, value=20), account_id=656), "InsufficientBalance")
    assert bamboo_sandbox.findings()["accepted_orders"] == 0


def test_an_unknown_product_is_refused_with_invalid_product_ids(bamboo_client):
    assert_refused(bamboo_client.place_order([{"ProductId": 999999, "Quantity": 1, "Value": 10}]), "InvalidProductIds")


def test_a_missing_product_id_is_refused_with_invalid_product_ids(bamboo_client):
    assert_refused(bamboo_client.place_order([{"Quantity": 1, "Value": 10}]), "InvalidProductIds")


def test_a_product_with_a_broken_configuration_is_refused_with_invalid_product(bamboo_client):
    # Product 100006 has MinFaceValue 50 above MaxFaceValue 20: no Value can be ordered.
    assert_refused(bamboo_client.place_order([{"ProductId": 100006, "Quantity": 1, "Value": 30}]), "InvalidProduct")


def test_value_above_max_face_value_is_refused_with_invalid_denomination(bamboo_client):
    assert_refused(bamboo_client.place_order(steam(value=101)), "InvalidDenomination")


def test_value_below_min_face_value_is_refused_with_invalid_denomination(bamboo_client):
    assert_refused(bamboo_client.place_order(steam(value=9)), "InvalidDenomination")


def test_an_empty_products_list_is_refused_with_no_products(bamboo_client):
    assert_refused(bamboo_client.place_order([]), "NoProducts")


def test_a_reused_request_id_is_refused_with_order_already_exists_and_charged_once(bamboo_sandbox, bamboo_client):
    request_id = str(uuid.uuid4())
    assert bamboo_client.place_order(steam(), request_id=request_id).status_code == 200
    assert_refused(bamboo_client.place_order(steam(), request_id=request_id), "OrderAlreadyExists")
    assert bamboo_sandbox.findings()["accepted_request_ids"] == [request_id]


def test_the_same_request_id_is_free_for_another_client(bamboo_sandbox, bamboo_client):
    request_id = str(uuid.uuid4())
    other = BambooClient(bamboo_sandbox.url, "giftq-demo-2", "demo-secret-2")
    assert bamboo_client.place_order(steam(), request_id=request_id).status_code == 200
    assert other.place_order(steam(), account_id=655, request_id=request_id).status_code == 200


def test_a_client_without_catalog_is_refused_with_client_catalog_not_exist(bamboo_sandbox):
    client = BambooClient(bamboo_sandbox.url, "giftq-nocatalog", "nocatalog-secret")
    assert_refused(client.place_order(steam(), account_id=855), "ClientCatalogNotExist")


def test_more_than_500_cards_are_refused_with_cards_limit_exceeded(bamboo_client):
    products = [{"ProductId": 100001, "Quantity": 300, "Value": 10}, {"ProductId": 100002, "Quantity": 201, "Value": 5}]
    assert_refused(bamboo_client.place_order(products), "CardsLimitExceeded")


def test_exactly_500_cards_are_accepted(bamboo_client):
    assert bamboo_client.place_order([{"ProductId": 100002, "Quantity": 500, "Value": 5}]).status_code == 200


def test_a_product_with_no_stock_is_refused_with_product_is_out_of_stock(bamboo_client):
    assert_refused(
        bamboo_client.place_order([{"ProductId": 100005, "Quantity": 1, "Value": 10}]), "ProductIsOutOfStock"
    )


def test_a_product_with_a_stale_client_price_is_refused_with_client_price_invalid(bamboo_client):
    # Product 100007's stored client price was set at rate 0.95; today's USD->USD rate is 1.
    assert_refused(bamboo_client.place_order([{"ProductId": 100007, "Quantity": 1, "Value": 10}]), "ClientPriceInvalid")


def test_a_disabled_user_is_refused_with_user_not_enabled(bamboo_sandbox):
    client = BambooClient(bamboo_sandbox.url, "giftq-disabled", "disabled-secret")
    assert_refused(client.place_order(steam(), account_id=755), "UserNotEnabled")


def test_an_unknown_request_id_is_answered_order_not_found(bamboo_client):
    assert_refused(bamboo_client.get_order(str(uuid.uuid4())), "OrderNotFound")


def test_another_clients_order_is_not_found(bamboo_sandbox, bamboo_client):
    request_id = str(uuid.uuid4())
    assert bamboo_client.place_order(steam(), request_id=request_id).status_code == 200
    other = BambooClient(bamboo_sandbox.url, "giftq-demo-2", "demo-secret-2")
    assert_refused(other.get_order(request_id), "OrderNotFound")


def test_a_request_id_that_is_not_a_guid_is_refused(bamboo_sandbox, bamboo_client):
    assert_refused(bamboo_client.place_order(steam(), request_id="order-42"), "InvalidRequestId")
    assert bamboo_sandbox.findings()["accepted_orders"] == 0


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b'["a list"]',
        b'{"RequestId": 42, "AccountId": 555, "Products": []}',
        b'{"RequestId": "97018cf7-98f5-40fc-a142-711d43a72e17", "AccountId": "555", "Products": []}',
        b'{"RequestId": "97018cf7-98f5-40fc-a142-711d43a72e17", "AccountId": 555, "Products": {}}',
        b'{"RequestId": "97018cf7-98f5-40fc-a142-711d43a72e17", "AccountId": 555,'
        b' "Products": [{"ProductId": 100001, "Quantity": "1", "Value": 20}]}',
        b'{"RequestId": "97018cf7-98f5-40fc-a142-711d43a72e17", "AccountId": 555,'
        b' "Products": [{"ProductId": 100001, "Quantity": 0, "Value": 20}]}',
    ],
    ids=[
        "not-json",
        "not-object",
        "request-id-number",
        "account-string",
        "products-object",
        "quantity-string",
        "quantity-zero",
    ],
)
def test_a_malformed_body_is_refused_with_a_400(bamboo_sandbox, body):
    headers = {"Content-Type": "application/json"}
    response = requests.post(
        bamboo_sandbox.url + CHECKOUT, data=body, headers=headers, auth=("giftq-demo", "demo-secret"), timeout=5
    )
    assert_refused(response, "InvalidRequest")


@pytest.mark.parametrize(
    "auth",
    [None, ("giftq-demo", "wrong-secret"), ("nobody", "demo-secret")],
    ids=["no-credentials", "wrong-secret", "unknown-client"],
)
def test_a_call_without_valid_basic_auth_is_answered_401_and_audited(bamboo_sandbox, auth):
    response = requests.post(bamboo_sandbox.url + CHECKOUT, json={}, auth=auth, timeout=5)
    assert response.status_code == 401
    (call,) = bamboo_sandbox.calls()
    assert (call["client"], call["status"], call["reason"]) == (None, 401, "Unauthorized")


def test_a_garbled_authorization_header_is_answered_401(bamboo_sandbox):
    headers = {"Authorization": "Basic not-base64!"}
    response = requests.get(bamboo_sandbox.url + "/api/integration/v1.0/accounts", headers=headers, timeout=5)
    assert response.status_code == 401


def test_balances_go_down_by_each_accepted_order_and_refusals_charge_nothing(bamboo_sandbox, bamboo_client):
    before = balance(bamboo_client, 556)
    assert bamboo_client.place_order([{"ProductId": 439685, "Quantity": 3, "Value": 20}], account_id=556).ok
    assert_refused(bamboo_client.place_order(steam(value=500), account_id=556), "InvalidDenomination")
    assert before - balance(bamboo_client, 556) == Decimal("60.00")
