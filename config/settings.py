"""Settings from the environment (12-factor).

Every variable is listed with a comment in `.env.example`. Nothing secret has a default:
a missing secret is an error at start, not at first use.
"""

from __future__ import annotations

import re
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
    sandbox_mode: bool  # True: the credential is a sandbox one, so only sandbox accounts may be charged


@dataclass(frozen=True, kw_only=True)
class ApiSettings:
    """The producers' HTTP API: where it listens, who may call it, how much it accepts."""

    bind: str  # host:port gunicorn listens on
    workers: int  # gunicorn worker processes
    threads: int  # threads per worker process (gthread)
    keys: tuple[tuple[str, str], ...]  # (producer name, sha256 hex of its API key)
    max_body_bytes: int  # larger request bodies are refused with 413


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
    catalog_refresh_s: int  # the cached catalog and accounts are fetched again when older than this
    catalog_retry_s: int  # after a failed fetch, no process tries again for this long (also the fetch lock TTL)
    api: ApiSettings

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
            sandbox_mode=env.bool("BAMBOO_SANDBOX_MODE", True),
        )
        api = ApiSettings(
            bind=env.str("API_BIND", "127.0.0.1:8000"),
            workers=env.int("API_WORKERS", 2),
            threads=env.int("API_THREADS", 8),
            keys=_api_keys(env.list("API_KEYS", [])),
            max_body_bytes=env.int("API_MAX_BODY_BYTES", 64 * 1024),
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
            catalog_refresh_s=env.int("CATALOG_REFRESH_S", 900),
            catalog_retry_s=env.int("CATALOG_RETRY_S", 30),
            api=api,
        )


_API_KEY_ENTRY = re.compile(r"^([A-Za-z0-9_.-]{1,64}):([0-9a-f]{64})$")


def _api_keys(entries: list[str]) -> tuple[tuple[str, str], ...]:
    """Parse `producer:sha256hex` entries (`giftq apikey NAME` prints one); the keys themselves are never stored."""
    parsed = []
    for entry in entries:
        match = _API_KEY_ENTRY.match(entry.strip())
        if not match:
            raise SettingsError("GIFTQ_API_KEYS entries are producer:sha256hex (see `giftq apikey NAME`)")
        parsed.append((match.group(1), match.group(2)))
    return tuple(parsed)
