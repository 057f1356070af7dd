"""Settings from the environment (12-factor).

Every variable is listed with a comment in `.env.example`. Nothing secret has a default:
a missing secret is an error at start, not at first use.
"""

from __future__ import annotations

from dataclasses import dataclass

from environs import Env, EnvError


class SettingsError(RuntimeError):
    """Raised when the environment does not describe a usable giftq."""


@dataclass(frozen=True, kw_only=True)
class BambooSettings:
    """One Bamboo client credential and the limits giftq keeps for it."""

    base_url: str
    client_id: str
    client_secret: str
    timeout_s: float  # connect and read timeout of one HTTP call
    spacing_ms: int  # at least this long between two Place Order starts of this credential
    spacing_margin_ms: int  # added to spacing_ms to absorb network jitter before the provider


@dataclass(frozen=True, kw_only=True)
class Settings:
    """Everything a giftq process needs, read once from the environment."""

    redis_url: str | None  # broker, throttle and store unless overridden below
    broker_url: str | None
    store_url: str | None
    key_prefix: str  # prefix of every Redis key giftq writes (store and throttle)
    broker_key_prefix: str  # prefix of the broker's keys; "" keeps Celery's plain names for producers
    allow_volatile_store: bool  # start even if the store Redis may evict or forget
    fernet_keys: tuple[str, ...]  # newest first; card data is encrypted with the first
    bamboo: BambooSettings
    poll_interval_ms: int  # first wait before Get Order; doubles up to poll_max_interval_ms
    poll_max_interval_ms: int
    poll_deadline_s: int  # an order not final this long after placing needs attention
    order_retention_s: int  # how long final order records are kept

    def store_redis_url(self) -> str:
        """The Redis URL of the order store and throttle."""
        url = self.store_url or self.redis_url
        if not url:
            raise SettingsError("GIFTQ_REDIS_URL (or GIFTQ_STORE_URL) is not set")
        return url

    def broker_redis_url(self) -> str:
        """The Redis URL of the Celery broker."""
        url = self.broker_url or self.redis_url
        if not url:
            raise SettingsError("GIFTQ_REDIS_URL (or GIFTQ_BROKER_URL) is not set")
        return url


def load_settings() -> Settings:
    """Read the settings from the process environment."""
    env = Env(expand_vars=False)
    try:
        return _read(env)
    except EnvError as error:
        raise SettingsError(str(error)) from None


def _read(env: Env) -> Settings:
    with env.prefixed("GIFTQ_"):
        bamboo = BambooSettings(
            base_url=env.str("BAMBOO_BASE_URL", "http://127.0.0.1:8080").rstrip("/"),
            client_id=env.str("BAMBOO_CLIENT_ID", ""),
            client_secret=env.str("BAMBOO_CLIENT_SECRET", ""),
            timeout_s=env.float("BAMBOO_TIMEOUT_S", 10.0),
            spacing_ms=env.int("BAMBOO_SPACING_MS", 500),
            spacing_margin_ms=env.int("BAMBOO_SPACING_MARGIN_MS", 25),
        )
        return Settings(
            redis_url=env.str("REDIS_URL", None),
            broker_url=env.str("BROKER_URL", None),
            store_url=env.str("STORE_URL", None),
            key_prefix=env.str("KEY_PREFIX", "giftq"),
            broker_key_prefix=env.str("BROKER_KEY_PREFIX", ""),
            allow_volatile_store=env.bool("ALLOW_VOLATILE_STORE", False),
            fernet_keys=tuple(env.list("FERNET_KEYS", [])),
            bamboo=bamboo,
            poll_interval_ms=env.int("POLL_INTERVAL_MS", 1000),
            poll_max_interval_ms=env.int("POLL_MAX_INTERVAL_MS", 30000),
            poll_deadline_s=env.int("POLL_DEADLINE_S", 3600),
            order_retention_s=env.int("ORDER_RETENTION_S", 30 * 86400),
        )
