"""The Redis-backed throttle that keeps a credential's Place Order calls apart across all workers."""

from __future__ import annotations

from dataclasses import dataclass

import redis

from worker.keys import Keys
from worker.scripts import load_scripts


@dataclass(frozen=True)
class Slot:
    """A reserved Place Order start: call the provider now. `at_ms` is Redis's clock at reservation."""

    at_ms: int


@dataclass(frozen=True)
class Deferral:
    """No slot now; ask again after `wait_ms`."""

    wait_ms: int


class Throttle:
    """Reserves Place Order starts of one credential at least `spacing_ms` apart (start-to-start)."""

    def __init__(self, client: redis.Redis, keys: Keys):
        self._keys = keys
        self._reserve = load_scripts(client)["reserve_spacing"]

    def reserve_or_defer(self, credential: str, *, spacing_ms: int) -> Slot | Deferral:
        """Reserve a start for `credential` now, or say how long until one may be free.

        Raises redis.RedisError when Redis cannot be reached: no slot, no call (fail closed).
        """
        reserved, value = self._reserve(keys=[self._keys.last_place(credential)], args=[spacing_ms])
        return Slot(at_ms=int(value)) if reserved == 1 else Deferral(wait_ms=int(value))
