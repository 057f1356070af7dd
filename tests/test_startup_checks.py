"""Every giftq process refuses to start on settings that could lose money, and says why (README, "Security").

Before, Celery logged and swallowed the start-up check's exception: `celery -A worker worker` printed `ready.`
and ran on a store with `appendonly no` or without card keys.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.conftest import environment_for
from worker.cli.processes import Sandbox
from worker.cli.redis_server import RedisServer

pytestmark = pytest.mark.timeout(120)

WORKER = [sys.executable, "-m", "celery", "-A", "worker", "worker", "--loglevel", "INFO", "--concurrency", "1",
          "--without-mingle", "--without-gossip"]  # fmt: skip
BEAT = [sys.executable, "-m", "celery", "-A", "worker", "beat", "--loglevel", "INFO"]  # + its --schedule file
API = [sys.executable, "-m", "worker.cli", "api", "--bind", "127.0.0.1:0"]


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    """A Redis of this test's own, whose configuration it may make unsafe."""
    with RedisServer() as server:
        yield server


def started(command: list[str], env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess:
    """Run a giftq process until it exits on its own (a healthy one would run until the timeout)."""
    if command is BEAT:
        command = [*BEAT, "--schedule", str(tmp_path / "beat-schedule")]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=60, cwd=tmp_path)


def unsafe(server: RedisServer, **config: str) -> None:
    client = redis.Redis.from_url(server.url)
    for name, value in config.items():
        client.config_set(name.replace("_", "-"), value)
    client.close()


@pytest.mark.parametrize("command", [WORKER, BEAT, API], ids=["worker", "beat", "api"])
@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"appendonly": "no"}, "appendonly=no"),
        ({"appendfsync": "everysec"}, "appendfsync=everysec"),
        ({"maxmemory_policy": "allkeys-lru"}, "maxmemory-policy=allkeys-lru"),
    ],
    ids=["no AOF", "fsync every second", "evicting"],
)
def test_a_process_on_a_store_that_may_lose_orders_exits_with_the_reason(
    own_redis: RedisServer, sandbox: Sandbox, command: list[str], config: dict, message: str, tmp_path: Path
) -> None:
    unsafe(own_redis, **config)
    result = started(command, environment_for(own_redis.url, "t-unsafe", sandbox), tmp_path)
    assert result.returncode != 0
    assert message in result.stderr
    assert "ready." not in result.stderr + result.stdout


def test_fsync_every_second_starts_when_accepted_in_so_many_words(
    own_redis: RedisServer, sandbox: Sandbox, tmp_path: Path
) -> None:
    unsafe(own_redis, appendfsync="everysec", appendonly="no")
    env = environment_for(own_redis.url, "t-accepted", sandbox) | {"GIFTQ_ALLOW_APPENDFSYNC": "everysec"}
    # appendonly no is still refused: accepting a lazy fsync is not accepting no AOF at all
    assert "appendonly=no" in started(WORKER, env, tmp_path).stderr
    unsafe(own_redis, appendonly="yes")
    with pytest.raises(subprocess.TimeoutExpired) as still_running:
        subprocess.run(WORKER, env=env, capture_output=True, text=True, timeout=8, cwd=tmp_path)
    assert "ready." in (still_running.value.stderr or b"").decode()


@pytest.mark.parametrize("command", [WORKER, BEAT, API], ids=["worker", "beat", "api"])
@pytest.mark.parametrize(
    ("unset", "message"),
    [("GIFTQ_FERNET_KEYS", "GIFTQ_FERNET_KEYS"), ("GIFTQ_BAMBOO_CLIENT_SECRET", "without its secret")],
    ids=["no card keys", "no credential secret"],
)
def test_a_process_without_keys_or_credentials_exits_with_the_reason(
    own_redis: RedisServer, sandbox: Sandbox, command: list[str], unset: str, message: str, tmp_path: Path
) -> None:
    env = environment_for(own_redis.url, "t-missing", sandbox)
    env.pop(unset)
    result = started(command, env, tmp_path)
    assert result.returncode != 0
    assert message in result.stderr
