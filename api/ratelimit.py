"""Each API key's request rate, kept in Redis so that every gunicorn worker on every host shares one budget.

`GIFTQ_API_RATE_LIMIT_REQUESTS` per `GIFTQ_API_RATE_LIMIT_WINDOW_S`, per API key (not per producer: a
producer's orders key and cards key have a budget each). Only an authenticated request is counted, against
the key it presented, so requests without a valid key cannot spend anyone's budget. The rule is one Lua
script (`lua/rate_limit.lua`, GCRA) on Redis's clock, its state one key per API key (`Keys.api_rate`).

Written here rather than taken from flask-limiter: flask-limiter keeps its own key names and its own Redis
connection, outside giftq's key module and store client, and answers with its own error; this is one short
script in the shape of the throttle's.
"""

from __future__ import annotations

import math
from pathlib import Path

import redis

from worker.keys import Keys
from worker.scripts import load_scripts

LUA_DIR = Path(__file__).parent / "lua"


class RateLimiter:
    """Admits or refuses one API key's requests against its budget; `requests == 0` admits everything."""

    def __init__(self, client: redis.Redis, keys: Keys, *, requests: int, window_s: int):
        self._keys = keys
        self._requests = requests
        self._window_ms = window_s * 1000
        self._script = load_scripts(client, LUA_DIR)["rate_limit"]

    def admit(self, key_id: str, *, now_ms: int | None = None) -> int:
        """0 when the request may go (it is counted); else whole seconds until one may (for Retry-After)."""
        if not self._requests:
            return 0
        interval_ms = self._window_ms / self._requests
        args = [interval_ms, self._window_ms, "" if now_ms is None else now_ms]
        wait_ms = int(self._script(keys=[self._keys.api_rate(key_id)], args=args))
        return math.ceil(wait_ms / 1000)
