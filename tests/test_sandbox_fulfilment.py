"""Delayed fulfilment (Created -> Processing -> final), failures, Get Order's shape and the webhook."""

import uuid

import pytest

from tests.waiting import wait_for

pytestmark = pytest.mark.timeout(30)

ORDER_KEYS = {
    "orderId",
    "requestId",
    "status",
    "createdDate",
    "total",
    "currency",
    "orderType",
    "errorMessage",
    "items",
}
ITEM_KEYS = {
    "brandCode",
    "productId",
    "productFaceValue",
    "quantity",
    "pictureUrl",
    "countryCode",
    "currencyCode",
    "status",
    "cards",
}
CARD_KEYS = {"id", "serialNumber", "cardCode", "pin", "expirationDate", "status"}


def place(bamboo_client, quantity: int = 3) -> str:
    request_id = str(uuid.uuid4())
    response = bamboo_client.place_order(
        [{"ProductId": 100002, "Quantity": quantity, "Value": 25}], request_id=request_id
    )
    assert response.status_code == 200, response.text
    return request_id


def test_an_order_goes_from_created_through_processing_to_succeeded(bamboo_sandbox, bamboo_client):
    # Given a fulfilment delay of 600 ms, when an order is followed by frequent Get Order calls
    bamboo_sandbox.configure(fulfil_delay_ms=600)
    request_id = place(bamboo_client)
    seen: list[str] = []

    def final() -> bool:
        status = bamboo_client.get_order(request_id).json()["status"]
        if not seen or seen[-1] != status:
            seen.append(status)
        return status == "Succeeded"

    wait_for(final, timeout_s=5, what="a final order", every_s=0.01)
    # Then it shows each status in turn and never goes back
    assert seen == ["Created", "Processing", "Succeeded"]


def test_cards_appear_only_once_the_order_is_final(bamboo_sandbox, bamboo_client):
    bamboo_sandbox.configure(fulfil_delay_ms=600)
    request_id = place(bamboo_client)
    in_progress = bamboo_client.get_order(request_id).json()
    assert in_progress["status"] in ("Created", "Processing")
    assert all(item["cards"] == [] for item in in_progress["items"])
    final = bamboo_client.wait_for_final_order(request_id)
    cards = final["items"][0]["cards"]
    assert len(cards) == 3 and all(card["status"] == "Sold" and card["cardCode"] and card["pin"] for card in cards)


def test_get_order_answers_the_documented_shape(bamboo_client):
    request_id = place(bamboo_client, quantity=2)
    order = bamboo_client.wait_for_final_order(request_id)
    assert set(order) == ORDER_KEYS
    assert (order["requestId"], order["total"], order["currency"], order["errorMessage"]) == (
        request_id,
        50.0,
        "USD",
        None,
    )
    (item,) = order["items"]
    assert set(item) == ITEM_KEYS
    assert (item["productId"], item["productFaceValue"], item["quantity"], item["status"]) == (
        100002,
        25.0,
        2,
        "Succeeded",
    )
    assert all(set(card) == CARD_KEYS for card in item["cards"])


def test_every_card_gets_its_own_code_pin_and_serial_number(bamboo_client):
    order = bamboo_client.wait_for_final_order(place(bamboo_client, quantity=20))
    cards = order["items"][0]["cards"]
    for field in ("cardCode", "pin", "serialNumber", "id"):
        assert len({card[field] for card in cards}) == 20


def test_with_fail_probability_one_an_order_ends_failed_with_no_card_codes(bamboo_sandbox, bamboo_client):
    bamboo_sandbox.configure(fail_probability=1.0)
    order = bamboo_client.wait_for_final_order(place(bamboo_client))
    assert order["status"] == "Failed" and order["errorMessage"]
    assert all(card["status"] == "Failed" and card["cardCode"] is None for card in order["items"][0]["cards"])


def test_with_partial_probability_one_some_cards_fail_and_the_order_ends_partial_failed(bamboo_sandbox, bamboo_client):
    bamboo_sandbox.configure(partial_probability=1.0)
    order = bamboo_client.wait_for_final_order(place(bamboo_client, quantity=5))
    statuses = [card["status"] for card in order["items"][0]["cards"]]
    assert order["status"] == "PartialFailed" and order["items"][0]["status"] == "PartialFailed"
    assert "Sold" in statuses and "Failed" in statuses


def test_a_failed_order_keeps_its_charge(bamboo_sandbox, bamboo_client):
    bamboo_sandbox.configure(fail_probability=1.0)
    request_id = place(bamboo_client, quantity=2)
    bamboo_client.wait_for_final_order(request_id)
    assert bamboo_sandbox.findings()["charged_per_account"]["555"]["total"] == "50.00"


def test_the_admin_order_view_shows_the_cards_before_the_order_is_final(bamboo_sandbox, bamboo_client):
    request_id = place(bamboo_client, quantity=2)
    order = bamboo_sandbox.order(request_id)
    assert order["finalStatus"] == "Succeeded" and len(order["allCards"]) == 2


def test_a_final_order_is_posted_to_the_registered_webhook_without_cards(
    bamboo_sandbox, bamboo_client, webhook_receiver
):
    # Given a webhook registered for sandbox accounts
    registration = {"notificationUrl": None, "notificationUrlSandbox": webhook_receiver.url, "secretKey": "s3cret"}
    response = bamboo_client.post("/api/Integration/v1/notification", registration)
    assert response.status_code == 200 and response.json() == registration
    # When an order of four cards becomes final
    request_id = place(bamboo_client, quantity=4)
    (body,) = wait_for(lambda: webhook_receiver.bodies, timeout_s=5, what="a webhook")
    # Then its summary is posted, in lowercase status, with the secret and no card data
    assert set(body) == {"orderId", "status", "totalCards", "createdOn", "completedOn", "secretKey", "requestId"}
    assert (body["status"], body["totalCards"], body["secretKey"], body["requestId"]) == (
        "succeeded",
        4,
        "s3cret",
        request_id,
    )
    assert bamboo_client.get_order(request_id).json()["status"] == "Succeeded"
    delivery = wait_for(
        lambda: bamboo_sandbox.admin_get("/_sandbox/webhooks")["deliveries"], timeout_s=5, what="a delivery"
    )
    assert delivery[0]["status"] == 204


def test_no_webhook_is_posted_without_a_registration(bamboo_sandbox, bamboo_client, webhook_receiver):
    request_id = place(bamboo_client)
    bamboo_client.wait_for_final_order(request_id)
    assert webhook_receiver.bodies == [] and bamboo_sandbox.admin_get("/_sandbox/webhooks")["deliveries"] == []
