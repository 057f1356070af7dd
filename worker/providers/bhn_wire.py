"""BHN's wire shapes: a sender or recipient as BHN takes it, an order as giftq's ProviderOrder, the error code
of a 400, the wait of a 429. No HTTP calls here: ``bhn.py`` makes them."""

from __future__ import annotations

import re

import requests

from worker.errors import ProviderError, UnknownOutcome
from worker.providers.base import FAILED, IN_PROGRESS, PARTIALLY_FAILED, SUCCEEDED, Address, Card, Person, ProviderOrder

DEFAULT_RETRY_AFTER_S = 5.0
_ERROR_CODE = re.compile(r"[A-Za-z][A-Za-z0-9._]{1,79}")  # BHN's codes: orderItems.amount.invalid, ...
_IN_PROGRESS, _COMPLETED = ("NEW", "PROCESSING"), "COMPLETED"
_FINAL = ("COMPLETED", "REJECTED", "CANCELLED")


def person_json(person: Person) -> dict:
    """A sender or recipient as BHN takes it: only the fields that are set."""
    fields = {
        "external_id": person.external_id,
        "email": person.email,
        "first_name": person.first_name,
        "last_name": person.last_name,
    }
    body: dict = {name: value for name, value in fields.items() if value}
    if person.address is not None:
        body["address"] = address_json(person.address)
    return body


def address_json(address: Address) -> dict:
    fields = {
        "line1": address.line1,
        "line2": address.line2,
        "city": address.city,
        "region": address.region,
        "postal_code": address.postal_code,
        "country": address.country,
    }
    return {name: value for name, value in fields.items() if value}


def parse_order(request_id: str, body: dict) -> ProviderOrder:
    """BHN's order as giftq's ProviderOrder: one Card per line. Refused as an unexpected shape (a ProviderError: the
    order is read again later, never finished on it): another order's external_id, a quantity that is not a
    whole number, and a COMPLETED line without its e-gift URL (a card that would count as issued, holding
    nothing)."""
    try:
        order_status = str(body["status"])
        lines = list(body["order_items"])
        if body.get("external_id", request_id) != request_id:
            raise ValueError("another order's external_id")
        cards = tuple(_card(line) for line in lines)
    except (KeyError, TypeError, ValueError):
        raise ProviderError(f"BHN order {request_id} has an unexpected shape") from None
    status = _status(order_status, [card.status for card in cards])
    error = "" if status in (SUCCEEDED, IN_PROGRESS) else f"order {order_status}"
    return ProviderOrder(request_id=request_id, status=status, cards=cards, error=error)


def _card(line: dict) -> Card:
    quantity, status, url = line["quantity"], str(line["status"]), line.get("egift_url") or ""
    if type(quantity) is not int or quantity < 1:
        raise ValueError("a line's quantity is a whole number of cards")
    if status == _COMPLETED and not (isinstance(url, str) and url):
        raise ValueError("a completed line without its e-gift URL")
    return Card(product_id=str(line["product_id"]), serial_number=str(line["id"]), card_id=str(line["id"]),
                status=status, egift_url=str(url), quantity=quantity)  # fmt: skip


def _status(order_status: str, line_statuses: list[str]) -> str:
    """NEW/PROCESSING -> in progress; every line COMPLETED -> succeeded; some COMPLETED, others REJECTED or
    CANCELLED -> partially failed; final with none completed -> failed."""
    known = (*_IN_PROGRESS, *_FINAL)
    if order_status not in known or any(status not in known for status in line_statuses):
        raise ProviderError(f"BHN answered an unknown order status {order_status[:40]!r}")
    if order_status in _IN_PROGRESS or any(status in _IN_PROGRESS for status in line_statuses):
        return IN_PROGRESS
    completed = sum(status == _COMPLETED for status in line_statuses)
    if line_statuses and completed == len(line_statuses) and order_status == _COMPLETED:
        return SUCCEEDED
    return PARTIALLY_FAILED if completed else FAILED


def confirm_external_id(response: requests.Response, request_id: str) -> None:
    """A 200 or 201 of create order is the order, carrying our external_id; anything else leaves it unknown."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict) or body.get("external_id") != request_id:
        raise UnknownOutcome(
            f"BHN answered {response.status_code} without the order's external_id", status=response.status_code
        )


def json_body(response: requests.Response) -> dict:
    try:
        body = response.json()
    except ValueError:
        raise UnknownOutcome("BHN answered 200 with a body that is not JSON") from None
    if not isinstance(body, dict):
        raise ProviderError("BHN answered 200 with an unexpected body")
    return body


def error_code(response: requests.Response) -> str:
    """The first ``errorCode`` of BHN's error shape, if it looks like a code; never the message or the rest of the
    body (an exception built from it must not carry whatever a provider put in its answer)."""
    try:
        code = response.json()["errors"][0]["errorCode"]
    except (ValueError, KeyError, IndexError, TypeError):
        return ""
    return code if isinstance(code, str) and _ERROR_CODE.fullmatch(code) else ""


def retry_after_s(response: requests.Response) -> float:
    try:
        return max(1.0, float(response.headers.get("Retry-After", "")))
    except ValueError:
        return DEFAULT_RETRY_AFTER_S
