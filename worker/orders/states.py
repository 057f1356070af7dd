"""The states of a producer order and the moves allowed between them (DESIGN.md, "The order's life")."""

from __future__ import annotations

ACCEPTED = "accepted"  # stored and enqueued, not yet sent to the provider
PACKED = "packed"  # riding in a provider order with other producer orders (coalescing); final with it
SUBMITTING = "submitting"  # a worker holds a throttle slot and is calling Place Order
PLACED = "placed"  # the provider accepted the order; polling until it is final
FULFILLED = "fulfilled"
PARTIALLY_FULFILLED = "partially_fulfilled"
FAILED = "failed"
REJECTED = "rejected"  # refused before or by the provider's validation, with a reason code
NEEDS_ATTENTION = "needs_attention"  # a deadline passed; reconciliation keeps looking

FINAL = frozenset({FULFILLED, PARTIALLY_FULFILLED, FAILED, REJECTED})
ALL = (ACCEPTED, PACKED, SUBMITTING, PLACED, FULFILLED, PARTIALLY_FULFILLED, FAILED, REJECTED, NEEDS_ATTENTION)

# Forward moves only; a late poll or webhook can never take an order back.
ALLOWED: dict[str, frozenset[str]] = {
    ACCEPTED: frozenset({SUBMITTING, PACKED, REJECTED}),
    PACKED: frozenset({FULFILLED, PARTIALLY_FULFILLED, FAILED, REJECTED}),
    SUBMITTING: frozenset({PLACED, REJECTED, NEEDS_ATTENTION}),
    PLACED: frozenset({FULFILLED, PARTIALLY_FULFILLED, FAILED, NEEDS_ATTENTION}),
    NEEDS_ATTENTION: frozenset({PLACED, FULFILLED, PARTIALLY_FULFILLED, FAILED, REJECTED}),
}


def sources_of(target: str) -> tuple[str, ...]:
    """Every state from which an order may move to `target`."""
    return tuple(state for state in ALL if target in ALLOWED.get(state, ()))
