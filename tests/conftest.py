"""Fixtures that start the real thing: a private redis-server, the sandbox, Celery worker processes.

Every test gets its own key prefix (store, throttle and broker), so tests never see each other.
Set GIFTQ_TEST_REDIS_URL to run against a Redis of your own instead of a private one.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from celery import Celery

from api.apikeys import key_entry
from config.settings import Settings, load_settings
from worker.cli.processes import Child, Sandbox, start_worker
from worker.cli.redis_server import RedisServer
from worker.orders.crypto import new_key
from worker.runtime import Runtime, build_runtime

pytest_plugins = ["tests.sandbox_fixtures", "tests.api_fixtures", "tests.fault_fixtures", "tests.bhn_fixtures"]

# No `giftq` command of the tests reads a developer's .env (config/dotenv.py): its Redis is not the tests' own.
os.environ["GIFTQ_ENV_FILE"] = ""

DEMO_CLIENT = {"GIFTQ_BAMBOO_CLIENT_ID": "giftq-demo", "GIFTQ_BAMBOO_CLIENT_SECRET": "demo-secret"}
# The sandbox's second credential (account 655): its rate windows are its own, apart from the demo client's.
SECOND_CLIENT = {"GIFTQ_BAMBOO_CLIENT_ID": "giftq-demo-2", "GIFTQ_BAMBOO_CLIENT_SECRET": "demo-secret-2"}
API_KEYS = {"shop": "gq_test-key-of-shop", "blog": "gq_test-key-of-blog"}  # producer -> its API key (orders scope)
CARDS_KEYS = {"shop": "gq_test-cards-key-of-shop", "blog": "gq_test-cards-key-of-blog"}  # orders and cards scopes


LOG_TAIL_LINES = 40  # of each process log a failed test started, shown in its report


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """A failed test's report ends with the last lines of the logs of the processes it started (workers, sandbox,
    beat: files `*.log` in its tmp_path), so a failure seen only in CI can be read from CI's output."""
    outcome = yield
    report = outcome.get_result()
    tmp_path = getattr(item, "funcargs", {}).get("tmp_path")
    if report.when != "call" or not report.failed or tmp_path is None:
        return
    for log in sorted(Path(tmp_path).glob("*.log")):
        lines = log.read_text(errors="replace").splitlines()[-LOG_TAIL_LINES:]
        report.sections.append((f"last lines of {log.name}", "\n".join(lines)))


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A Redis URL: the one in GIFTQ_TEST_REDIS_URL, else a private redis-server stopped at the end."""
    given = os.environ.get("GIFTQ_TEST_REDIS_URL")
    if given:
        yield given
        return
    with RedisServer() as server:
        yield server.url


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


@pytest.fixture
def key_prefix(redis_client: redis.Redis) -> Iterator[str]:
    """A fresh key prefix for one test; its keys are deleted afterwards."""
    prefix = f"t-{uuid.uuid4().hex[:10]}"
    yield prefix
    for key in redis_client.scan_iter(match=f"{prefix}*", count=1000):
        redis_client.delete(key)


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    """A Bamboo sandbox process with Bamboo's own limits and a short fulfilment delay, shared by a session."""
    log = tmp_path_factory.mktemp("sandbox") / "sandbox.log"
    server = Sandbox(log, fulfil_delay_ms=300)
    yield server
    server.stop()


@pytest.fixture
def own_sandbox(tmp_path: Path) -> Iterator[Sandbox]:
    """A Bamboo sandbox of this test's own: no other test's calls count in its windows, and a webhook it registers
    reaches no other test."""
    server = Sandbox(tmp_path / "sandbox.log", fulfil_delay_ms=300)
    yield server
    server.stop()


# Bamboo's limits on a scaled clock: 100 ms spacing, 6 orders of a product per 3 s.
SCALED = {"spacing_ms": 100, "product_limit": 6, "product_window_ms": 3000}


@pytest.fixture(scope="module")
def scaled_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    """A sandbox on a scaled clock (SCALED) for one test module; reset it where tests must not see each other."""
    server = Sandbox(tmp_path_factory.mktemp("scaled") / "sandbox.log", fulfil_delay_ms=200, **SCALED)
    yield server
    server.stop()


@pytest.fixture
def giftq_env(redis_url: str, key_prefix: str, sandbox: Sandbox) -> dict[str, str]:
    """The environment of a giftq process for this test: private prefix, throwaway key, the sandbox."""
    return environment_for(redis_url, key_prefix, sandbox)


def environment_for(
    redis_url: str, key_prefix: str, sandbox: Sandbox, client: dict[str, str] = DEMO_CLIENT
) -> dict[str, str]:
    """A giftq process's environment on a key prefix: a sandbox client, a new card key, the test API keys."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("GIFTQ_")}
    env.update(
        GIFTQ_ENV_FILE="",
        GIFTQ_REDIS_URL=redis_url,
        GIFTQ_KEY_PREFIX=key_prefix,
        GIFTQ_BROKER_KEY_PREFIX=f"{key_prefix}:broker:",
        GIFTQ_FERNET_KEYS=new_key(),
        GIFTQ_BAMBOO_BASE_URL=sandbox.url,
        GIFTQ_POLL_INTERVAL_MS="200",
        GIFTQ_POLL_MAX_INTERVAL_MS="1000",
        GIFTQ_INTAKE_PRODUCERS=",".join(API_KEYS),
        GIFTQ_API_KEYS=",".join(
            [key_entry(producer, key, ("orders",)) for producer, key in API_KEYS.items()]
            + [key_entry(producer, key, ("orders", "cards")) for producer, key in CARDS_KEYS.items()]
        ),
        **client,
    )
    if os.environ.get("GIFTQ_TEST_REDIS_URL"):
        env["GIFTQ_ALLOW_VOLATILE_STORE"] = "true"
    return env


@pytest.fixture
def settings(giftq_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Settings:
    for key in [key for key in os.environ if key.startswith("GIFTQ_")]:
        monkeypatch.delenv(key)
    for key, value in giftq_env.items():
        monkeypatch.setenv(key, value)
    return load_settings()


@pytest.fixture
def rt(settings: Settings) -> Iterator[Runtime]:
    """The same runtime a worker builds, for this test's prefix."""
    runtime = build_runtime(settings)
    yield runtime
    runtime.redis.close()


@pytest.fixture
def producer(giftq_env: dict[str, str]) -> Iterator[Celery]:
    """A bare Celery client, as a producer's web app has: it knows the broker URL and task names only."""
    app = Celery(broker=giftq_env["GIFTQ_REDIS_URL"])
    app.conf.broker_transport_options = {"global_keyprefix": giftq_env["GIFTQ_BROKER_KEY_PREFIX"]}
    app.conf.task_default_queue = "giftq"
    yield app
    app.close()


@pytest.fixture
def start_workers(giftq_env: dict[str, str], tmp_path: Path) -> Iterator:
    """Start `n` real `celery -A worker worker` processes for this test (only `queues`, if given; Celery's `pool`,
    prefork at `concurrency` unless told); all are stopped afterwards."""
    started: list[Child] = []

    def start(
        n: int = 1, concurrency: int = 2, beat: bool = False, queues: tuple[str, ...] = (), pool: str = "prefork"
    ) -> list[Child]:
        for index in range(n):
            name = f"w{len(started) + 1}"
            log = tmp_path / f"{name}.log"
            started.append(start_worker(log, giftq_env, concurrency=concurrency, pool=pool, name=name,
                                        beat=beat and index == 0, queues=queues))  # fmt: skip
        return started[-n:]

    yield start
    for child in started:
        child.stop()
