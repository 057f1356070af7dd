"""`GET /orders/{request_id}/cards` as producers meet it: a real gunicorn API, a real worker, the sandbox."""

from __future__ import annotations

import uuid

import pytest
import requests

from api.apikeys import KEY_ID_HEX, key_digest
from tests.api_fixtures import auth
from tests.conftest import CARDS_KEYS
from tests.waiting import wait_for
from worker.cli.processes import ApiServer, Sandbox
from worker.orders import states
from worker.orders.vault import CARDS_ERASED
from worker.runtime import Runtime

pytestmark = pytest.mark.timeout(60)


def cards_auth(producer: str = "shop") -> dict[str, str]:
    return {"Authorization": f"Bearer {CARDS_KEYS[producer]}"}


def an_order(quantity: int = 2) -> dict:
    return {"RequestId": str(uuid.uuid4()), "AccountId": 655,
            "Products": [{"ProductId": 100002, "Quantity": quantity, "Value": 20}]}  # fmt: skip


def final_order(api: ApiServer, order: dict, headers: dict[str, str]) -> dict:
    """Submit `order` and wait until it is final; its view."""
    assert requests.post(f"{api.url}/orders", json=order, headers=headers, timeout=10).status_code == 201

    def final() -> dict | None:
        view = requests.get(f"{api.url}/orders/{order['RequestId']}", headers=headers, timeout=10).json()
        return view if view["state"] in states.FINAL else None

    return wait_for(final, timeout_s=30, what="a final order")


def get_cards(api: ApiServer, request_id: str, headers: dict[str, str]) -> requests.Response:
    return requests.get(f"{api.url}/orders/{request_id}/cards", headers=headers, timeout=10)


def test_the_producer_gets_its_decrypted_cards_and_every_read_is_recorded(
    api: ApiServer, api_worker: object, module_rt: Runtime, sandbox: Sandbox
) -> None:
    # Given a fulfilled order of shop
    order = an_order(quantity=2)
    assert final_order(api, order, cards_auth())["state"] == states.FULFILLED

    # When shop reads its cards twice with its cards key
    first, second = (get_cards(api, order["RequestId"], cards_auth()) for _ in range(2))

    # Then both answers hold exactly the codes and PINs the sandbox issued, never cached
    assert first.status_code == 200, first.text
    assert first.headers["Cache-Control"] == "no-store"
    issued = sandbox.admin("GET", f"orders/{order['RequestId']}?client=giftq-demo-2")["allCards"]
    assert {(c["code"], c["pin"]) for c in first.json()["cards"]} == {(c["cardCode"], c["pin"]) for c in issued}
    assert second.json() == first.json()

    # And each read is recorded with who and which key, and counted on the order (which shows no card)
    reads = module_rt.vault.reads(order["RequestId"])
    assert [(r["producer"], r["key_id"]) for r in reads] == [("shop", key_digest(CARDS_KEYS["shop"])[:KEY_ID_HEX])] * 2
    assert reads[0]["at_ms"] <= reads[1]["at_ms"]
    view = requests.get(f"{api.url}/orders/{order['RequestId']}", headers=auth(), timeout=10)
    assert view.json()["cards_reads"] == 2
    assert not any(c["cardCode"] in view.text for c in issued)


def test_a_key_without_the_cards_scope_is_refused_with_a_403_and_nothing_is_recorded(
    api: ApiServer, api_worker: object, module_rt: Runtime
) -> None:
    order = an_order()
    final_order(api, order, auth())  # final, so no order of this test is still under way in the next ones
    refused = get_cards(api, order["RequestId"], auth())
    assert (refused.status_code, refused.json()["reason"]) == (403, "MissingScope")
    assert module_rt.vault.reads(order["RequestId"]) == []


def test_another_producer_gets_a_404_even_with_a_cards_key(
    api: ApiServer, api_worker: object, module_rt: Runtime
) -> None:
    order = an_order()
    final_order(api, order, auth("shop"))  # final, so it cannot ride in a pack with the next test's order
    refused = get_cards(api, order["RequestId"], cards_auth("blog"))
    assert (refused.status_code, refused.json()["reason"]) == (404, "OrderNotFound")
    assert get_cards(api, str(uuid.uuid4()), cards_auth()).status_code == 404
    assert module_rt.vault.reads(order["RequestId"]) == []


def test_the_cards_of_an_order_not_yet_final_are_a_409(api: ApiServer, module_rt: Runtime) -> None:
    request_id = str(uuid.uuid4())
    module_rt.store.create(request_id, {"RequestId": request_id}, producer="shop")
    refused = get_cards(api, request_id, cards_auth())
    assert (refused.status_code, refused.json()["reason"]) == (409, "OrderNotFinal")


def test_after_retention_the_cards_are_erased_and_the_record_and_history_stay(
    api: ApiServer, api_worker: object, module_rt: Runtime
) -> None:
    # Given a fulfilled order whose cards shop has read (so it counts as delivered)
    order = an_order(quantity=1)
    final_order(api, order, cards_auth())
    assert get_cards(api, order["RequestId"], cards_auth()).status_code == 200

    # When retention runs with its time up
    assert module_rt.vault.erase_delivered(retention_s=0) >= 1

    # Then the cards are gone (410), and the order, its history and the erasure note stay
    gone = get_cards(api, order["RequestId"], cards_auth())
    assert (gone.status_code, gone.json()["reason"]) == (410, "CardsErased")
    record = module_rt.store.get(order["RequestId"])
    assert (record.state, record.cards_token) == (states.FULFILLED, "")
    view = requests.get(f"{api.url}/orders/{order['RequestId']}", headers=auth(), timeout=10).json()
    assert view["cards_erased"] is True
    assert [e["to"] for e in view["history"]] == ["accepted", "submitting", "placed", "fulfilled", "fulfilled"]
    assert view["history"][-1]["note"] == CARDS_ERASED


def test_an_order_not_yet_delivered_keeps_its_cards_through_retention(
    api: ApiServer, api_worker: object, module_rt: Runtime
) -> None:
    order = an_order(quantity=1)
    final_order(api, order, auth())
    module_rt.vault.erase_delivered(retention_s=0)
    assert module_rt.store.get(order["RequestId"]).cards_token


def test_head_of_the_cards_is_refused_and_records_no_read(
    api: ApiServer, api_worker: object, module_rt: Runtime
) -> None:
    # Given a fulfilled order of shop whose cards nobody has read (a product of its own: the others' windows are full)
    order = {**an_order(), "Products": [{"ProductId": 100004, "Quantity": 1, "Value": 20}]}
    assert final_order(api, order, cards_auth())["state"] == states.FULFILLED

    # When shop asks for the cards with HEAD
    head = requests.head(f"{api.url}/orders/{order['RequestId']}/cards", headers=cards_auth(), timeout=10)

    # Then it is refused with the method that reads them, no card data is sent, and no read is recorded
    assert head.status_code == 405
    assert head.headers["Allow"] == "GET"
    assert head.content == b""
    assert module_rt.vault.reads(order["RequestId"]) == []
    assert module_rt.store.get(order["RequestId"]).cards_reads == 0
    assert module_rt.redis.zscore(module_rt.keys.cards_delivered(), order["RequestId"]) is None
