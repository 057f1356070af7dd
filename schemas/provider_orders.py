"""Which schema an order is read with: the provider it names (`Provider`, "bamboo" when absent)."""

from __future__ import annotations

from schemas.bhn_order import BhnOrderRequestSchema
from schemas.order import BAMBOO, BHN, INVALID_PROVIDER, OrderIdentitySchema, OrderRequestSchema

ORDER_SCHEMAS: dict[str, type[OrderIdentitySchema]] = {BAMBOO: OrderRequestSchema, BHN: BhnOrderRequestSchema}


class UnknownProvider(ValueError):
    """Raised when an order names a provider giftq does not know (its reason code: InvalidProvider)."""

    reason = INVALID_PROVIDER


def provider_of(order: object) -> str:
    """The provider an order names; raises UnknownProvider for anything but a known name."""
    provider = order.get("Provider", BAMBOO) if isinstance(order, dict) else BAMBOO
    if not isinstance(provider, str) or provider not in ORDER_SCHEMAS:  # a list or object is no name either
        raise UnknownProvider(f"Provider is one of {', '.join(ORDER_SCHEMAS)}")
    return provider
