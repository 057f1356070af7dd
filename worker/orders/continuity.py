"""Noticing a store that lost its data: it came back empty, or from an older AOF.

A process remembers the store's marker (an id made at the store's first start, and a generation beat advances
on every tick); every placing and every beat tick checks it (`lua/check_marker.lua`). A store that forgot what
the process saw stops placing, for every process, and says why, until an operator resumes it (`giftq store
resume`): orders it forgot may have been paid, so they must be reconciled with the provider by a person first.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path

import redis
from redis.client import Pipeline
from redis.exceptions import NoScriptError

from worker.errors import StoreError
from worker.keys import Keys
from worker.scripts import load_scripts

LUA_DIR = Path(__file__).parent / "lua"
TICKED_MS = "ticked_ms"  # the marker's field: when beat's tick last advanced it


class StoreLost(StoreError):
    """Raised when the store lost data this process saw (or another process noticed it): placing stops."""

    reason = "StoreLost"


class Continuity:
    """One process's memory of the store's marker, checked against the store."""

    def __init__(self, client: redis.Redis, keys: Keys, *, seen: tuple[str, int] = ("", 0)):
        """`seen`: what this process saw before (a forked child inherits its parent's memory)."""
        self._redis = client
        self._key = keys.store_marker()
        self._script = load_scripts(client, LUA_DIR)["check_marker"]
        self._seen_id, self._seen_generation = seen

    @property
    def seen(self) -> tuple[str, int]:
        """The store's id and generation as this process last saw them."""
        return self._seen_id, self._seen_generation

    def check(self, *, advance: bool = False) -> None:
        """Raise StoreLost if the store forgot what this process saw; else remember what it holds now.

        `advance`: move the generation on (beat, on every tick), so a store restored from an older AOF shows it.
        """
        result = self._script(keys=[self._key], args=self._args(advance))
        self._take(result)
        if advance:  # when beat's tick last ran, on Redis's clock: `giftq doctor` tells a beat that stopped
            seconds, micros = self._redis.time()
            self._redis.hset(self._key, TICKED_MS, seconds * 1000 + micros // 1000)

    def check_in(self, pipe: Pipeline) -> Callable[[object], None]:
        """Queue `check()` first on `pipe`, so it rides in the round trip of the reads queued after it; returns what
        to call with its reply (raises StoreLost as `check` does).

        The script is sent by its SHA only: a Redis that does not know it yet (a process's first use, a restart)
        answers NoScriptError there, and `check` then runs it the usual way.
        """
        pipe.evalsha(self._script.sha, 1, self._key, *self._args(advance=False))
        return self._take_queued

    def _take_queued(self, reply: object) -> None:
        if isinstance(reply, NoScriptError):
            self.check()
        elif isinstance(reply, Exception):
            raise reply
        else:
            self._take(reply)

    def _args(self, advance: bool) -> list:
        return [self._seen_id, self._seen_generation, "1" if advance else "0", uuid.uuid4().hex]

    def _take(self, result: list) -> None:
        if int(result[0]) == 0:
            raise StoreLost(f"placing stopped: {result[1].decode()}; reconcile with the provider, then "
                            "`giftq store resume`")  # fmt: skip
        self._seen_id, self._seen_generation = result[1].decode(), int(result[2])

    def ticked_ms(self) -> int:
        """When beat's tick last advanced the marker (Redis clock, ms); 0 if it never did."""
        return int(self._redis.hget(self._key, TICKED_MS) or 0)

    def halted(self) -> str:
        """Why placing stopped, or "" if it did not."""
        return (self._redis.hget(self._key, "halted") or b"").decode()

    def resume(self) -> str:
        """An operator's decision: accept the store as it is now. Returns why it had stopped ("" if it had not)."""
        reason = self.halted()
        self._redis.hdel(self._key, "halted")
        if not self._redis.hexists(self._key, "id"):
            self._redis.hset(self._key, mapping={"id": uuid.uuid4().hex, "generation": 1})
        return reason
