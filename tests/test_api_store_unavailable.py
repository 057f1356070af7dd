"""The API when its store Redis goes away: a real gunicorn API on a private redis-server that the test stops."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.api_fixtures import auth
from tests.conftest import environment_for
from worker.cli.processes import ApiServer, Sandbox
from worker.cli.redis_server import RedisServer

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def api_without_its_store(sandbox: Sandbox, tmp_path: Path) -> Iterator[ApiServer]:
    """An API that started on a Redis of its own, which is then stopped."""
    with RedisServer() as store:
        # One gunicorn worker, ready before the store goes: a second one still booting then would fail its start
        env = environment_for(store.url, "gone", sandbox) | {"GIFTQ_API_WORKERS": "1"}
        server = ApiServer(tmp_path / "api.log", env)
        try:
            store.kill()
            yield server
        finally:
            server.stop()


def assert_store_unavailable(response: requests.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    assert int(response.headers["Retry-After"]) >= 1
    body = response.json()
    assert (body["status"], body["reason"]) == (503, "StoreUnavailable") and body["message"]
    assert "redis://" not in response.text


def test_with_its_store_gone_the_api_answers_503_store_unavailable(api_without_its_store: ApiServer) -> None:
    url = api_without_its_store.url
    order = {"IdempotencyKey": f"cart-{uuid.uuid4()}", "AccountId": 655,
             "Products": [{"ProductId": 100001, "Quantity": 1, "Value": 25}]}  # fmt: skip

    assert_store_unavailable(requests.get(f"{url}/health", timeout=10))
    assert_store_unavailable(requests.post(f"{url}/orders", json=order, headers=auth(), timeout=10))
    assert_store_unavailable(requests.get(f"{url}/orders/{uuid.uuid4()}", headers=auth(), timeout=10))
    assert "Traceback" not in api_without_its_store.log_tail(200)
