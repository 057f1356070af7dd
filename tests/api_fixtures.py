"""Fixtures for the HTTP API: a real `giftq api` (gunicorn) process and a real worker, one pair per test module.

Starting gunicorn and a Celery worker takes seconds, so the API tests of one module share one key prefix,
one API process and one worker; each test uses RequestIds of its own and asserts only about them.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import redis

from config.settings import load_settings
from tests.conftest import API_KEYS, SECOND_CLIENT, environment_for
from worker.cli.processes import ApiServer, Child, Sandbox, start_worker
from worker.runtime import Runtime, build_runtime


def auth(producer: str = "shop") -> dict[str, str]:
    """The Authorization header of a test producer."""
    return {"Authorization": f"Bearer {API_KEYS[producer]}"}


@pytest.fixture(scope="module")
def module_env(request: pytest.FixtureRequest, redis_url: str, sandbox: Sandbox) -> Iterator[dict[str, str]]:
    """A giftq environment on a key prefix of this module's own; its keys are deleted afterwards.

    It uses the sandbox's second credential unless the module sets BAMBOO_CLIENT: the sandbox is shared by
    the session and limits orders per product per minute and client, so modules that place orders use
    a credential of their own where they can. A module's API_ENV (a dict) adds or replaces variables,
    e.g. a rate limit of its own.
    """
    prefix = f"m-{uuid.uuid4().hex[:10]}"
    client = getattr(request.module, "BAMBOO_CLIENT", SECOND_CLIENT)
    yield {**environment_for(redis_url, prefix, sandbox, client), **getattr(request.module, "API_ENV", {})}
    client = redis.Redis.from_url(redis_url)
    for key in client.scan_iter(match=f"{prefix}*", count=1000):
        client.delete(key)
    client.close()


@pytest.fixture(scope="module")
def api(module_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    """A `giftq api` process (gunicorn) on a free port, ready when /health answers."""
    server = ApiServer(tmp_path_factory.mktemp("api") / "api.log", module_env)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def api_worker(module_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Child]:
    """A `celery -A worker worker` process for the module's orders."""
    worker = start_worker(tmp_path_factory.mktemp("worker") / "worker.log", module_env, name="api-worker")
    yield worker
    worker.stop()


@pytest.fixture(scope="module")
def module_rt(module_env: dict[str, str]) -> Iterator[Runtime]:
    """The runtime a giftq process of this module builds, to look into its store."""
    with pytest.MonkeyPatch.context() as patch:
        for key, value in module_env.items():
            patch.setenv(key, value)
        runtime = build_runtime(load_settings())
    yield runtime
    runtime.redis.close()
