"""BHN orders: what an accepted order holds and how it looks through get order and the webhook.

A line's fate (COMPLETED, REJECTED or CANCELLED) is decided at acceptance, so a seeded sandbox is reproducible,
and shown as time passes: NEW for the first third of the fulfilment delay, then PROCESSING, then the fate. A
synchronous order is final at once. The order's status is COMPLETED when at least one line completed (ours: a
partially completed order is COMPLETED, its other lines REJECTED or CANCELLED), else REJECTED if a line was
rejected, else CANCELLED. Only a COMPLETED line carries its e-gift URL.
"""

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sandbox.bhn.rules import Line

NEW, PROCESSING = "NEW", "PROCESSING"
COMPLETED, REJECTED, CANCELLED = "COMPLETED", "REJECTED", "CANCELLED"
FATES = (COMPLETED, REJECTED, CANCELLED)


@dataclass
class OrderLine:
    """One order item and its fate; ``egift_token`` names its e-gift page."""

    line_id: str
    line: Line
    fate: str
    egift_token: str

    def as_json(self, status: str, base_url: str) -> dict[str, Any]:
        """Return the line as get order shows it when its order stands at ``status``."""
        shown = self.fate if status in FATES else status
        url = f"{base_url}/egift/{self.egift_token}" if shown == COMPLETED else None
        return {
            "id": self.line_id,
            "product_id": self.line.product.product_id,
            "quantity": self.line.quantity,
            "amount": {"amount": f"{self.line.amount:.2f}", "currency": self.line.currency},
            "status": shown,
            "egift_url": url,
        }


@dataclass
class Order:
    """An accepted order of one client, charged once at acceptance, final at ``final_at``."""

    order_id: str
    client_id: str
    external_id: str
    purchase_order_number: str
    lines: list[OrderLine]
    meta_data: dict[str, Any]
    created_at: float
    final_at: float
    base_url: str  # where the e-gift pages are served, as the client reached the sandbox

    @property
    def key(self) -> str:
        """Return the idempotency key: ``external_id:purchase_order_number``."""
        return f"{self.external_id}:{self.purchase_order_number}"

    @property
    def total(self) -> Decimal:
        """Return the face value charged: amount x quantity over every line."""
        return sum((line.line.amount * line.line.quantity for line in self.lines), Decimal(0))

    def final_status(self) -> str:
        """Return the status the order ends in, from its lines' fates."""
        fates = [line.fate for line in self.lines]
        if COMPLETED in fates:
            return COMPLETED
        return REJECTED if REJECTED in fates else CANCELLED

    def status_at(self, now: float) -> str:
        """Return the order's status at ``now``."""
        if now >= self.final_at:
            return self.final_status()
        progress = (now - self.created_at) / max(self.final_at - self.created_at, 1e-9)
        return NEW if progress < 1 / 3 else PROCESSING

    def as_json(self, now: float) -> dict[str, Any]:
        """Return the order as create order and get order answer it at ``now``."""
        status = self.status_at(now)
        return {
            "id": self.order_id,
            "external_id": self.external_id,
            "purchase_order_number": self.purchase_order_number,
            "status": status,
            "order_items": [line.as_json(status, self.base_url) for line in self.lines],
            "meta_data": self.meta_data,
        }

    def webhook_body(self) -> dict[str, str]:
        """Return the webhook body (ours): the order's ids and final status, never a card or URL."""
        return {"id": self.order_id, "external_id": self.external_id, "status": self.final_status()}


def line_fates(count: int, fate: str) -> list[str]:
    """Return the fates of ``count`` lines for an order fate: completed, rejected, cancelled or partial.

    A partial order completes its first line and rejects the rest; a one-line order cannot be partial, so it is
    rejected.
    """
    if fate == "partial":
        return [COMPLETED] + [REJECTED] * (count - 1) if count > 1 else [REJECTED]
    return [fate.upper()] * count
