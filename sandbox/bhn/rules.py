"""Create order's rules, in the order the provider's page lists the fields, then the headers.

Every broken rule adds one error ``{"errorCode", "message"}``; a request breaking several gets them all. The
codes are the sandbox's contract (ours, after BHN's ``orderDetails.amount.invalid`` style) and are listed in
``sandbox/README.md``.
"""

import re
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sandbox.bhn.seed import EGIFT, PRODUCTS_BY_ID, Product
from sandbox.bhn.settings import Settings

MAX_EXTERNAL_ID = 36
MAX_PURCHASE_ORDER_NUMBER = 36
MAX_CUSTOMER_ID = 100
MAX_ACCOUNT_ID = 36
_LOCALE = re.compile(r"[a-z]{2}_[A-Z]{2}")
_AMOUNT = re.compile(r"\d{1,9}(\.\d{1,2})?")


@dataclass(frozen=True)
class Line:
    """One valid order item: a product, how many cards, at what face value."""

    product: Product
    quantity: int
    amount: Decimal
    currency: str


@dataclass
class Reading:
    """What the rules made of a request: its errors, and its parts where they were valid."""

    errors: list[dict[str, str]] = field(default_factory=list)
    external_id: str = ""
    purchase_order_number: str = ""
    lines: list[Line] = field(default_factory=list)
    meta_data: dict[str, Any] = field(default_factory=dict)
    synchronous: bool = False
    wait_time_ms: int = 0

    def refuse(self, code: str, message: str) -> None:
        """Add an error, once per code."""
        if all(error["errorCode"] != code for error in self.errors):
            self.errors.append({"errorCode": code, "message": message})


def read_key(body: Any, settings: Settings) -> Reading:
    """Read the idempotency key (external_id and purchase_order_number) alone: its errors, if any."""
    reading = Reading()
    if not isinstance(body, dict):
        reading.refuse("request.invalid", "the body must be a JSON object")
        return reading
    external_id = body.get("external_id")
    if external_id is None or external_id == "":
        reading.refuse("externalId.required", "external_id is required")
    elif not isinstance(external_id, str):
        reading.refuse("externalId.invalid", "external_id must be a string")
    elif len(external_id) > MAX_EXTERNAL_ID:
        reading.refuse("externalId.tooLong", f"external_id must be at most {MAX_EXTERNAL_ID} characters")
    else:
        reading.external_id = external_id
    po = body.get("purchase_order_number")
    if po is None or po == "":
        reading.purchase_order_number = settings.default_purchase_order_number
    elif not isinstance(po, str) or len(po) > MAX_PURCHASE_ORDER_NUMBER:
        limit = MAX_PURCHASE_ORDER_NUMBER
        reading.refuse("purchaseOrderNumber.invalid", f"purchase_order_number: 1..{limit} characters")
    else:
        reading.purchase_order_number = po
    return reading


def read_order(body: dict[str, Any], headers: dict[str, str], settings: Settings, reading: Reading) -> Reading:
    """Apply every other rule to a body whose key was read (``read_key``); return the reading with its errors."""
    _locale(body, reading)
    _bounded_string(body, "customer_id", MAX_CUSTOMER_ID, "customerId", reading)
    _bounded_string(body, "account_id", MAX_ACCOUNT_ID, "accountId", reading)
    _order_items(body.get("order_items"), reading)
    _sender(body.get("sender"), reading)
    meta = body.get("meta_data")
    if meta is not None and not isinstance(meta, dict):
        reading.refuse("metaData.invalid", "meta_data must be an object")
    reading.meta_data = meta if isinstance(meta, dict) else {}
    _headers(headers, settings, reading)
    return reading


def _locale(body: dict[str, Any], reading: Reading) -> None:
    locale = body.get("locale", "en_US")
    if not isinstance(locale, str) or not _LOCALE.fullmatch(locale):
        reading.refuse("locale.invalid", "locale must look like en_US")


def _bounded_string(body: dict[str, Any], name: str, limit: int, code: str, reading: Reading) -> None:
    value = body.get(name)
    if value is None:
        return
    if not isinstance(value, str):
        reading.refuse(f"{code}.invalid", f"{name} must be a string")
    elif len(value) > limit:
        reading.refuse(f"{code}.tooLong", f"{name} must be at most {limit} characters")


def _order_items(items: Any, reading: Reading) -> None:
    if not isinstance(items, list) or not items:
        reading.refuse("orderItems.required", "order_items must hold at least one item")
        return
    for item in items:
        if not isinstance(item, dict):
            reading.refuse("orderItems.invalid", "each order item must be an object")
            continue
        line = _order_item(item, reading)
        if line is not None:
            reading.lines.append(line)


