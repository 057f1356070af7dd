"""Order intake: validate a producer's order, store it once per RequestId, enqueue its placing.

The HTTP API, the `giftq.submit_order` task and `giftq submit` all come through `submit`.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass

from marshmallow import ValidationError

from schemas.order import OrderRequestSchema, reason_of
from worker.errors import GiftqError, OrderRejected
from worker.store import OrderRecord, OrderStore

_SCHEMA = OrderRequestSchema()


class IdempotencyConflict(GiftqError):
    """Raised when a RequestId is submitted again with a different body."""

    def __init__(self, request_id: str):
        super().__init__(f"RequestId {request_id} was already submitted with a different body")
        self.request_id = request_id


@dataclass(frozen=True)
class Submission:
    """The outcome of a submit: the order as stored, and whether this call created it."""

    order: OrderRecord
    created: bool


def canonical(order: dict) -> dict:
    """Validate a producer's order into its canonical, JSON-safe form; raises OrderRejected."""
    try:
        data = _SCHEMA.load(order)
    except ValidationError as error:
        raise OrderRejected(reason_of(error.messages), _describe(error.messages), _request_id_of(order)) from None
    return {
        "RequestId": str(data["RequestId"]),
        "AccountId": data["AccountId"],
        "Products": [
            {"ProductId": line["ProductId"], "Quantity": line["Quantity"], "Value": str(line["Value"])}
            for line in data["Products"]
        ],
    }


def submit(
    order: dict, *, store: OrderStore, credential_for: Callable[[int], str], enqueue: Callable[[str], object]
) -> Submission:
    """Validate, store (once per RequestId) and enqueue an order.

    A refused order with a usable RequestId is stored as `rejected` with its reason, then OrderRejected
    is raised. A second submit of the same RequestId returns the first order and enqueues nothing.
    """
    try:
        request = canonical(order)
    except OrderRejected as rejected:
        if rejected.request_id:
            store.create_rejected(rejected.request_id, _storable(order), rejected.reason)
        raise
    request_id = request["RequestId"]
    credential = credential_for(request["AccountId"])
    created = store.create(
        request_id, request, provider="bamboo", credential=credential, provider_request_id=request_id
    )
    existing = store.get(request_id)
    if not created and existing.request != request:
        raise IdempotencyConflict(request_id)
    if created:
        enqueue(request_id)
    return Submission(order=existing, created=created)


def _request_id_of(order: object) -> str | None:
    try:
        return str(uuid.UUID(str(order["RequestId"])))
    except (TypeError, KeyError, ValueError, AttributeError):
        return None


def _storable(order: dict) -> dict:
    """The parts of a refused order worth keeping for a look-up (it was never valid, so keep it small)."""
    return {key: order[key] for key in ("RequestId", "AccountId", "Products") if key in order}


def _describe(messages: dict) -> str:
    return "; ".join(
        f"{field}: {' '.join(map(str, errors)) if isinstance(errors, list) else errors}"
        for field, errors in messages.items()
    )
