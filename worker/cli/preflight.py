"""What a `giftq` command checks before it starts: that its Redis URLs are URLs, and that they answer.

An operator who mistypes GIFTQ_REDIS_URL, or starts a command before Redis is up, is told so in one line that
names the variable, never in a traceback from deep inside redis-py. No URL is printed: it may hold a password.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import redis
from redis.connection import parse_url

from config.settings import Settings
from worker.errors import GiftqError

CONNECT_TIMEOUT_S = 5.0


class RedisUnavailable(GiftqError):
    """Raised when a Redis URL of the settings is malformed, or its server does not answer a PING."""


def check_redis(settings: Settings) -> None:
    """Parse and PING the store's and the broker's Redis; RedisUnavailable, naming the variable, if one fails."""
    for variable, url in _urls(settings):
        _parse(variable, url)
        client = redis.Redis.from_url(url, socket_connect_timeout=CONNECT_TIMEOUT_S, socket_timeout=CONNECT_TIMEOUT_S)
        try:
            client.ping()
        except redis.AuthenticationError:
            raise RedisUnavailable(f"the Redis of {variable} refused its user and password") from None
        except redis.RedisError as error:
            raise RedisUnavailable(f"the Redis of {variable} cannot be reached: {describe(error)}") from None
        finally:
            client.close()


def describe(error: redis.RedisError) -> str:
    """A Redis error in one line, for a person (redis-py's own text names the host and port, never a password)."""
    text = " ".join(str(error).split()) or type(error).__name__
    return text if text.endswith(".") else f"{text}."


def _urls(settings: Settings) -> list[tuple[str, str]]:
    store = ("GIFTQ_STORE_URL" if settings.store_url else "GIFTQ_REDIS_URL", settings.store_redis_url())
    broker = ("GIFTQ_BROKER_URL" if settings.broker_url else "GIFTQ_REDIS_URL", settings.broker_redis_url())
    return [store] if store == broker else [store, broker]


def _parse(variable: str, url: str) -> None:
    try:
        parse_url(url)
        urlsplit(url).port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError as error:
        message = f"{variable} is not a Redis URL ({error}); it reads redis://[user:password@]host:port/db"
        raise RedisUnavailable(message) from None
