"""The judge: whether a client's provider calls kept Bamboo's limits, from their arrival times alone.

It reads a call log (the sandbox's ``GET /_sandbox/calls`` entries through ``calls_from_log``, or ``Call``
values made by hand) and holds it to the rules as Bamboo's Place Order page states them, knowing nothing of
how the client meant to schedule its calls:

- spacing: any two Place Order arrivals of one client are at least ``spacing_ms`` apart (``end_to_start``:
  each arrival is at least ``spacing_ms`` after the end of the client's previous call, where its end is known);
- product window: any ``product_limit + 1`` Place Order arrivals of one client that contain one product span at
  least ``product_window_ms``, i.e. at most ``product_limit`` in any rolling window;
- Get Order: any ``get_limit + 1`` Get Order arrivals of one client span at least ``get_window_ms``;
- cards: no Place Order asks for more than ``max_cards`` cards.

Every authenticated arrival counts, whatever it was answered: the page says how often a client may submit, not
how often it may succeed. Per client it also computes DESIGN.md's lower bound LB of the span from the first
accepted order to the last, and the schedule efficiency LB / span. Times are compared in whole microseconds
(the log's resolution), so a log that meets a rule exactly passes. It imports nothing of giftq or of the
sandbox's server: tests, benchmarks and the demo share it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

PLACE_ORDER, GET_ORDER = "place_order", "get_order"
SPACING, PRODUCT_WINDOW, GET_WINDOW, CARDS = "spacing", "product_window", "get_order", "cards"
RULES = (SPACING, PRODUCT_WINDOW, GET_WINDOW, CARDS)


@dataclass(frozen=True)
class Rules:
    """The limits of one provider, as it states them; Bamboo's by default. Times in ms."""

    spacing_ms: float = 500
    product_limit: int = 6
    product_window_ms: float = 60_000
    get_limit: int = 120
    get_window_ms: float = 60_000
    max_cards: int = 500
    end_to_start: bool = False

    @classmethod
    def of_sandbox(cls, config: Mapping[str, Any]) -> Rules:
        """The rules a sandbox enforces, from its ``GET /_sandbox/config``."""
        return cls(spacing_ms=config["spacing_ms"], product_limit=config["product_limit"],
                   product_window_ms=config["product_window_ms"], get_limit=config["get_order_limit"],
                   get_window_ms=config["get_order_window_ms"])  # fmt: skip

    def widened(self, margin_ms: float) -> Rules:
        """The rules with `margin_ms` added to the spacing and every window (what a client promises itself)."""
        return replace(self, spacing_ms=self.spacing_ms + margin_ms,
                       product_window_ms=self.product_window_ms + margin_ms,
                       get_window_ms=self.get_window_ms + margin_ms)  # fmt: skip


@dataclass(frozen=True)
class Call:
    """One provider call as it arrived: whose, which endpoint, when (ms), and what a Place Order asked for."""

    client: str
    endpoint: str
    at_ms: float
    request_id: str | None = None
    products: tuple[int, ...] = ()
    cards: int = 0
    status: int | None = None  # None: no answer was sent
    ended_ms: float | None = None  # when its answer came, where known (end-to-start spacing)
    seq: int | None = None  # its number in the log

    def name(self) -> str:
        return f"#{self.seq} {self.request_id or ''}".strip() if self.seq is not None else str(self.request_id)


@dataclass(frozen=True)
class Violation:
    """Calls that together break a rule, and by how much: ms too close (cards too many, for the card rule)."""

    rule: str
    client: str
    calls: tuple[Call, ...]
    by: float
    product_id: int | None = None

    def describe(self) -> str:
        unit = "cards over" if self.rule == CARDS else "ms short"
        product = f" product {self.product_id}" if self.product_id is not None else ""
        names = ", ".join(call.name() for call in self.calls)
        return f"{self.rule}{product}: {self.client}: {self.by:g} {unit} ({names})"


@dataclass(frozen=True)
class Schedule:
    """One client's accepted orders: DESIGN.md's lower bound of their span, the span, and the efficiency."""

    client: str
    orders: int
    lower_bound_ms: float
    span_ms: float

    @property
    def efficiency(self) -> float:
        return self.lower_bound_ms / self.span_ms if self.span_ms > 0 else 1.0


