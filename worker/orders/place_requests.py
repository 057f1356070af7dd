"""A stored order as the provider order giftq asks its provider client to place (worker/providers/base.py).

The stored request is giftq's own shape (schemas/order.py for Bamboo, schemas/bhn_order.py for BHN); this is
the one place that reads it into giftq's provider types, so tasks never build a provider's request themselves.
The id sent is the record's provider RequestId, made once at submit: every retry sends the same one.
"""

from __future__ import annotations

from decimal import Decimal

from config.settings import BHN
from worker.orders.store import OrderRecord
from worker.providers.base import Address, OrderLine, Person, PlaceRequest


def place_request(record: OrderRecord) -> PlaceRequest:
    """The provider order of a stored order."""
    request = record.request
    lines = tuple(
        OrderLine(
            product_id=line["ProductId"],
            quantity=line["Quantity"],
            value=Decimal(line["Value"]),
            currency=line.get("Currency", ""),
        )  # fmt: skip
        for line in request["Products"]
    )
    if record.provider != BHN:
        return PlaceRequest(request_id=record.provider_request_id, account_id=request["AccountId"], lines=lines)
    return PlaceRequest(
        request_id=record.provider_request_id,
        account_id=request.get("AccountId"),
        lines=lines,
        purchase_order_number=request.get("PurchaseOrderNumber", ""),
        sender=_person(request["Sender"]),
        recipient=_person(request["Recipient"]),
    )


def _person(raw: dict) -> Person:
    address = raw.get("Address")
    return Person(
        external_id=raw.get("ExternalId", ""),
        email=raw.get("Email", ""),
        first_name=raw.get("FirstName", ""),
        last_name=raw.get("LastName", ""),
        address=Address(line1=address["Line1"], city=address["City"], postal_code=address["PostalCode"],
                        country=address["Country"], region=address.get("Region", ""),
                        line2=address.get("Line2", "")) if address else None,
    )  # fmt: skip
