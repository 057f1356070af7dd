"""Card data is bound to its order and producer: a ciphertext moved, or an order re-assigned, gives no cards.

The attack it stops: with write access to the store, `HSET <order> producer evil` (or copying one order's
`cards` field into another) and then `GET /orders/<id>/cards` with evil's key answered the other's codes.
"""

from __future__ import annotations

import uuid

import pytest
import requests

from tests.test_api_cards import cards_auth, final_order, get_cards
from worker.cli.processes import ApiServer, Sandbox
from worker.orders import states
from worker.runtime import Runtime

pytestmark = pytest.mark.timeout(90)


PRODUCTS = iter(range(100010, 100025))  # plain products of their own, so no other test's window holds these back


def an_order(quantity: int = 2) -> dict:
    return {"RequestId": str(uuid.uuid4()), "AccountId": 655,
            "Products": [{"ProductId": next(PRODUCTS), "Quantity": quantity, "Value": 20}]}  # fmt: skip


def issued_codes(sandbox: Sandbox, request_id: str) -> set[str]:
    return {card["cardCode"] for card in sandbox.admin("GET", f"orders/{request_id}?client=giftq-demo-2")["allCards"]}


def test_an_order_reassigned_to_another_producer_gives_that_producer_no_cards(
    api: ApiServer, api_worker: object, module_rt: Runtime, sandbox: Sandbox
) -> None:
    # Given shop's fulfilled order, re-assigned in the store to blog
    order = an_order()
    assert final_order(api, order, cards_auth("shop"))["state"] == states.FULFILLED
    module_rt.redis.hset(module_rt.keys.order(order["RequestId"]), "producer", "blog")

    # When blog asks for its cards
    answer = get_cards(api, order["RequestId"], cards_auth("blog"))

    # Then no card comes back, and nothing of them is in the answer
    assert answer.status_code == 500, answer.text
    assert answer.json()["reason"] == "CardsNotBound"
    assert not any(code in answer.text for code in issued_codes(sandbox, order["RequestId"]))


def test_a_cards_token_copied_into_another_order_does_not_decrypt_there(
    api: ApiServer, api_worker: object, module_rt: Runtime, sandbox: Sandbox
) -> None:
    # Given two fulfilled orders of shop, and the first one's cards token copied over the second's
    first, second = an_order(quantity=1), an_order(quantity=2)
    for order in (first, second):
        assert final_order(api, order, cards_auth("shop"))["state"] == states.FULFILLED
    token = module_rt.redis.hget(module_rt.keys.order(first["RequestId"]), "cards")
    module_rt.redis.hset(module_rt.keys.order(second["RequestId"]), "cards", token)

    # When shop reads the second order's cards
    answer = get_cards(api, second["RequestId"], cards_auth("shop"))

    # Then it gets none of the first order's cards, and the read is not recorded as a delivery
    assert answer.status_code == 500, answer.text
    assert not any(code in answer.text for code in issued_codes(sandbox, first["RequestId"]))
    assert module_rt.vault.reads(second["RequestId"]) == []
    # And the first order's own cards still read
    assert requests.get(f"{api.url}/orders/{first['RequestId']}/cards", headers=cards_auth("shop"),
                        timeout=10).status_code == 200  # fmt: skip
