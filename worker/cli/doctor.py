"""`giftq doctor`: one line per check of a running deployment, OK or PROBLEM; non-zero when any is a problem.

Each check reads what is there and changes nothing: the store's durability and its default user, the card keys
against the newest stored cards, each credential against its provider (Get Accounts), this host's clock against
Redis's, the queues, the dead letters, and beat's last tick (the store marker's `ticked_ms`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import redis
import requests

from config.settings import OWN_QUEUES, Settings, intake_queue
from worker.errors import GiftqError
from worker.orders.store import check_durable
from worker.runtime import Runtime

MAX_CLOCK_SKEW_MS = 1000  # this host's clock may be this far from Redis's (the throttle uses Redis's)
BEAT_TICKS_MISSED = 3  # beat is presumed stopped after this many kick-schedules intervals without a tick

Check = tuple[str, bool, str]  # (name, ok, detail)


def run_checks(rt: Runtime, broker: redis.Redis, *, kick_interval_s: float) -> list[Check]:
    """Every check, in order; a check that raises is a problem named by its error."""
    checks: list[tuple[str, Callable[[], str]]] = [
        ("store durability", lambda: _durability(rt)),
        ("store default user", lambda: _default_user(rt.redis)),
        ("card keys", lambda: _card_keys(rt)),
        *((f"credential {key}", _answers(rt, key)) for key in rt.providers),
        ("clock skew", lambda: _clock_skew(rt)),
        ("queues", lambda: _queues(rt.settings, broker)),
        ("dead letters", lambda: _dead_letters(rt)),
        ("beat", lambda: _beat(rt, kick_interval_s)),
    ]
    return list(_run(checks))


def _run(checks: list[tuple[str, Callable[[], str]]]) -> Iterator[Check]:
    for name, check in checks:
        try:
            yield name, True, check()
        except (GiftqError, redis.RedisError, requests.RequestException) as problem:
            yield name, False, " ".join(str(problem).split()) or type(problem).__name__


def _durability(rt: Runtime) -> str:
    settings = rt.settings
    try:
        warnings = check_durable(rt.redis, accepted_fsync=settings.allow_appendfsync or "always")
    except GiftqError as problem:
        if not settings.allow_volatile_store:
            raise
        return f"accepted by GIFTQ_ALLOW_VOLATILE_STORE: {problem}"
    fsync = rt.redis.config_get("appendfsync").get("appendfsync")
    return "; ".join([f"appendonly yes, appendfsync {fsync}, maxmemory-policy noeviction", *warnings])


def _default_user(client: redis.Redis) -> str:
    flags = client.acl_getuser("default").get("flags", [])
    if "on" in flags and "nopass" in flags:
        raise GiftqError("the default user is on without a password: anyone reaching the port can write the store "
                         "(giftq acl writes an ACL file that turns it off)")  # fmt: skip
    return "off" if "off" in flags else "on, with a password"


def _card_keys(rt: Runtime) -> str:
    rt.vault.check_keys()
    return f"{len(rt.settings.fernet_keys)} configured; the newest stored cards decrypt"


def _answers(rt: Runtime, key: str) -> Callable[[], str]:
    def check() -> str:
        accounts = rt.provider(key).accounts()
        return f"{rt.settings.credential(key).provider} answers Get Accounts ({len(accounts)} accounts)"

    return check


def _clock_skew(rt: Runtime) -> str:
    before = time.time() * 1000
    redis_ms = rt.now_ms()
    skew = round(redis_ms - (before + time.time() * 1000) / 2)
    if abs(skew) > MAX_CLOCK_SKEW_MS:
        raise GiftqError(f"Redis's clock is {skew} ms from this host's (more than {MAX_CLOCK_SKEW_MS} ms): check NTP")
    return f"{skew:+d} ms (Redis minus this host)"


def _queues(settings: Settings, broker: redis.Redis) -> str:
    names = [*OWN_QUEUES, *map(intake_queue, settings.intake_producers)]
    depths = [(name, broker.llen(f"{settings.broker_key_prefix}{name}")) for name in names]
    return ", ".join(f"{name} {depth}" for name, depth in depths)


def _dead_letters(rt: Runtime) -> str:
    parked = rt.redis.llen(rt.keys.dead_letters())
    if parked:
        raise GiftqError(f"{parked} parked: see giftq dead-letters list")
    return "none"


def _beat(rt: Runtime, kick_interval_s: float) -> str:
    ticked_ms = rt.continuity.ticked_ms()
    if not ticked_ms:
        raise GiftqError("no tick of beat was ever run: start `celery -A worker beat` (exactly one) and a worker")
    ago_s = (rt.now_ms() - ticked_ms) / 1000
    if ago_s > BEAT_TICKS_MISSED * kick_interval_s:
        raise GiftqError(f"its last tick ran {ago_s:.0f} s ago (every {kick_interval_s:.0f} s expected): "
                         "is beat, or every worker, stopped?")  # fmt: skip
    return f"last tick {ago_s:.1f} s ago"
