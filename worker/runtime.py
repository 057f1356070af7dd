"""The objects a giftq process works with, built once per process from the settings (`build_runtime`).

It wires the wings together (orders, throttle, providers) and is given the function that sends a task,
so it never imports the Celery app: the app holds the process's runtime (`worker.celery.runtime`).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace

import redis
from celery import Celery

from config.settings import Limits, Settings, SettingsError
from worker import metrics
from worker.keys import Keys
from worker.orders.catalog import CatalogCache
from worker.orders.continuity import Continuity, StoreLost
from worker.orders.crypto import CardCipher
from worker.orders.intake import Intake
from worker.orders.notifications import Notifier
from worker.orders.notify_rules import NotifyRules
from worker.orders.store import OrderStore, check_durable
from worker.orders.vault import CardVault
from worker.providers.base import AccountId, Provider
from worker.providers.clients import client_for
from worker.throttle.scheduler import Throttle

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Runtime:
    """Settings plus the store, throttle, cipher, card vault, notifier and one provider client per credential."""

    settings: Settings
    redis: redis.Redis
    keys: Keys
    store: OrderStore
    throttle: Throttle
    cipher: CardCipher
    providers: dict[str, Provider]
    catalogs: dict[str, CatalogCache]
    vault: CardVault
    notifier: Notifier
    continuity: Continuity  # this process's memory of the store's marker: a store that lost data stops placing

    def intake(self, enqueue: Callable[[str], object]) -> Intake:
        """Order intake; `enqueue` starts the placing of a stored order."""
        return Intake(store=self.store, catalog_for=self.catalog, credential_for=self.credential_for,
                      sandbox_mode_for=lambda provider: self.settings.provider(provider).sandbox_mode, enqueue=enqueue,
                      notify_rules=NotifyRules.from_settings(self.settings.notify),
                      producer_accounts=self.settings.producer_accounts)  # fmt: skip

    def catalog(self, credential: str) -> CatalogCache:
        """The cached catalog and accounts of one credential."""
        self.provider(credential)
        return self.catalogs[credential]

    def provider(self, credential: str) -> Provider:
        """The client of one credential."""
        try:
            return self.providers[credential]
        except KeyError:
            raise SettingsError(f"no credential {credential!r} is configured") from None

    def limits(self, credential: str) -> Limits:
        """The credential's limits; coalescing off where its provider cannot pack orders (the provider's seam says)."""
        limits = self.settings.credential(credential).limits
        if limits.coalesce and not self.provider(credential).can_pack:
            return _without_packing(limits)
        return limits

    def credential_for(self, provider: str, account_id: AccountId | None) -> str:
        """The credential (its Credential.key) that places orders of `provider` charging `account_id`."""
        return self.settings.provider(provider).key_for_account(account_id)

    def metrics_collector(self) -> metrics.RedisCollector:
        """The gauges a scrape reads from Redis: orders by state and provider, parked orders per credential."""
        return metrics.RedisCollector(
            self.store.count_by_state_and_provider,
            lambda: {key: self.throttle.parked_count(key) for key in self.providers},
        )

    def now_ms(self) -> int:
        """Redis's clock, the one the throttle and the store use."""
        return _now_ms(self.redis)


@functools.cache
def _without_packing(limits: Limits) -> Limits:
    """`limits` with coalescing off, made once per limits (Runtime.limits is asked for every order's every step)."""
    return replace(limits, coalesce=0)


def build_runtime(
    settings: Settings,
    *,
    send_task: Callable[..., object] | None = None,
    check_store: bool = True,
    check_keys: bool = True,
    store_seen: tuple[str, int] = ("", 0),
) -> Runtime:
    """Connect to the store Redis and build every piece; raises a clear error if a setting is missing or unsafe.

    That includes card keys that cannot decrypt the newest stored cards: a wrong key fails here, at start.
    `send_task(name, **options)` sends a task by name (the Celery app's own); without it, tasks are sent
    the way a producer sends them, through a Celery app of giftq's broker settings. `store_seen`: the store's
    marker as this process saw it before (worker/orders/continuity.py).
    """
    send_task = send_task or _producer_send_task()
    if not settings.credentials():
        raise SettingsError("no provider credential: set GIFTQ_BAMBOO_CLIENT_ID and GIFTQ_BAMBOO_CLIENT_SECRET, "
                            "or GIFTQ_BHN_CLIENT_ID and GIFTQ_BHN_CLIENT_SECRET")  # fmt: skip
    client = redis.Redis.from_url(settings.store_redis_url(), health_check_interval=30)
    if check_store and not settings.allow_volatile_store:
        for warning in check_durable(client, accepted_fsync=settings.allow_appendfsync or "always"):
            logger.warning("%s", warning)
    keys = Keys(settings.key_prefix)
    providers = {
        credential.key: client_for(settings.provider(credential.provider), credential)
        for credential in settings.credentials()
    }
    store = OrderStore(
        client, keys, retention_s=settings.order_retention_s, on_final=functools.partial(_enqueue_notify, send_task)
    )
    continuity = Continuity(client, keys, seen=store_seen)
    try:
        continuity.check()
    except StoreLost as lost:  # this process may still show orders; placing refuses until an operator resumes
        logger.error("%s", lost)
    cipher = CardCipher(settings.fernet_keys)
    vault = CardVault(client, keys, store, cipher)
    if check_keys:
        vault.check_keys()
    return Runtime(
        settings=settings,
        redis=client,
        keys=keys,
        store=store,
        throttle=Throttle(client, keys),
        cipher=cipher,
        providers=providers,
        catalogs={
            credential: CatalogCache(
                client, keys, provider, refresh_s=settings.catalog_refresh_s, retry_s=settings.catalog_retry_s
            )
            for credential, provider in providers.items()
        },
        vault=vault,
        continuity=continuity,
        notifier=Notifier(store, vault, settings.notify, send_task=send_task, now_ms=lambda: _now_ms(client)),
    )


def _enqueue_notify(send_task: Callable[..., object], request_id: str) -> None:
    """Start telling the producer its order is final (`giftq.notify`, tasks/notify.py), by name."""
    send_task("giftq.notify", args=[request_id], argsrepr=repr([request_id]))


def _producer_send_task() -> Callable[..., object]:
    """`send_task` of a Celery app with giftq's broker settings and no tasks: what a producer has."""
    sender = Celery("giftq-sender", set_as_current=False)
    sender.config_from_object("config.celery")
    return sender.send_task


def _now_ms(client: redis.Redis) -> int:
    seconds, micros = client.time()
    return seconds * 1000 + micros // 1000
