"""Bamboo orders: what an accepted order holds and how it looks through Get Order and the webhook.

An order's fate is decided when it is accepted (so a seeded sandbox is reproducible) but only shown
as time passes: ``Created`` for the first third of the fulfilment delay, then ``Processing``, then its
final status. Cards appear only once the order is final; a failed card carries no code.
"""

import random
import secrets
import string
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sandbox.bamboo.money import json_number
from sandbox.bamboo.seed import Account, Product

SUCCEEDED, FAILED, PARTIAL_FAILED = "Succeeded", "Failed", "PartialFailed"
CREATED, PROCESSING = "Created", "Processing"
_CODE_ALPHABET = string.ascii_uppercase + string.digits


@dataclass
class Card:
    """One gift card; ``sold`` False means Bamboo failed to issue it."""

    id: int
    serial_number: str
    card_code: str
    pin: str
    expiration_date: str
    sold: bool = True

    def as_json(self) -> dict[str, Any]:
        """Return the card as Get Order shows it."""
        if not self.sold:
            return {
                "id": self.id,
                "serialNumber": None,
                "cardCode": None,
                "pin": None,
                "expirationDate": None,
                "status": "Failed",
            }
        return {
            "id": self.id,
            "serialNumber": self.serial_number,
            "cardCode": self.card_code,
            "pin": self.pin,
            "expirationDate": self.expiration_date,
            "status": "Sold",
        }


@dataclass
class Item:
    """One product line of an order, with the cards issued for it."""

    product: Product
    face_value: Decimal
    quantity: int
    cards: list[Card] = field(default_factory=list)

    def final_status(self) -> str:
        """Return Succeeded, Failed or PartialFailed from the fates of the item's cards."""
        return _fate(self.cards)

    def as_json(self, order_status: str) -> dict[str, Any]:
        """Return the item as Get Order shows it; cards only once the order is final."""
        final = order_status not in (CREATED, PROCESSING)
        return {
            "brandCode": f"BRAND-{self.product.brand_id}",
            "productId": self.product.id,
            "productFaceValue": json_number(self.face_value),
            "quantity": self.quantity,
            "pictureUrl": f"https://sandbox.invalid/pictures/{self.product.id}.png",
            "countryCode": self.product.country_code,
            "currencyCode": self.product.currency,
            "status": self.final_status() if final else order_status,
            "cards": [card.as_json() for card in self.cards] if final else [],
        }


@dataclass
class Order:
    """An accepted order: charged once at acceptance, final at ``final_at``."""

    order_id: int
    request_id: str
    client_id: str
    account: Account
    total: Decimal
    items: list[Item]
    created_at: float
    final_at: float

    @property
    def total_cards(self) -> int:
        """Return how many cards the order asked for."""
        return sum(item.quantity for item in self.items)

    def final_status(self) -> str:
        """Return the status the order ends in, from the fates of all its cards."""
        return _fate([card for item in self.items for card in item.cards])

    def status_at(self, now: float) -> str:
        """Return the status Get Order answers at ``now``."""
        if now >= self.final_at:
            return self.final_status()
        progress = (now - self.created_at) / max(self.final_at - self.created_at, 1e-9)
        return CREATED if progress < 1 / 3 else PROCESSING

    def as_json(self, now: float) -> dict[str, Any]:
        """Return the Get Order body of bamboo-api.md at ``now``."""
        status = self.status_at(now)
        failed_cards = sum(not card.sold for item in self.items for card in item.cards)
        error = f"{failed_cards} card(s) could not be issued" if status in (FAILED, PARTIAL_FAILED) else None
        return {
            "orderId": self.order_id,
            "requestId": self.request_id,
            "status": status,
            "createdDate": iso_time(self.created_at),
            "total": json_number(self.total),
            "currency": self.account.currency,
            "orderType": "Normal",
            "errorMessage": error,
            "items": [item.as_json(status) for item in self.items],
        }

    def webhook_body(self, secret_key: str) -> dict[str, Any]:
        """Return the webhook body of bamboo-api.md: the final status in lowercase, never any card."""
        return {
            "orderId": self.order_id,
            "status": self.final_status().lower(),
            "totalCards": self.total_cards,
            "createdOn": iso_time(self.created_at),
            "completedOn": iso_time(self.final_at),
            "secretKey": secret_key,
            "requestId": self.request_id,
        }


class CardIssuer:
    """Makes card codes and decides fates: codes from ``secrets`` unless the sandbox runs with a seed."""

    def __init__(self, rng: random.Random, seeded: bool) -> None:
        self._rng = rng
        self._choice = rng.choice if seeded else secrets.choice
        self._next_card_id = 1

    def issue(self, items: list[Item], created_at: float, fail_probability: float, partial_probability: float) -> None:
        """Fill ``items`` with cards and mark failed ones, by the configured probabilities."""
        cards = [self._card(item.product, created_at) for item in items for _ in range(item.quantity)]
        for card in self._cards_to_fail(len(cards), fail_probability, partial_probability, cards):
            card.sold = False
        position = 0
        for item in items:
            item.cards = cards[position : position + item.quantity]
            position += item.quantity

    def _cards_to_fail(self, total: int, fail_p: float, partial_p: float, cards: list[Card]) -> list[Card]:
        """Return no card, all cards, or some but not all (a one-card order cannot fail partially)."""
        draw = self._rng.random()
        if draw < fail_p or (draw < fail_p + partial_p and total == 1):
            return cards
        if draw < fail_p + partial_p:
            return cards[total - self._rng.randint(1, total - 1) :]
        return []

    def _card(self, product: Product, created_at: float) -> Card:
        card_id, self._next_card_id = self._next_card_id, self._next_card_id + 1
        code = "-".join(self._random(_CODE_ALPHABET, 4) for _ in range(4))
        expires = datetime.fromtimestamp(created_at, UTC) + timedelta(days=3 * 365)
        return Card(
            card_id, f"SN{product.id}{card_id:08d}", code, self._random(string.digits, 6), expires.date().isoformat()
        )

    def _random(self, alphabet: str, length: int) -> str:
        return "".join(self._choice(alphabet) for _ in range(length))


def _fate(cards: list[Card]) -> str:
    """Return Succeeded if every card was sold, Failed if none was, PartialFailed otherwise."""
    sold = sum(card.sold for card in cards)
    return SUCCEEDED if sold == len(cards) else FAILED if sold == 0 else PARTIAL_FAILED


def iso_time(unix_seconds: float) -> str:
    """Format a unix time as ISO 8601 UTC with milliseconds, e.g. ``2026-11-23T19:42:00.123Z``."""
    return datetime.fromtimestamp(unix_seconds, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
