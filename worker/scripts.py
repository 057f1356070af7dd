"""The Lua scripts of `worker/lua/`, read once and registered once per Redis client.

Files whose name starts with `_` are preludes (shared helpers such as `_clock.lua`'s `now_ms`): they are
prepended to every script rather than registered on their own.
"""

from __future__ import annotations

import functools
from pathlib import Path

import redis
from redis.commands.core import Script

LUA_DIR = Path(__file__).parent / "lua"


@functools.cache
def _sources() -> dict[str, str]:
    paths = sorted(LUA_DIR.glob("*.lua"))
    prelude = "\n".join(path.read_text() for path in paths if path.name.startswith("_"))
    return {path.stem: f"{prelude}\n{path.read_text()}" for path in paths if not path.name.startswith("_")}


def load_scripts(client: redis.Redis) -> dict[str, Script]:
    """Register every script of the lua folder on `client`, keyed by its file name without suffix."""
    return {name: client.register_script(source) for name, source in _sources().items()}
