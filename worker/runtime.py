"""The objects a giftq process works with, built once per process from the settings."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import redis

from config.settings import Settings, load_settings
from worker.catalog import CatalogCache
from worker.crypto import CardCipher
from worker.intake import Intake
from worker.keys import Keys
from worker.providers.bamboo import BambooClient
from worker.providers.base import Provider
from worker.store import OrderStore, check_durable
from worker.throttle import Throttle


@dataclass(frozen=True)
class Runtime:
    """Settings plus the store, throttle, cipher and provider client they describe."""

    settings: Settings
    redis: redis.Redis
    store: OrderStore
    throttle: Throttle
    cipher: CardCipher
    provider: Provider
    catalog: CatalogCache

    def intake(self, enqueue: Callable[[str], object]) -> Intake:
        """Order intake for this runtime's credential; `enqueue` starts the placing of a stored order."""
        return Intake(store=self.store, catalog=self.catalog, credential=self.provider.credential,
                      sandbox_mode=self.settings.bamboo.sandbox_mode, enqueue=enqueue)  # fmt: skip


def build_runtime(settings: Settings, *, check_store: bool = True) -> Runtime:
    """Connect to the store Redis and build every piece; raises a clear error if a setting is missing or unsafe."""
    client = redis.Redis.from_url(settings.store_redis_url(), health_check_interval=30)
    if check_store and not settings.allow_volatile_store:
        check_durable(client)
    keys = Keys(settings.key_prefix)
    provider = BambooClient(settings.bamboo)
    return Runtime(
        settings=settings,
        redis=client,
        store=OrderStore(client, keys, retention_s=settings.order_retention_s),
        throttle=Throttle(client, keys),
        cipher=CardCipher(settings.fernet_keys),
        provider=provider,
        catalog=CatalogCache(
            client, keys, provider, refresh_s=settings.catalog_refresh_s, retry_s=settings.catalog_retry_s
        ),
    )


@functools.cache
def runtime() -> Runtime:
    """This process's runtime, built on first use (after a fork, each child builds its own)."""
    return build_runtime(load_settings())
