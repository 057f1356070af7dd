"""The Lua scripts of `worker/lua/`, registered once per Redis client."""

from __future__ import annotations

from pathlib import Path

import redis
from redis.commands.core import Script

LUA_DIR = Path(__file__).parent / "lua"


def load_scripts(client: redis.Redis) -> dict[str, Script]:
    """Register every `*.lua` file of the lua folder on `client`, keyed by its file name without suffix."""
    return {path.stem: client.register_script(path.read_text()) for path in sorted(LUA_DIR.glob("*.lua"))}
