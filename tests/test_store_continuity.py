"""A store that lost its data notices: it came back empty, or from an older AOF, and placing stops, saying why.

Before, a store restarted empty was placed on as if nothing had happened: orders it forgot may have been paid.
"""

from __future__ import annotations

import subprocess
import sys
import uuid

import pytest
import redis
from celery import Celery

from tests.waiting import wait_for
from worker.cli.processes import Sandbox
from worker.keys import Keys
from worker.orders.continuity import Continuity, StoreLost
from worker.orders.store import OrderStore
from worker.runtime import Runtime

pytestmark = pytest.mark.timeout(90)


def test_a_store_that_came_back_empty_stops_placing_for_every_process_until_resumed(
    redis_client: redis.Redis, key_prefix: str
) -> None:
    # Given a process that has seen the store
    keys = Keys(key_prefix)
    seen = Continuity(redis_client, keys)
    seen.check()
    # When the store comes back empty
    redis_client.delete(keys.store_marker())
    # Then that process notices, and so does one started afterwards, which never saw it
    with pytest.raises(StoreLost, match="came back empty"):
        seen.check()
    with pytest.raises(StoreLost, match="came back empty"):
        Continuity(redis_client, keys).check()
    # And once an operator resumes, placing may go on
    assert "came back empty" in Continuity(redis_client, keys).resume()
    Continuity(redis_client, keys).check()


def test_a_store_restored_from_an_older_aof_stops_placing(redis_client: redis.Redis, key_prefix: str) -> None:
    keys = Keys(key_prefix)
    beat = Continuity(redis_client, keys)
    for _ in range(4):
        beat.check(advance=True)  # beat's ticks move the generation on: 5 now
    redis_client.hset(keys.store_marker(), "generation", 2)  # what an AOF of a few ticks ago holds
    with pytest.raises(StoreLost, match="went back in time"):
        beat.check(advance=True)


def test_the_check_that_rides_in_a_placing_tasks_read_stops_it_as_the_check_alone_does(
    redis_client: redis.Redis, key_prefix: str
) -> None:
    # Given a process that has seen the store, and an order's record
    keys = Keys(key_prefix)
    seen = Continuity(redis_client, keys)
    seen.check()
    store = OrderStore(redis_client, keys)
    store.create("r-1", {"RequestId": "r-1"})
    # The check and the read come back together while the store is the one it saw
    record, now_ms = store.get_with_clock("r-1", checked=seen)
    assert record.request_id == "r-1" and now_ms > 0
    # A Redis that no longer knows the script (restarted, flushed) is checked the usual way, not skipped
    redis_client.script_flush()
    assert store.get_with_clock("r-1", checked=seen)[0].request_id == "r-1"
    # A store that came back empty stops the read, as the check alone would: with the script unknown to Redis
    redis_client.delete(keys.store_marker())
    redis_client.script_flush()
    with pytest.raises(StoreLost, match="came back empty"):
        store.get_with_clock("r-1", checked=seen)
    # and known (it was loaded again just now)
    with pytest.raises(StoreLost, match="came back empty"):
        store.get_with_clock("r-1", checked=seen)


def test_through_a_worker_nothing_is_placed_on_a_store_that_came_back_empty(
    giftq_env: dict[str, str], rt: Runtime, producer: Celery, sandbox: Sandbox, start_workers, redis_client
) -> None:
    # Given a worker that has seen the store
    (worker,) = start_workers(1)
    wait_for(lambda: " ready." in worker.log_path.read_text(), timeout_s=30, what="the worker ready")

    # When the store comes back empty (every key of this deployment gone) and an order arrives
    for key in redis_client.scan_iter(match=f"{rt.keys.prefix}*", count=1000):
        redis_client.delete(key)
    order = {"RequestId": str(uuid.uuid4()), "AccountId": 555,
             "Products": [{"ProductId": 100003, "Quantity": 1, "Value": "20"}]}  # fmt: skip
    producer.send_task("giftq.submit_order", args=[order])

    # Then the worker places nothing and says why, and the provider never sees the order
    wait_for(lambda: "not placed: placing stopped: the store came back empty" in worker.log_path.read_text(),
             timeout_s=30, what="the worker refusing to place")  # fmt: skip
    calls = sandbox.admin("GET", "calls")["calls"]
    assert not [call for call in calls if call["request_id"] == order["RequestId"] and call["method"] == "POST"]

    # And `giftq store resume` says what had stopped placing
    resumed = subprocess.run([sys.executable, "-m", "worker.cli", "store", "resume"], env=giftq_env,
                             capture_output=True, text=True, timeout=60)  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr
    assert "placing resumed (it had stopped: the store came back empty" in resumed.stdout
