"""Bamboo's per-client rate limits, kept as a sliding log of arrivals.

Every arrival of an authenticated call counts, whether it is accepted, refused with a reason code or
refused with 429: the limits are about how a client calls, not about what it gets. This is also how
``/_sandbox/findings`` judges the call log, so a 429 from the limiter and a violation in the findings
describe the same event. Windows are rolling and half-open: an arrival at ``t`` sees the arrivals in
``(t - window, t]``.
"""

import math
from collections import deque
from collections.abc import Iterable

from sandbox.bamboo.settings import Settings


class Limiter:
    """Decides, at each arrival, whether a client is over a limit, and for how long."""

    def __init__(self) -> None:
        self._last_place_order: dict[str, float] = {}
        self._product_arrivals: dict[tuple[str, int], deque[float]] = {}
        self._get_order_arrivals: dict[str, deque[float]] = {}

    def admit_place_order(self, client: str, product_ids: Iterable[int], at: float, settings: Settings) -> float:
        """Record a Place Order arrival; return 0 if within limits, else the seconds to wait.

        Place Order calls must be ``spacing_ms`` apart (start to start) and at most ``product_limit``
        orders may contain one product within ``product_window_ms``.
        """
        waits = [self._spacing_wait(client, at, settings.spacing_ms)]
        for product_id in set(product_ids):
            arrivals = self._product_arrivals.setdefault((client, product_id), deque())
            waits.append(_window_wait(arrivals, at, settings.product_limit, settings.product_window_ms))
        return max(waits)

    def admit_get_order(self, client: str, at: float, settings: Settings) -> float:
        """Record a Get Order arrival; return 0 if within ``get_order_limit`` per window, else the wait."""
        arrivals = self._get_order_arrivals.setdefault(client, deque())
        return _window_wait(arrivals, at, settings.get_order_limit, settings.get_order_window_ms)

    def _spacing_wait(self, client: str, at: float, spacing_ms: int) -> float:
        previous = self._last_place_order.get(client)
        self._last_place_order[client] = at
        if previous is None:
            return 0.0
        gap_ms = (at - previous) * 1000  # the same arithmetic as audit.spacing_violations
        return (spacing_ms - gap_ms) / 1000 if gap_ms < spacing_ms else 0.0


def _window_wait(arrivals: deque[float], at: float, limit: int, window_ms: int) -> float:
    """Append ``at`` to a window's arrivals; return how long until the window had room, 0 if it had."""
    window_s = window_ms / 1000
    while arrivals and arrivals[0] <= at - window_s:
        arrivals.popleft()
    wait = 0.0
    if len(arrivals) >= limit:
        wait = arrivals[-limit] + window_s - at
    arrivals.append(at)
    return wait


def wait_seconds_text(wait: float) -> str:
    """Return Bamboo's 429 body: the wait rounded up to whole seconds, at least one."""
    seconds = max(1, math.ceil(wait))
    return f"Too many requests. Please wait for {seconds} seconds."
