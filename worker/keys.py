"""Every Redis key giftq writes, built in one place from a configurable prefix."""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Keys:
    """Key names under one prefix. Keys of one order or one credential share a hash tag."""

    prefix: str = "giftq"

    def order(self, request_id: str) -> str:
        """Hash holding one producer order's record."""
        return f"{self.prefix}:order:{{{request_id}}}"

    def order_pattern(self) -> str:
        """SCAN pattern matching every order hash (and no history, step or reads key)."""
        return re.sub(r"([*?\[\]\\])", r"\\\1", self.prefix) + ":order:{*}"

    def cards_reads(self, request_id: str) -> str:
        """List of the reads of one order's decrypted cards: {producer, key_id, at_ms} each, oldest first."""
        return f"{self.prefix}:order:{{{request_id}}}:cards_reads"

    def cards_delivered(self) -> str:
        """Sorted set of orders whose cards reached their producer (RequestId -> first delivery, ms)."""
        return f"{self.prefix}:cards:delivered"

    def history(self, request_id: str) -> str:
        """List of one order's timestamped state transitions."""
        return f"{self.prefix}:order:{{{request_id}}}:history"

    def state_index(self, state: str) -> str:
        """Sorted set of RequestIds in one state, scored by the time they entered it (ms)."""
        return f"{self.prefix}:orders:state:{state}"

    def provider_state_index(self, provider: str, state: str) -> str:
        """Sorted set of one provider's RequestIds in one state: the state's index (same members, same scores)
        narrowed to the provider, so orders by state and provider are counted with ZCARD."""
        return f"{self.prefix}:orders:provider:{provider}:state:{state}"

    def provider_index_built(self) -> str:
        """Set once the orders stored before the per-provider indexes existed were added to them."""
        return f"{self.prefix}:orders:provider_index_built"

    def api_rate(self, key_id: str) -> str:
        """One API key's rate limit state: its theoretical arrival time (ms, GCRA), expiring when it is due."""
        return f"{self.prefix}:api:rate:{key_id}"

    def schedule(self, credential: str) -> str:
        """Prefix of one credential's throttle keys (parked orders, slots, windows; see worker/throttle/lua/)."""
        return f"{self.prefix}:sched:{{{credential}}}"

    def parked(self, credential: str) -> str:
        """Hash of the orders parked in a credential's schedule (RequestId -> product ids)."""
        return f"{self.schedule(credential)}:parked"

    def scheduled(self, credential: str) -> str:
        """Sorted set of the orders that own a slot not yet claimed (RequestId -> slot ms)."""
        return f"{self.schedule(credential)}:scheduled"

    def step(self, request_id: str, step: str) -> str:
        """Marks that one step of an order (e.g. poll attempt 3) was taken, so a second delivery skips it."""
        return f"{self.prefix}:order:{{{request_id}}}:step:{step}"

    def extra_poll(self, request_id: str) -> str:
        """Marks that a provider webhook made an order's Get Order happen now (SET NX with a TTL: one per interval)."""
        return f"{self.prefix}:order:{{{request_id}}}:extra_poll"

    def dead_letters(self) -> str:
        """List of task messages parked after too many deliveries (their arguments are RequestIds only)."""
        return f"{self.prefix}:dead_letters"

    def dead_letter_replay(self, task_id: str) -> str:
        """Lock (SET NX with a TTL) held while one dead letter is replayed, so two operators never send it twice."""
        return f"{self.prefix}:dead_letters:replaying:{task_id}"

    def reconcile_cursor(self, state: str) -> str:
        """Where reconciliation's walk through one state's index stopped last (a page cursor; absent: the start)."""
        return f"{self.prefix}:reconcile:cursor:{state}"

    def store_marker(self) -> str:
        """Hash naming this store: its id, a generation beat advances, why placing stopped (orders/continuity.py)."""
        return f"{self.prefix}:store:marker"

    def catalog(self, credential: str) -> str:
        """Hash of one credential's cached catalog and accounts: `fetched_ms` (Redis clock) and `data` (JSON)."""
        return f"{self.prefix}:catalog:{{{credential}}}"

    def catalog_lock(self, credential: str) -> str:
        """Lock (SET NX with a TTL) held by the one process fetching a credential's catalog."""
        return f"{self.prefix}:catalog:{{{credential}}}:lock"
