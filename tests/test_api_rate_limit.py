"""Each API key's request rate, kept in Redis: the real gunicorn API (two workers, one budget per key) and the
limiter's Lua script on its own, with a clock the test gives."""

from __future__ import annotations

import uuid

import pytest
import redis
import requests

from api.ratelimit import RateLimiter
from config.settings import SettingsError, settings_from
from tests.conftest import API_KEYS, CARDS_KEYS
from worker.cli.processes import ApiServer
from worker.keys import Keys

pytestmark = pytest.mark.timeout(60)

RATE, WINDOW_S = 5, 60
API_ENV = {"GIFTQ_API_RATE_LIMIT_REQUESTS": str(RATE), "GIFTQ_API_RATE_LIMIT_WINDOW_S": str(WINDOW_S)}


def look_up(api: ApiServer, key: str | None) -> requests.Response:
    """One authenticated request of `key` (an order nobody has: 404 while within the rate)."""
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return requests.get(f"{api.url}/orders/{uuid.uuid4()}", headers=headers, timeout=10)


def test_a_key_over_its_rate_is_answered_429_with_retry_after_and_another_key_is_unaffected(api: ApiServer) -> None:
    # Given shop's key has made its RATE requests of the window
    assert [look_up(api, API_KEYS["shop"]).status_code for _ in range(RATE)] == [404] * RATE

    # When it makes one more
    refused = look_up(api, API_KEYS["shop"])

    # Then it is refused with 429, giftq's JSON error and how long to wait
    assert refused.status_code == 429, refused.text
    assert refused.headers["Content-Type"].startswith("application/json")
    body = refused.json()
    assert (body["status"], body["reason"], body["request_id"]) == (429, "RateLimited", None)
    assert 1 <= int(refused.headers["Retry-After"]) <= WINDOW_S // RATE
    assert API_KEYS["shop"] not in refused.text

    # And blog's key still has its whole budget
    assert [look_up(api, API_KEYS["blog"]).status_code for _ in range(RATE)] == [404] * RATE


def test_requests_without_a_valid_key_spend_no_keys_budget(api: ApiServer) -> None:
    # Given many requests with no key, a wrong key, and a key one character off shop's cards key
    near_miss = CARDS_KEYS["shop"][:-1] + ("x" if CARDS_KEYS["shop"][-1] != "x" else "y")
    for key in [None, "gq_wrong", near_miss] * 10:
        assert look_up(api, key).status_code == 401

    # Then shop's cards key still has all of its own budget
    assert [look_up(api, CARDS_KEYS["shop"]).status_code for _ in range(RATE)] == [404] * RATE
    assert look_up(api, CARDS_KEYS["shop"]).status_code == 429


def test_the_limiter_admits_a_burst_then_one_request_per_interval(redis_client: redis.Redis, key_prefix: str) -> None:
    # Given 4 requests per 2 s: a burst of 4, then one every 500 ms
    limiter = RateLimiter(redis_client, Keys(key_prefix), requests=4, window_s=2)
    start = 1_000_000

    # Then the burst goes, the fifth waits for the first interval, and the wait is not moved by retrying early
    assert [limiter.admit("k1", now_ms=start) for _ in range(4)] == [0, 0, 0, 0]
    assert limiter.admit("k1", now_ms=start) == 1  # 500 ms: one whole second of Retry-After
    assert limiter.admit("k1", now_ms=start + 499) == 1
    assert limiter.admit("k1", now_ms=start + 500) == 0
    assert limiter.admit("k1", now_ms=start + 500) == 1
    # And another key is counted apart; a key idle for a window has its whole burst again
    assert limiter.admit("k2", now_ms=start + 500) == 0
    assert [limiter.admit("k1", now_ms=start + 2600) for _ in range(4)] == [0, 0, 0, 0]
    assert limiter.admit("k1", now_ms=start + 2600) == 1


def test_a_rate_of_zero_admits_everything(redis_client: redis.Redis, key_prefix: str) -> None:
    limiter = RateLimiter(redis_client, Keys(key_prefix), requests=0, window_s=1)
    assert {limiter.admit("k", now_ms=1) for _ in range(50)} == {0}
    assert redis_client.exists(Keys(key_prefix).api_rate("k")) == 0


@pytest.mark.parametrize("environ", [{"GIFTQ_API_RATE_LIMIT_REQUESTS": "-1"}, {"GIFTQ_API_RATE_LIMIT_WINDOW_S": "0"}])
def test_a_rate_limit_out_of_range_is_refused_at_start(environ: dict[str, str]) -> None:
    with pytest.raises(SettingsError, match="GIFTQ_API_RATE_LIMIT"):
        settings_from(environ)
