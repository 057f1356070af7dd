"""The provider's catalog and accounts, cached in Redis so intake never calls the provider per order.

One process at a time refreshes the cache (a lock taken with SET NX and a TTL), when it is older than
`refresh_s`. A failed fetch keeps the lock until it expires, so the provider is asked again at most once
per `retry_s` however many orders arrive meanwhile; until then the stale copy keeps serving. With no copy
at all, intake cannot validate an order and refuses it as CatalogUnavailable, storing nothing.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass
from decimal import Decimal

import redis

from worker.errors import CatalogUnavailable, ProviderError
from worker.keys import Keys
from worker.providers.base import Account, Product, Provider

logger = logging.getLogger(__name__)

WAIT_POLL_S = 0.05  # how often a process waiting for another's first fetch looks again
FETCHING, FAILED = b"fetching", b"failed"  # values of the lock: a fetch under way, or the last one failed


@dataclass(frozen=True)
class CatalogSnapshot:
    """The products and accounts of one credential as fetched at `fetched_ms` (Redis clock)."""

    products: dict[int, Product]
    accounts: dict[int, Account]
    fetched_ms: int

    def to_json(self) -> str:
        products = [{**asdict(p), "min_face_value": str(p.min_face_value),
                     "max_face_value": str(p.max_face_value)} for p in self.products.values()]  # fmt: skip
        return json.dumps({"products": products, "accounts": [asdict(a) for a in self.accounts.values()]})

    @classmethod
    def from_json(cls, data: str, fetched_ms: int) -> CatalogSnapshot:
        raw = json.loads(data)
        products = (_product(entry) for entry in raw["products"])
        return cls(
            products={product.id: product for product in products},
            accounts={account["id"]: Account(**account) for account in raw["accounts"]},
            fetched_ms=fetched_ms,
        )


class CatalogCache:
    """Serves a credential's catalog snapshot from Redis, refreshing it within the provider's limits."""

    def __init__(self, client: redis.Redis, keys: Keys, provider: Provider, *, refresh_s: int, retry_s: int):
        self._redis = client
        self._key = keys.catalog(provider.credential)
        self._lock_key = keys.catalog_lock(provider.credential)
        self._provider = provider
        self._refresh_ms = refresh_s * 1000
        self._retry_s = retry_s
        self._memo: CatalogSnapshot | None = None

    def snapshot(self) -> CatalogSnapshot:
        """The cached snapshot, refreshed first if it is stale and no other process is refreshing it.

        Raises CatalogUnavailable when there is no snapshot and none could be fetched.
        """
        cached, now_ms = self._read_with_clock()
        if self._fresh(cached, now_ms):
            return cached
        if self._try_lock():
            return self._refresh()
        return cached or self._wait_for_first_fetch()

    def _refresh(self) -> CatalogSnapshot:
        """Fetch a new snapshot; the caller holds the lock."""
        cached, now_ms = self._read_with_clock()  # another process may have refreshed it before this one took the lock
        if self._fresh(cached, now_ms):
            self._redis.delete(self._lock_key)
            return cached
        try:
            accounts = self._provider.accounts()
            products = self._provider.catalog()
        except ProviderError as error:
            # Keep the lock, marked failed: nobody asks the provider again before it expires (retry_s),
            # and whoever waits for this first fetch stops waiting now.
            self._redis.set(self._lock_key, FAILED, xx=True, keepttl=True)
            logger.warning("catalog of %s not refreshed: %s", self._provider.credential, error)
            if cached:
                return cached
            raise CatalogUnavailable(f"the provider's catalog could not be fetched ({type(error).__name__})") from None
        fresh = CatalogSnapshot({p.id: p for p in products}, {a.id: a for a in accounts}, self._now_ms())
        self._redis.hset(self._key, mapping={"fetched_ms": fresh.fetched_ms, "data": fresh.to_json()})
        self._redis.delete(self._lock_key)
        logger.info("catalog of %s refreshed: %d products, %d accounts",
                    self._provider.credential, len(products), len(accounts))  # fmt: skip
        return fresh

    def _wait_for_first_fetch(self) -> CatalogSnapshot:
        """Another process is fetching the very first snapshot: wait for it, or take over if it gave up."""
        deadline = time.monotonic() + self._retry_s
        while time.monotonic() < deadline:
            cached = self._read()
            if cached:
                return cached
            lock = self._redis.get(self._lock_key)
            if lock == FAILED:
                raise CatalogUnavailable("the provider's catalog could not be fetched; no copy is cached")
            if lock is None and self._try_lock():
                return self._refresh()
            time.sleep(WAIT_POLL_S)
        raise CatalogUnavailable(f"no catalog was fetched within {self._retry_s} s")

    def _read(self) -> CatalogSnapshot | None:
        return self._snapshot_of(self._redis.hget(self._key, "fetched_ms"))

    def _read_with_clock(self) -> tuple[CatalogSnapshot | None, int]:
        """The cached snapshot and Redis's clock, asked in one round trip (the snapshot's data only if it changed)."""
        with self._redis.pipeline(transaction=False) as pipe:
            raw, (seconds, microseconds) = pipe.hget(self._key, "fetched_ms").time().execute()
        return self._snapshot_of(raw), seconds * 1000 + microseconds // 1000

    def _snapshot_of(self, raw: bytes | None) -> CatalogSnapshot | None:
        if raw is None:
            return None
        fetched_ms = int(raw)
        if self._memo is None or self._memo.fetched_ms != fetched_ms:
            data = self._redis.hget(self._key, "data")
            if data is None:
                return None
            self._memo = CatalogSnapshot.from_json(data, fetched_ms)
        return self._memo

    def _fresh(self, cached: CatalogSnapshot | None, now_ms: int) -> bool:
        return cached is not None and now_ms - cached.fetched_ms < self._refresh_ms

    def _try_lock(self) -> bool:
        return bool(self._redis.set(self._lock_key, FETCHING, nx=True, ex=self._retry_s))

    def _now_ms(self) -> int:
        seconds, microseconds = self._redis.time()
        return seconds * 1000 + microseconds // 1000


def _product(raw: dict) -> Product:
    bounds = {name: Decimal(raw[name]) for name in ("min_face_value", "max_face_value")}
    return Product(**{**raw, **bounds})
