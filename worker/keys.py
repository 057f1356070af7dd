"""Every Redis key giftq writes, built in one place from a configurable prefix."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Keys:
    """Key names under one prefix. Keys of one order or one credential share a hash tag."""

    prefix: str = "giftq"

    def order(self, request_id: str) -> str:
        """Hash holding one producer order's record."""
        return f"{self.prefix}:order:{{{request_id}}}"

    def history(self, request_id: str) -> str:
        """List of one order's timestamped state transitions."""
        return f"{self.prefix}:order:{{{request_id}}}:history"

    def state_index(self, state: str) -> str:
        """Sorted set of RequestIds in one state, scored by the time they entered it (ms)."""
        return f"{self.prefix}:orders:state:{state}"

    def schedule(self, credential: str) -> str:
        """Prefix of one credential's throttle keys (parked orders, slots, windows; see worker/lua/)."""
        return f"{self.prefix}:sched:{{{credential}}}"
