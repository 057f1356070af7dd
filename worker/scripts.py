"""The Lua loader: each wing's `lua/` folder is read once and its scripts registered once per Redis client.

Files of `worker/lua/` whose name starts with `_` are preludes (shared helpers such as `_clock.lua`'s `now_ms`):
they are prepended to every script of every wing rather than registered on their own. The folder's other files
are `worker/`'s own (`take_message.lua`, sent by worker/broker.py as it is). A wing's own `_*.lua` files
are preludes of that wing's scripts alone (e.g. `worker/throttle/lua/_packs.lua`).
"""

from __future__ import annotations

import functools
from pathlib import Path

import redis
from redis.commands.core import Script

PRELUDE_DIR = Path(__file__).parent / "lua"


@functools.cache
def _prelude(folder: Path = PRELUDE_DIR) -> str:
    return "\n".join(path.read_text() for path in sorted(folder.glob("_*.lua")))


@functools.cache
def _sources(folder: Path) -> dict[str, str]:
    paths = [path for path in sorted(folder.glob("*.lua")) if not path.name.startswith("_")]
    prelude = _prelude() if folder == PRELUDE_DIR else f"{_prelude()}\n{_prelude(folder)}"
    return {path.stem: f"{prelude}\n{path.read_text()}" for path in paths}


def load_scripts(client: redis.Redis, folder: Path) -> dict[str, Script]:
    """Register every script of `folder` on `client`, keyed by its file name without suffix."""
    return {name: client.register_script(source) for name, source in _sources(folder).items()}
