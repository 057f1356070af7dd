"""The audit: every provider call as it arrived, and the findings a test or benchmark draws from it.

The findings are computed from the raw call log (arrival times, clients, products), not from what the
limiter decided, so they hold the client to the rules even while faults or changed limits are in play.
Charges come from the ledger of accepted orders, because a call that timed out after commit has no
answered status but did charge the account. The ledger (``ledger``) lists each charge with the cards it paid
for, so a client's records can be checked against what was really charged and issued.
"""

from collections import Counter, defaultdict, deque
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sandbox.bamboo.money import cents, json_number
from sandbox.bamboo.orders import Order
from sandbox.bamboo.seed import Account
from sandbox.bamboo.settings import Settings
from sandbox.common.calllog import CallRecord


@dataclass(frozen=True)
class Charge:
    """Money taken from an account for one accepted order, and that order (its cards were paid for)."""

    client: str
    request_id: str
    account: Account
    amount: Decimal
    order: Order


def findings(calls: list[CallRecord], charges: list[Charge], settings: Settings) -> dict[str, Any]:
    """Return the findings of ``GET /_sandbox/findings`` for a call log and a charge ledger."""
    place_orders = [call for call in calls if call.endpoint == "place_order" and call.client is not None]
    return {
        "place_order_calls": sum(call.endpoint == "place_order" for call in calls),
        "get_order_calls": sum(call.endpoint == "get_order" for call in calls),
        "accepted_orders": len(charges),
        "accepted_request_ids": [charge.request_id for charge in charges],
        "spacing_violations": spacing_violations(place_orders, settings.spacing_ms),
        "window_violations": window_violations(place_orders, settings.product_limit, settings.product_window_ms),
        "charged_more_than_once": _charged_more_than_once(charges),
        "charged_per_account": _charged_per_account(charges),
    }


def spacing_violations(place_orders: list[CallRecord], spacing_ms: int) -> list[dict[str, Any]]:
    """Return each Place Order arrival less than ``spacing_ms`` after the same client's previous one."""
    previous_at: dict[str, float] = {}
    violations = []
    for call in place_orders:
        previous = previous_at.get(call.client)
        previous_at[call.client] = call.at
        if previous is not None and (call.at - previous) * 1000 < spacing_ms:
            gap_ms = round((call.at - previous) * 1000, 3)
            violations.append({"client": call.client, "previous_at": previous, "at": call.at, "gap_ms": gap_ms})
    return violations


def window_violations(place_orders: list[CallRecord], limit: int, window_ms: int) -> list[dict[str, Any]]:
    """Return each Place Order arrival that makes more than ``limit`` orders of a product in the window."""
    windows: dict[tuple[str, int], deque[float]] = defaultdict(deque)
    violations = []
    for call in place_orders:
        for product_id in sorted(call.product_ids()):
            arrivals = windows[(call.client, product_id)]
            while arrivals and arrivals[0] <= call.at - window_ms / 1000:
                arrivals.popleft()
            arrivals.append(call.at)
            if len(arrivals) > limit:
                violations.append(
                    {"client": call.client, "product_id": product_id, "at": call.at, "count_in_window": len(arrivals)}
                )
    return violations


def ledger(charges: list[Charge]) -> list[dict[str, Any]]:
    """Return ``GET /_sandbox/ledger``'s entries: one per charge, in acceptance order, with its lines and cards.

    Every card of an accepted order was charged (failed ones are not refunded); its fate is decided at
    acceptance, so ``issuedCards`` (the ones sold, with code and PIN) are known before the order is final.
    """
    return [_ledger_entry(charge) for charge in charges]


def _ledger_entry(charge: Charge) -> dict[str, Any]:
    order = charge.order
    cards = [card for item in order.items for card in item.cards]
    return {
        "client": charge.client,
        "requestId": charge.request_id,
        "orderId": order.order_id,
        "accountId": charge.account.id,
        "currency": charge.account.currency,
        "charged": cents(charge.amount),
        "cardsCharged": order.total_cards,
        "lines": [
            {"productId": item.product.id, "quantity": item.quantity, "value": json_number(item.face_value)}
            for item in order.items
        ],
        "finalStatus": order.final_status(),
        "issuedCards": [
            {"id": card.id, "serialNumber": card.serial_number, "cardCode": card.card_code, "pin": card.pin}
            for card in cards
            if card.sold
        ],
        "failedCards": [card.id for card in cards if not card.sold],
    }


def _charged_more_than_once(charges: list[Charge]) -> list[str]:
    counts = Counter((charge.client, charge.request_id) for charge in charges)
    return [request_id for (_, request_id), count in counts.items() if count > 1]


def _charged_per_account(charges: list[Charge]) -> dict[str, dict[str, Any]]:
    totals: dict[str, dict[str, Any]] = {}
    for charge in charges:
        entry = totals.setdefault(
            str(charge.account.id), {"currency": charge.account.currency, "total": Decimal(0), "orders": 0}
        )
        entry["total"] += charge.amount
        entry["orders"] += 1
    return {account: entry | {"total": cents(entry["total"])} for account, entry in totals.items()}
