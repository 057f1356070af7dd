"""giftq's side of the "charged once" audit (sandbox/ledger_audit.py), for the demo, the benchmarks and the tests.

It reads each producer order from the store (its provider RequestId, credential, cards ordered, state) and the
cards it holds, decrypted as bound to it, and checks them against the sandbox's ledger of charges and issued
cards (`GET /_sandbox/ledger`). Nothing it returns or prints holds a card code: only counts and RequestIds.
"""

from __future__ import annotations

import requests

from config.settings import BAMBOO, BHN, SettingsError
from sandbox.ledger_audit import Card, LedgerAudit, ProducerOrder, audit_ledger
from worker.orders import states
from worker.orders.store import OrderRecord
from worker.runtime import Runtime

LEDGER_TIMEOUT_S = 10.0
HOLDS_CARDS = (states.FULFILLED, states.PARTIALLY_FULFILLED, states.FAILED)  # final states whose cards are compared


def audit_money(rt: Runtime, sandbox_url: str, request_ids: list[str], *, count_strays: bool = True,
                provider: str = BAMBOO) -> LedgerAudit:  # fmt: skip
    """Audit the producer orders `request_ids` against the ledger of the `provider` sandbox at `sandbox_url`.

    Pass `count_strays=False` when the sandbox also served orders that are not in `request_ids`.
    """
    response = requests.get(f"{sandbox_url}/_sandbox/ledger", timeout=LEDGER_TIMEOUT_S)
    response.raise_for_status()
    charges = response.json()["charges"]
    if provider == BHN:
        charges = [_bhn_charge(sandbox_url, charge) for charge in charges]
    return audit_ledger(charges, producer_orders(rt, request_ids), count_strays=count_strays)


def _bhn_charge(sandbox_url: str, charge: dict) -> dict:
    """A BHN ledger entry in the shape of Bamboo's: the external_id charged, its cards, the e-gifts it issued
    (a completed line's id and e-gift URL, from the sandbox's full view of the order)."""
    response = requests.get(f"{sandbox_url}/_sandbox/orders/{charge['orderId']}", timeout=LEDGER_TIMEOUT_S)
    response.raise_for_status()
    issued = [{"serialNumber": line["id"], "cardCode": line["egift_url"], "pin": ""}
              for line in response.json()["order_items"] if line.get("egift_url")]  # fmt: skip
    return {"requestId": charge["externalId"], "client": charge["client"],
            "cardsCharged": sum(line["quantity"] for line in charge["lines"]), "issuedCards": issued}  # fmt: skip


def producer_orders(rt: Runtime, request_ids: list[str]) -> dict[str, ProducerOrder]:
    """What giftq's store says of each order; an order never stored counts as ordering nothing."""
    orders = {}
    for request_id in request_ids:
        record = rt.store.get(request_id)
        if record is None:
            orders[request_id] = ProducerOrder(request_id, 0, "missing")
            continue
        orders[request_id] = ProducerOrder(
            provider_request_id=record.pack or record.provider_request_id or request_id,  # a pack's, if it rode in one
            cards_ordered=sum(int(line["Quantity"]) for line in record.request.get("Products", [])),
            state=record.state,
            credential=_client_id(rt, record.credential),
            cards=_held_cards(rt, record),
            parts=tuple(part["id"] for part in record.parts),
        )
    return orders


def _held_cards(rt: Runtime, record: OrderRecord) -> frozenset[Card] | None:
    """The cards a final order holds; None for an order not final yet, or whose cards retention erased."""
    if record.state not in HOLDS_CARDS or record.cards_erased_ms:
        return None
    if not record.cards_token:
        return frozenset()
    cards = rt.cipher.decrypt(record.cards_token, record.cards_context)
    # A BHN e-gift holds its URL where a Bamboo card holds its code.
    return frozenset((card["serial_number"], card["code"] or card.get("egift_url", ""), card["pin"]) for card in cards)


def _client_id(rt: Runtime, credential: str) -> str:
    """The provider's client id of a credential key (`bhn:<id>` for BHN), as the sandbox's ledger names it."""
    try:
        return rt.settings.credential(credential).client_id
    except SettingsError:
        return credential
