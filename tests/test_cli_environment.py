"""A `giftq` command reads `.env` from its working directory, and says in one line when its Redis is unusable.

Each test runs the real command in a directory of its own, with an environment holding no GIFTQ_ variable but the
ones the test names, against a private redis-server (or a port where nothing listens).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from worker.cli.redis_server import RedisServer, free_port
from worker.orders.crypto import new_key

pytestmark = pytest.mark.timeout(60)

ROOT = Path(__file__).resolve().parent.parent
SECRET = "s3cret-redis-pw"


def giftq(*args: str, cwd: Path, **variables: str) -> subprocess.CompletedProcess:
    env = {name: value for name, value in os.environ.items() if not name.startswith("GIFTQ_")}
    env.update(PYTHONPATH=str(ROOT), **variables)
    return subprocess.run([sys.executable, "-m", "worker.cli", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=45)  # fmt: skip


def settings_for(redis_url: str) -> dict[str, str]:
    return {"GIFTQ_REDIS_URL": redis_url, "GIFTQ_FERNET_KEYS": new_key(), "GIFTQ_BAMBOO_CLIENT_ID": "giftq-demo",
            "GIFTQ_BAMBOO_CLIENT_SECRET": "demo-secret", "GIFTQ_KEY_PREFIX": "cli-env"}  # fmt: skip


def write_env(directory: Path, settings: dict[str, str]) -> None:
    (directory / ".env").write_text("# giftq\n" + "".join(f"{name}={value}\n" for name, value in settings.items()))


def assert_one_line_error(done: subprocess.CompletedProcess, *needles: str) -> None:
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert done.stderr.startswith("error: ")
    for needle in needles:
        assert needle in done.stderr, done.stderr
    assert SECRET not in done.stderr


@pytest.fixture(scope="module")
def redis_server() -> RedisServer:
    with RedisServer() as server:
        yield server


def test_a_command_reads_dot_env_from_its_working_directory(redis_server: RedisServer, tmp_path: Path) -> None:
    write_env(tmp_path, settings_for(redis_server.url))

    done = giftq("store", "resume", cwd=tmp_path)

    assert done.returncode == 0, done.stderr
    assert "nothing to do" in done.stdout
    assert giftq("store", "resume", cwd=tmp_path.parent).returncode == 1  # another directory: no .env, no Redis URL


def test_the_process_environment_wins_over_dot_env(redis_server: RedisServer, tmp_path: Path) -> None:
    settings = settings_for(redis_server.url)
    write_env(tmp_path, {**settings, "GIFTQ_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"})

    done = giftq("store", "resume", cwd=tmp_path, GIFTQ_REDIS_URL=redis_server.url)

    assert done.returncode == 0, done.stderr


def test_giftq_env_file_names_another_file_and_a_missing_one_is_refused(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    other = tmp_path / "conf"
    other.mkdir()
    write_env(other, settings_for(redis_server.url))

    assert giftq("store", "resume", cwd=tmp_path, GIFTQ_ENV_FILE=str(other / ".env")).returncode == 0
    assert_one_line_error(giftq("store", "resume", cwd=tmp_path, GIFTQ_ENV_FILE="nope.env"), "GIFTQ_ENV_FILE")


@pytest.mark.parametrize("command", [("status", "97018cf7-98f5-40fc-a142-711d43a72e17"), ("api",), ("flower",),
                                     ("store", "resume"), ("keys", "rotate")])  # fmt: skip
def test_an_unreachable_redis_is_one_line_naming_the_variable(command: tuple[str, ...], tmp_path: Path) -> None:
    port = free_port()
    settings = {**settings_for(f"redis://:{SECRET}@127.0.0.1:{port}/0"), "GIFTQ_FLOWER_UNAUTHENTICATED": "true"}
    write_env(tmp_path, settings)

    done = giftq(*command, cwd=tmp_path)

    assert_one_line_error(done, "GIFTQ_REDIS_URL", f"127.0.0.1:{port}", "Connection refused")


@pytest.mark.parametrize(
    ("variable", "url", "reason"),
    [
        ("GIFTQ_REDIS_URL", f"http://:{SECRET}@127.0.0.1:6399/0", "redis://[user:password@]host:port/db"),
        ("GIFTQ_REDIS_URL", f"redis://:{SECRET}@127.0.0.1:sixthousand/0", "Port"),
        ("GIFTQ_STORE_URL", "redis//127.0.0.1", "redis://"),
    ],
)
def test_a_malformed_redis_url_is_one_line_naming_the_variable_and_not_its_password(
    redis_server: RedisServer, tmp_path: Path, variable: str, url: str, reason: str
) -> None:
    write_env(tmp_path, {**settings_for(redis_server.url), variable: url})

    assert_one_line_error(giftq("status", "97018cf7-98f5-40fc-a142-711d43a72e17", cwd=tmp_path), variable, reason)


def test_a_refused_password_is_one_line(tmp_path: Path) -> None:
    with RedisServer(password="the-right-password") as guarded:
        write_env(tmp_path, settings_for(f"redis://:{SECRET}@127.0.0.1:{guarded.port}/0"))

        done = giftq("store", "resume", cwd=tmp_path)

    assert_one_line_error(done, "GIFTQ_REDIS_URL", "refused its user and password")
