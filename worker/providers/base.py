"""What giftq asks of a provider, and what a provider answers, as giftq's own types.

Tasks only see these types, never an HTTP response. Card codes and PINs are kept out of
every `repr`, so a log line or a traceback that shows a card shows no secret.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Protocol

IN_PROGRESS = "in_progress"
SUCCEEDED = "succeeded"
FAILED = "failed"
PARTIALLY_FAILED = "partially_failed"
FINAL_STATUSES = frozenset({SUCCEEDED, FAILED, PARTIALLY_FAILED})


ProductId = int | str  # Bamboo's product ids are numbers, BHN's opaque strings
AccountId = int | str


@dataclass(frozen=True)
class OrderLine:
    """Cards of one product at one face value (in `currency`, where the provider asks for it: BHN)."""

    product_id: ProductId
    quantity: int
    value: Decimal
    currency: str = ""


@dataclass(frozen=True)
class Address:
    """A postal address (BHN's sender rule: a person's name with an address)."""

    line1: str
    city: str
    postal_code: str
    country: str  # ISO 3166 alpha-2
    region: str = ""
    line2: str = ""


@dataclass(frozen=True)
class Person:
    """A sender or recipient of cards (BHN). Personal data: kept out of every repr."""

    external_id: str = ""  # the caller's own id of the person
    email: str = field(default="", repr=False)
    first_name: str = field(default="", repr=False)
    last_name: str = field(default="", repr=False)
    address: Address | None = field(default=None, repr=False)


@dataclass(frozen=True)
class PlaceRequest:
    """One provider order: the id giftq sends as its idempotency key (Bamboo's RequestId, BHN's external_id), the
    account, the lines, and what some providers ask beyond them (BHN: the purchase order number that is part of
    its idempotency key, the sender, the e-gift's recipient)."""

    request_id: str
    account_id: AccountId | None
    lines: tuple[OrderLine, ...]
    purchase_order_number: str = ""
    sender: Person | None = None
    recipient: Person | None = None

    @property
    def card_count(self) -> int:
        return sum(line.quantity for line in self.lines)


@dataclass(frozen=True)
class Card:
    """One issued card. `code` and `pin` are money: they never appear in a repr."""

    product_id: ProductId
    serial_number: str
    status: str
    expiration: str = ""
    card_id: str = ""  # the provider's id of the card (a failed card has no serial number)
    code: str = field(default="", repr=False)
    pin: str = field(default="", repr=False)
    # BHN: the e-gift URL that shows the card(s) to their owner, in place of code and PIN (BHN asks partners not
    # to store those); one URL per order line, standing for `quantity` cards.
    egift_url: str = field(default="", repr=False)
    quantity: int = 1
    value: Decimal | None = None  # the face value of the card's line, where the provider says it (Bamboo)

    @property
    def issued(self) -> bool:
        return bool(self.code or self.egift_url)

    def to_secret_dict(self) -> dict:
        """The card with its secrets, for encryption before storage only."""
        return {
            "product_id": self.product_id,
            "serial_number": self.serial_number,
            "status": self.status,
            "expiration": self.expiration,
            "code": self.code,
            "pin": self.pin,
            "egift_url": self.egift_url,
            "quantity": self.quantity,
        }


@dataclass(frozen=True)
class Account:
    """An account the credential may charge. `sandbox_mode` tells the provider's environment it belongs to."""

    id: AccountId
    currency: str
    active: bool
    sandbox_mode: bool


@dataclass(frozen=True)
class Product:
    """A product of the credential's catalog. `stock` None means unlimited, 0 out of stock."""

    id: ProductId
    name: str
    currency: str
    min_face_value: Decimal
    max_face_value: Decimal
    stock: int | None = None
    physical: bool = False  # a plastic card to ship (BHN): giftq orders e-gifts only


@dataclass(frozen=True)
class ProviderOrder:
    """What the provider says about an order: its status and, once final, its cards."""

    request_id: str
    status: str
    cards: tuple[Card, ...] = ()
    error: str = field(default="", repr=False)  # the provider's errorMessage: its text is not ours to log

    @property
    def final(self) -> bool:
        return self.status in FINAL_STATUSES


class Provider(Protocol):
    """A provider client bound to one credential."""

    name: str
    credential: str
    can_pack: bool  # whether producer orders of one account may ride in one provider order (coalescing)

    def place(
        self, request: PlaceRequest, *, send_by: float | None = None, on_sent: Callable[[float], None] | None = None
    ) -> bool:
        """Place the order; True if placed now, False if the provider already had this RequestId.

        `send_by` is a time.monotonic() deadline: a request not sent by then is not sent at all (NotSent).
        `on_sent(time.monotonic())` is called once the request has been written, before its answer is read.
        Raises OrderRejected (a reason code), RateLimited, UnknownOutcome, NotSent, ProviderRefused (for good:
        ProviderAuthFailed for a refused credential) or ProviderError.
        """

    def get(self, request_id: str, *, on_sent: Callable[[float], None] | None = None) -> ProviderOrder:
        """The provider's view of the order. Raises OrderNotFound, RateLimited, ProviderRefused or ProviderError.

        `on_sent(time.monotonic())` is called once the request has been written, before its answer is read.
        """

    def warm(self) -> None:
        """Have the connection to the provider open ahead of the next Place Order (best effort, never raises)."""

    def accounts(self) -> tuple[Account, ...]:
        """Every account of the credential. Raises RateLimited, UnknownOutcome or ProviderError."""

    def catalog(self) -> tuple[Product, ...]:
        """Every product of the credential's catalog, all pages. Raises RateLimited, UnknownOutcome or ProviderError."""
