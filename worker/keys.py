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

    def last_place(self, credential: str) -> str:
        """Time (ms, Redis clock) of the last reserved Place Order start of one credential."""
        return f"{self.prefix}:throttle:{{{credential}}}:last_place"

    def catalog(self, credential: str) -> str:
        """Hash of one credential's cached catalog and accounts: `fetched_ms` (Redis clock) and `data` (JSON)."""
        return f"{self.prefix}:catalog:{{{credential}}}"

    def catalog_lock(self, credential: str) -> str:
        """Lock (SET NX with a TTL) held by the one process fetching a credential's catalog."""
        return f"{self.prefix}:catalog:{{{credential}}}:lock"
