"""The BHN sandbox's findings and ledger, drawn from the raw call log and the list of charged orders.

An order is charged once, at acceptance, for amount x quantity of each line, whatever its answer was (a create
that timed out after commit still charged). ``charged_more_than_once`` lists the keys of a client charged twice:
it stays empty unless idempotency broke.
"""

from collections import Counter, defaultdict
from decimal import Decimal
from typing import Any

from sandbox.bhn.orders import Order
from sandbox.bhn.settings import Settings
from sandbox.common.calllog import CallRecord


def findings(calls: list[CallRecord], charges: list[Order], settings: Settings) -> dict[str, Any]:
    """Return ``GET /_sandbox/findings``: call counts, accepted orders per key, double charges, totals, spacing."""
    per_key = Counter(f"{order.client_id}/{order.key}" for order in charges)
    return {
        "token_calls": sum(call.endpoint == "token" for call in calls),
        "create_order_calls": sum(call.endpoint == "place_order" for call in calls),
        "get_order_calls": sum(call.endpoint == "get_order" for call in calls),
        "accepted_orders": len(charges),
        "accepted_keys": [order.key for order in charges],
        "orders_per_key": dict(per_key),
        "charged_more_than_once": sorted(key for key, count in per_key.items() if count > 1),
        "charged_per_currency": _totals(charges),
        "spacing_violations": _spacing_violations(calls, settings.spacing_ms),
    }


def _totals(charges: list[Order]) -> dict[str, dict[str, Any]]:
    totals: dict[str, Decimal] = defaultdict(Decimal)
    orders: Counter[str] = Counter()
    for order in charges:
        for currency, amount in _charged(order).items():
            totals[currency] += amount
            orders[currency] += 1
    return {currency: {"total": f"{total:.2f}", "orders": orders[currency]} for currency, total in totals.items()}


def _charged(order: Order) -> dict[str, Decimal]:
    charged: dict[str, Decimal] = defaultdict(Decimal)
    for line in order.lines:
        charged[line.line.currency] += line.line.amount * line.line.quantity
    return charged


def _spacing_violations(calls: list[CallRecord], spacing_ms: int) -> list[dict[str, Any]]:
    if spacing_ms <= 0:
        return []
    previous: dict[str, float] = {}
    violations = []
    for call in calls:
        if call.endpoint != "place_order" or call.client is None:
            continue
        before, previous[call.client] = previous.get(call.client), call.at
        if before is not None and (call.at - before) * 1000 < spacing_ms:
            gap_ms = round((call.at - before) * 1000, 3)
            violations.append({"client": call.client, "previous_at": before, "at": call.at, "gap_ms": gap_ms})
    return violations


def ledger(charges: list[Order], now: float) -> list[dict[str, Any]]:
    """Return every charge in acceptance order with its lines and their fates (known from acceptance)."""
    return [
        {
            "client": order.client_id,
            "key": order.key,
            "externalId": order.external_id,
            "purchaseOrderNumber": order.purchase_order_number,
            "orderId": order.order_id,
            "charged": {currency: f"{amount:.2f}" for currency, amount in _charged(order).items()},
            "statusNow": order.status_at(now),
            "finalStatus": order.final_status(),
            "lines": [
                {
                    "id": line.line_id,
                    "productId": line.line.product.product_id,
                    "quantity": line.line.quantity,
                    "amount": f"{line.line.amount:.2f}",
                    "currency": line.line.currency,
                    "fate": line.fate,
                }
                for line in order.lines
            ],  # fmt: skip
        }
        for order in charges
    ]
