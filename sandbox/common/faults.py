"""Faults scheduled through ``POST /_sandbox/faults``: which call gets which fault, and when.

A fault applies to one endpoint (``place_order`` or ``get_order``: Bamboo's Place Order and Get Order, BHN's
create order and get or list orders) for the next ``count`` calls or with
a ``probability`` drawn from the sandbox's seeded random generator. Faults act at one of two moments:

- on arrival, instead of the real work: ``error_500_before_commit``, ``rate_limited_429``,
  ``connection_reset``, ``ok_200_without_request_id`` and ``ok_200_not_json`` (by default), ``order_not_found``
  (Get Order only: a read that lags the write) and ``slow_response`` (which then lets the real answer through late);
- after commit, once the work is done: ``timeout_after_commit``, ``error_500_after_commit``, and
  ``connection_reset`` or an ``ok_200_*`` answer with ``"after_commit": true``. For Place Order only an accepted
  (charged) order commits, so these faults wait for the next call that is accepted; for Get Order every answered
  call commits.

Calls refused by auth (401) or by a limit (429) never consume a fault.
"""

import random
from dataclasses import asdict, dataclass
from typing import Any

ON_ARRIVAL, AFTER_COMMIT = "on_arrival", "after_commit"
ENDPOINTS = ("place_order", "get_order")
KINDS = (
    "timeout_after_commit",
    "error_500_before_commit",
    "error_500_after_commit",
    "rate_limited_429",
    "connection_reset",
    "slow_response",
    "ok_200_without_request_id",
    "ok_200_not_json",
    "order_not_found",
)
_ALWAYS_AFTER_COMMIT = ("timeout_after_commit", "error_500_after_commit")
_EITHER_MOMENT = ("connection_reset", "ok_200_without_request_id", "ok_200_not_json")
_GET_ORDER_ONLY = ("order_not_found",)


@dataclass
class Fault:
    """One scheduled fault; exactly one of ``count`` (calls left) and ``probability`` is set."""

    kind: str
    endpoint: str = "place_order"
    count: int | None = None
    probability: float | None = None
    hold_ms: int = 30_000  # timeout_after_commit: how long the connection stays open without an answer
    delay_ms: int = 1_000  # slow_response: how late the real answer comes
    wait_s: int = 1  # rate_limited_429: the N of "Please wait for N seconds."
    after_commit: bool = False  # connection_reset, ok_200_*: act after the order is committed instead of before

    @property
    def moment(self) -> str:
        """Return whether the fault acts on arrival or after commit."""
        return AFTER_COMMIT if self.kind in _ALWAYS_AFTER_COMMIT or self.after_commit else ON_ARRIVAL

    def as_json(self) -> dict[str, Any]:
        """Return the fault as ``GET /_sandbox/faults`` lists it."""
        return asdict(self) | {"moment": self.moment}


def parse_fault(body: Any) -> Fault:
    """Build a Fault from a request body; raise ValueError saying what is wrong with it."""
    if not isinstance(body, dict):
        raise ValueError("a fault is a JSON object")
    if "kind" not in body:
        raise ValueError("a fault needs a kind")
    known = set(Fault.__dataclass_fields__)
    unknown = set(body) - known
    if unknown:
        raise ValueError(f"unknown fault fields: {sorted(unknown)}")
    fault = Fault(**body)
    if fault.kind not in KINDS:
        raise ValueError(f"kind must be one of {list(KINDS)}")
    if fault.endpoint not in ENDPOINTS:
        raise ValueError(f"endpoint must be one of {list(ENDPOINTS)}")
    if fault.kind in _GET_ORDER_ONLY and fault.endpoint != "get_order":
        raise ValueError(f"{fault.kind} is a get_order fault")
    if fault.after_commit and fault.kind not in _EITHER_MOMENT:
        raise ValueError(f"after_commit applies to {list(_EITHER_MOMENT)} only")
    if (fault.count is None) == (fault.probability is None):
        raise ValueError("give exactly one of count and probability")
    _check_numbers(fault)
    return fault


def _check_numbers(fault: Fault) -> None:
    if fault.count is not None and (not isinstance(fault.count, int) or fault.count < 1):
        raise ValueError("count must be an integer >= 1")
    if fault.probability is not None and not (
        isinstance(fault.probability, int | float) and 0 <= fault.probability <= 1
    ):
        raise ValueError("probability must be a number between 0 and 1")
    for name in ("hold_ms", "delay_ms", "wait_s"):
        value = getattr(fault, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"{name} must be an integer >= 0")


class FaultSchedule:
    """The faults waiting for calls, in the order they were scheduled. Not thread safe: hold the lock."""

    def __init__(self) -> None:
        self._faults: list[Fault] = []

    def add(self, fault: Fault) -> None:
        """Schedule ``fault`` behind the ones already waiting."""
        self._faults.append(fault)

    def clear(self) -> None:
        """Forget every scheduled fault."""
        self._faults.clear()

    def as_json(self) -> list[dict[str, Any]]:
        """Return the waiting faults, counted ones with the calls they have left."""
        return [fault.as_json() for fault in self._faults]

    def take(self, endpoint: str, moment: str, rng: random.Random) -> Fault | None:
        """Return the fault this call gets at ``moment``, if any, using up one of its count."""
        for fault in list(self._faults):
            if fault.endpoint != endpoint or fault.moment != moment:
                continue
            if fault.probability is not None:
                if rng.random() < fault.probability:
                    return fault
                continue
            fault.count -= 1
            if fault.count == 0:
                self._faults.remove(fault)
            return fault
        return None