@dataclass(frozen=True)
class Report:
    """The judge's verdict on a log: each violation, and each client's schedule."""

    violations: tuple[Violation, ...]
    schedules: tuple[Schedule, ...]
    place_orders: int
    get_orders: int

    @property
    def ok(self) -> bool:
        return not self.violations

    @property
    def efficiency(self) -> float:
        """The worst client's schedule efficiency (1.0 without orders)."""
        return min((schedule.efficiency for schedule in self.schedules), default=1.0)

    def count(self, rule: str) -> int:
        return sum(1 for violation in self.violations if violation.rule == rule)

    def describe(self) -> str:
        counts = ", ".join(f"{rule} {self.count(rule)}" for rule in RULES)
        return "\n".join([f"violations: {counts}", *(violation.describe() for violation in self.violations)])


def calls_from_log(entries: Iterable[Mapping[str, Any]]) -> list[Call]:
    """The authenticated Place Order and Get Order calls of a ``GET /_sandbox/calls`` log."""
    calls = []
    for entry in entries:
        if entry["client"] is None or entry["endpoint"] not in (PLACE_ORDER, GET_ORDER):
            continue
        lines = [line for line in entry.get("products") or [] if type(line.get("ProductId")) is int]
        cards = sum(line["Quantity"] for line in lines if type(line.get("Quantity")) is int)
        calls.append(Call(client=entry["client"], endpoint=entry["endpoint"], at_ms=entry["at"] * 1000,
                          request_id=entry.get("request_id"), products=tuple(line["ProductId"] for line in lines),
                          cards=cards, status=entry.get("status"), seq=entry.get("seq")))  # fmt: skip
    return calls


def judge(calls: Iterable[Call], rules: Rules) -> Report:
    """Hold every client's calls to `rules`; return the violations and each client's schedule."""
    by_client: dict[str, list[Call]] = defaultdict(list)
    for call in calls:
        by_client[call.client].append(call)
    violations: list[Violation] = []
    schedules = []
    for client, own in sorted(by_client.items()):
        places = sorted((call for call in own if call.endpoint == PLACE_ORDER), key=lambda call: call.at_ms)
        gets = sorted((call for call in own if call.endpoint == GET_ORDER), key=lambda call: call.at_ms)
        violations += _spacing(client, places, rules)
        for product in sorted({product for call in places for product in call.products}):
            having = [call for call in places if product in call.products]
            violations += _window(PRODUCT_WINDOW, client, having, rules.product_limit, rules.product_window_ms, product)
        violations += _window(GET_WINDOW, client, gets, rules.get_limit, rules.get_window_ms)
        violations += [Violation(CARDS, client, (call,), call.cards - rules.max_cards)
                       for call in places if call.cards > rules.max_cards]  # fmt: skip
        if places:
            schedules.append(_schedule(client, [call for call in places if call.status == 200], rules))
    total = sum(len(own) for own in by_client.values())
    places_count = sum(1 for own in by_client.values() for call in own if call.endpoint == PLACE_ORDER)
    return Report(tuple(violations), tuple(schedules), places_count, total - places_count)


def lower_bound_ms(orders: int, per_product: Iterable[int], rules: Rules) -> float:
    """DESIGN.md's LB: max((N - 1) * s, max_p floor((n_p - 1) / k) * W), the least span from first to last start."""
    by_window = max(((count - 1) // rules.product_limit for count in per_product if count), default=0)
    return max((orders - 1) * rules.spacing_ms, by_window * rules.product_window_ms, 0)


def _us(ms: float) -> int:
    return round(ms * 1000)


def _spacing(client: str, places: list[Call], rules: Rules) -> list[Violation]:
    found = []
    for earlier, later in zip(places, places[1:], strict=False):
        reference = earlier.ended_ms if rules.end_to_start and earlier.ended_ms is not None else earlier.at_ms
        short_us = _us(rules.spacing_ms) - (_us(later.at_ms) - _us(reference))
        if short_us > 0:
            found.append(Violation(SPACING, client, (earlier, later), short_us / 1000))
    return found


def _window(
    rule: str, client: str, calls: list[Call], limit: int, window_ms: float, product: int | None = None
) -> list[Violation]:
    found = []
    for index in range(len(calls) - limit):
        inside = tuple(calls[index : index + limit + 1])
        short_us = _us(window_ms) - (_us(inside[-1].at_ms) - _us(inside[0].at_ms))
        if short_us > 0:
            found.append(Violation(rule, client, inside, short_us / 1000, product))
    return found


def _schedule(client: str, accepted: list[Call], rules: Rules) -> Schedule:
    per_product: dict[int, int] = defaultdict(int)
    for call in accepted:
        for product in set(call.products):
            per_product[product] += 1
    span = accepted[-1].at_ms - accepted[0].at_ms if accepted else 0.0
    return Schedule(client, len(accepted), lower_bound_ms(len(accepted), per_product.values(), rules), span)