def _order_item(item: dict[str, Any], reading: Reading) -> Line | None:
    product = PRODUCTS_BY_ID.get(item.get("product_id")) if isinstance(item.get("product_id"), str) else None
    if product is None:
        reading.refuse("orderItems.productId.unknown", "product_id is not in the catalog")
    quantity = item.get("quantity")
    if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 1:
        reading.refuse("orderItems.quantity.invalid", "quantity must be an integer >= 1")
        quantity = None
    amount, currency = _amount(item.get("amount"), product, reading)
    if product is not None and product.type == EGIFT and not _has_email(item.get("recipient")):
        reading.refuse("recipient.email.required", "an e-gift line needs a recipient with an email")
    if item.get("recipient") is not None and not isinstance(item.get("recipient"), dict):
        reading.refuse("recipient.invalid", "recipient must be an object")
    if product is None or quantity is None or amount is None:
        return None
    return Line(product, quantity, amount, currency)


def _amount(raw: Any, product: Product | None, reading: Reading) -> tuple[Decimal | None, str]:
    value = raw.get("amount") if isinstance(raw, dict) else None
    currency = raw.get("currency") if isinstance(raw, dict) else None
    if not isinstance(value, str) or not _AMOUNT.fullmatch(value):
        reading.refuse("orderItems.amount.invalid", 'amount must be {"amount": "25.00", "currency": "USD"}')
        return None, ""
    try:
        amount = Decimal(value)
    except InvalidOperation:
        reading.refuse("orderItems.amount.invalid", "amount is not a decimal")
        return None, ""
    if product is None:
        return amount, str(currency)
    if currency != product.currency:
        reading.refuse("orderItems.amount.currency.mismatch", f"the product is sold in {product.currency}")
        return None, ""
    if not product.min_value <= amount <= product.max_value:
        reading.refuse("orderItems.amount.invalid", f"amount must be {product.min_value}..{product.max_value}")
        return None, ""
    return amount, currency


def _has_email(recipient: Any) -> bool:
    return isinstance(recipient, dict) and isinstance(recipient.get("email"), str) and "@" in recipient["email"]


def _sender(sender: Any, reading: Reading) -> None:
    """The page's sender rule: at least one of an external ID, an email address, or a name with an address."""
    if sender is None:
        reading.refuse("sender.required", "sender is required")
        return
    if not isinstance(sender, dict):
        reading.refuse("sender.invalid", "sender must be an object")
        return
    if _text(sender.get("external_id")) or _text(sender.get("email")):
        return
    named = _text(sender.get("first_name")) and _text(sender.get("last_name"))
    if not (named and _address(sender.get("address"))):
        reading.refuse("sender.invalid", "sender needs an external_id, an email, or first_name, last_name and address")


def _address(address: Any) -> bool:
    required = ("line1", "city", "postal_code", "country")
    return isinstance(address, dict) and all(_text(address.get(name)) for name in required)


def _text(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _headers(headers: dict[str, str], settings: Settings, reading: Reading) -> None:
    source = headers.get(settings.source_header, "") or "default"
    if source not in settings.known_sources:
        reading.refuse("sourceConfiguration.unknown", f"no source configuration {source!r}")
    wait = headers.get(settings.wait_time_header)
    if wait is not None:
        if not wait.isdigit() or int(wait) > settings.max_wait_time_ms:
            reading.refuse("waitTime.invalid", f"wait time: an integer of 0..{settings.max_wait_time_ms} ms")
        else:
            reading.wait_time_ms = int(wait)
    synchronous = headers.get(settings.synchronous_header, "false").lower()
    if synchronous not in ("true", "false"):
        reading.refuse("synchronous.invalid", "the synchronous flag is true or false")
    reading.synchronous = synchronous == "true"
    if reading.synchronous and not _may_be_synchronous(reading.lines):
        reading.refuse("sync.notAllowed", "only a single e-gift line of quantity 1 may be synchronous")
    stamp = headers.get(settings.timestamp_header)
    if stamp is not None and not _iso_datetime(stamp):
        reading.refuse("clientTimestamp.invalid", "the client timestamp must be an ISO 8601 date-time")


def _may_be_synchronous(lines: list[Line]) -> bool:
    return len(lines) == 1 and lines[0].quantity == 1 and lines[0].product.type == EGIFT


def _iso_datetime(text: str) -> bool:
    try:
        datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return False
    return "T" in text
