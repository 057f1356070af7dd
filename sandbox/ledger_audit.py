"""The "charged once" audit: a client's orders checked against the Bamboo sandbox's ledger (`GET /_sandbox/ledger`).

Both sides come in as plain data: the ledger's JSON, and for each of the client's (producer) orders the provider
RequestId it was placed under, the cards it asked for, its state and the cards it holds. So tests, benchmarks and
giftq's demo can run it, and the sandbox imports nothing of the client. What it counts, per producer order: the
provider orders accepted (charged) for it, where more than one is a double charge; the cards charged against the
cards ordered; the cards the order holds against those the provider issued for it. And the charges that belong
to no order at all: money taken for nothing a producer asked. It never shows a card code, only which orders differ.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field

Card = tuple[str, str, str]  # (serial number, code, PIN)
REJECTED = "rejected"  # a producer order in this state must not have been charged


@dataclass(frozen=True)
class ProducerOrder:
    """What the client says of one order. `cards` are those it holds; None when it holds none to compare."""

    provider_request_id: str
    cards_ordered: int
    state: str
    credential: str = ""  # the provider client it was placed with; "" matches any
    cards: frozenset[Card] | None = field(default=None, repr=False)  # codes and PINs: never in a repr
    parts: tuple[str, ...] = ()  # an order placed as several provider orders (too many cards for one): their ids


@dataclass(frozen=True)
class LedgerAudit:
    """What the ledger says of the orders: each tuple names the producer orders (or provider RequestIds) at fault."""

    orders: int
    charges_per_order: Mapping[str, int]
    charged_twice: tuple[str, ...]  # producer orders with more than one accepted provider order
    stray_charges: tuple[str, ...]  # provider RequestIds charged that belong to no producer order
    cards_ordered: int  # by the orders that were charged
    cards_charged: int
    card_count_mismatches: tuple[str, ...]  # charged orders whose cards charged differ from the cards ordered
    charged_but_rejected: tuple[str, ...]  # orders a producer was told were refused, yet paid for
    cards_checked: int  # orders whose cards were compared with the issued ones
    card_mismatches: tuple[str, ...]  # orders whose cards are not exactly the ones the provider issued
    repeat_charges: int = 0  # charges of a provider order beyond its first

    @property
    def extra_charges(self) -> int:
        """Charges beyond one per provider order: repeats, plus charges that belong to no order."""
        return self.repeat_charges + len(self.stray_charges)

    @property
    def clean(self) -> bool:
        """Every order charged at most once, for the cards it asked, holding exactly the cards it paid for."""
        faults = (self.extra_charges, self.card_count_mismatches, self.charged_but_rejected, self.card_mismatches)
        return not any(faults)

    def rows(self) -> list[tuple[str, str]]:
        """The audit as (measure, value) rows, for a summary table or a report."""
        holding = self.cards_checked - len(self.card_mismatches)
        return [
            ("orders charged twice", str(len(self.charged_twice))),
            ("charges for no order", str(len(self.stray_charges))),
            ("cards charged / cards ordered", f"{self.cards_charged} / {self.cards_ordered}"),
            ("rejected orders that were charged", str(len(self.charged_but_rejected))),
            ("orders holding the cards the provider issued", f"{holding} / {self.cards_checked}"),
        ]


def audit_ledger(charges: list[dict], orders: Mapping[str, ProducerOrder], *, count_strays: bool = True) -> LedgerAudit:
    """Audit `orders` (by producer RequestId) against the ledger's `charges`.

    Several producer orders may share one provider order (a client that packs orders: coalescing): the cards
    charged are compared with what they ordered together, and the cards they hold, together and none twice, with
    the cards issued for it. With `count_strays` False, charges of no order in `orders` are left alone: the ledger
    is shared with others.
    """
    per_order = _charges_per_order(charges, orders)
    claimed = {id(charge) for mine in per_order.values() for charge in mine}
    charged = {request_id: mine for request_id, mine in per_order.items() if mine}
    groups: dict[tuple[str, str], list[str]] = defaultdict(list)  # one provider order: the producer orders in it
    for request_id in charged:
        order = orders[request_id]
        provider_order = f"parts of {request_id}" if order.parts else order.provider_request_id.lower()
        groups[(provider_order, order.credential)].append(request_id)
    miscounted, mismatched = [], []
    for members in groups.values():
        mine = per_order[members[0]]
        if sum(charge["cardsCharged"] for charge in mine) != sum(orders[rid].cards_ordered for rid in members):
            miscounted += members
        mismatched += _holding_wrong(orders, members, _issued(mine))
    compared = [request_id for request_id, order in orders.items() if order.cards is not None]
    uncharged_holding = [rid for rid in compared if rid not in charged and orders[rid].cards]
    return LedgerAudit(
        orders=len(orders),
        charges_per_order={request_id: len(mine) for request_id, mine in per_order.items()},
        charged_twice=tuple(request_id for request_id, mine in charged.items()
                            if max(Counter(charge["requestId"].lower() for charge in mine).values()) > 1),  # fmt: skip
        stray_charges=tuple(c["requestId"] for c in charges if id(c) not in claimed) if count_strays else (),
        cards_ordered=sum(orders[request_id].cards_ordered for request_id in charged),
        cards_charged=sum(charge["cardsCharged"] for members in groups.values() for charge in per_order[members[0]]),
        card_count_mismatches=tuple(miscounted),
        charged_but_rejected=tuple(request_id for request_id in charged if orders[request_id].state == REJECTED),
        cards_checked=len(compared),
        card_mismatches=tuple(mismatched + uncharged_holding),
        repeat_charges=sum(count - 1 for members in groups.values()
                           for count in Counter(c["requestId"].lower() for c in per_order[members[0]]).values()),
    )  # fmt: skip


def _holding_wrong(orders: Mapping[str, ProducerOrder], members: list[str], issued: frozenset[Card]) -> list[str]:
    """The producer orders of one provider order that do not hold exactly its cards between them: a card held
    twice, a card not issued for it, or (once every one of them holds its cards) an issued card nobody holds."""
    holding = [rid for rid in members if orders[rid].cards is not None]
    held: list[Card] = [card for rid in holding for card in orders[rid].cards]
    if len(held) != len(set(held)) or not set(held) <= issued:
        return holding
    if len(holding) == len(members) and set(held) != issued:
        return holding
    return []


def _charges_per_order(charges: list[dict], orders: Mapping[str, ProducerOrder]) -> dict[str, list[dict]]:
    """Each producer order's charges: the ledger's entries of its provider RequestId (and client, if it says)."""
    by_request_id: dict[str, list[dict]] = defaultdict(list)
    for charge in charges:
        by_request_id[charge["requestId"].lower()].append(charge)
    return {
        request_id: [
            charge
            for provider_order in (order.parts or (order.provider_request_id,))
            for charge in by_request_id.get(provider_order.lower(), [])
            if order.credential in ("", charge["client"])
        ]
        for request_id, order in orders.items()
    }


def _issued(charges: list[dict]) -> frozenset[Card]:
    """The cards the provider issued (sold) for these charges."""
    return frozenset((c["serialNumber"], c["cardCode"], c["pin"]) for charge in charges for c in charge["issuedCards"])
