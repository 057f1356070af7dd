"""The sandbox's ledger and its switches for money tests: every charge with its cards, a forgotten RequestId,
a revoked or forbidden credential."""

import uuid

import pytest
import requests

pytestmark = pytest.mark.timeout(30)


def steam(quantity: int = 2) -> list[dict]:
    return [{"ProductId": 100001, "Quantity": quantity, "Value": 25}]


def ledger(sandbox) -> list[dict]:
    return sandbox.admin_get("/_sandbox/ledger")["charges"]


def set_access(sandbox, client_id: str, access: str) -> dict:
    return sandbox.admin_post(f"/_sandbox/clients/{client_id}/access", {"access": access})


def test_the_ledger_lists_each_charge_with_its_lines_and_the_cards_get_order_gives(bamboo_sandbox, bamboo_client):
    # Given two accepted orders and one refused
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    bamboo_client.place_order(steam(2), request_id=first)
    bamboo_client.place_order([{"ProductId": 439685, "Quantity": 1, "Value": 10}], request_id=second)
    assert bamboo_client.place_order(steam(1), account_id=557).json() == {"message": "WrongAccount"}

    # Then the ledger has the two charges, in order, with what they cost and the cards Get Order shows once final
    entries = ledger(bamboo_sandbox)
    assert [(e["requestId"], e["charged"], e["cardsCharged"]) for e in entries] == [(first, "50.00", 2),
                                                                                    (second, "10.85", 1)]  # fmt: skip
    assert entries[0]["lines"] == [{"productId": 100001, "quantity": 2, "value": 25}]
    final = bamboo_client.wait_for_final_order(first)
    shown = {(c["serialNumber"], c["cardCode"], c["pin"]) for item in final["items"] for c in item["cards"]}
    assert {(c["serialNumber"], c["cardCode"], c["pin"]) for c in entries[0]["issuedCards"]} == shown
    assert entries[0]["failedCards"] == [] and entries[0]["client"] == "giftq-demo"


def test_the_ledger_shows_which_cards_of_a_partially_failed_order_were_paid_for_but_not_issued(
    bamboo_sandbox, bamboo_client
):
    bamboo_sandbox.configure(partial_probability=1.0)
    request_id = str(uuid.uuid4())
    bamboo_client.place_order(steam(3), request_id=request_id)
    (entry,) = ledger(bamboo_sandbox)
    assert entry["cardsCharged"] == 3 and entry["charged"] == "75.00"
    assert entry["finalStatus"] == "PartialFailed"
    assert len(entry["issuedCards"]) + len(entry["failedCards"]) == 3 and entry["failedCards"]


def test_a_forgotten_order_is_not_found_and_its_request_id_is_accepted_and_charged_again(bamboo_sandbox, bamboo_client):
    # Given an accepted order that the provider then forgets
    request_id = str(uuid.uuid4())
    bamboo_client.place_order(steam(1), request_id=request_id)
    forgotten = requests.delete(f"{bamboo_sandbox.url}/_sandbox/orders/{request_id}", timeout=5)
    assert forgotten.status_code == 200

    # Then Get Order does not find it, the same RequestId is accepted again, and the ledger keeps both charges
    assert bamboo_client.get_order(request_id).json() == {"message": "OrderNotFound"}
    assert bamboo_client.place_order(steam(1), request_id=request_id).status_code == 200
    assert [entry["requestId"] for entry in ledger(bamboo_sandbox)] == [request_id, request_id]
    assert bamboo_sandbox.findings()["charged_more_than_once"] == [request_id]
    # And an order it never had cannot be forgotten
    missing = requests.delete(f"{bamboo_sandbox.url}/_sandbox/orders/{uuid.uuid4()}", timeout=5)
    assert missing.status_code == 404


def test_a_revoked_client_gets_401_and_a_forbidden_one_403_counting_no_limit_and_meeting_no_fault(
    bamboo_sandbox, bamboo_client
):
    # Given a fault waiting for the next Place Order, and the client's credential revoked
    bamboo_sandbox.schedule_fault("error_500_before_commit", count=1)
    set_access(bamboo_sandbox, "giftq-demo", "revoked")
    assert bamboo_sandbox.admin_get("/_sandbox/clients/giftq-demo/access")["access"] == "revoked"

    # Then its calls get 401, then 403 once forbidden, and nothing is charged
    revoked = bamboo_client.place_order(steam(1))
    set_access(bamboo_sandbox, "giftq-demo", "forbidden")
    forbidden = bamboo_client.get_order(str(uuid.uuid4()))
    assert revoked.status_code == 401 and revoked.headers["WWW-Authenticate"].startswith("Basic")
    assert (forbidden.status_code, forbidden.json()) == (403, {"message": "Forbidden"})
    assert [(c["client"], c["status"], c["reason"]) for c in bamboo_sandbox.calls()] == [
        (None, 401, "Unauthorized"),
        (None, 403, "Forbidden"),
    ]
    assert bamboo_sandbox.findings()["accepted_orders"] == 0
    # And once granted again the waiting fault meets its call; a reset grants every client too
    set_access(bamboo_sandbox, "giftq-demo", "granted")
    assert bamboo_client.place_order(steam(1)).status_code == 500
    set_access(bamboo_sandbox, "giftq-demo", "revoked")
    bamboo_sandbox.reset()
    assert bamboo_client.place_order(steam(1)).status_code == 200


@pytest.mark.parametrize(("client_id", "access"), [("giftq-nobody", "revoked"), ("giftq-demo", "sometimes")])
def test_access_of_an_unknown_client_or_to_an_unknown_level_is_refused_with_a_400(bamboo_sandbox, client_id, access):
    response = requests.post(f"{bamboo_sandbox.url}/_sandbox/clients/{client_id}/access", json={"access": access},
                             timeout=5)  # fmt: skip
    assert response.status_code == 400 and response.json()["error"]
