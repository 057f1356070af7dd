"""`giftq orders`, `giftq dead-letters` and `giftq doctor`, run as an operator runs them, over a private Redis."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from kombu.exceptions import OperationalError

from tests.conftest import environment_for
from tests.waiting import wait_for
from worker.cli.processes import Sandbox, start_worker
from worker.cli.redis_server import RedisServer
from worker.orders import states
from worker.runtime import Runtime

pytestmark = pytest.mark.timeout(120)


def giftq(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "worker.cli", *args], env={**env, "COLUMNS": "250"},
                          capture_output=True, text=True, timeout=60)  # fmt: skip


def an_order(request_id: str | None = None) -> dict:
    return {"RequestId": request_id or str(uuid.uuid4()), "AccountId": 555,
            "Products": [{"ProductId": 100001, "Quantity": 1, "Value": 25}]}  # fmt: skip


def park(rt: Runtime, task: str, args: list | None, queue: str | None, **extra: object) -> str:
    """A dead letter as worker/delivery.py parks one."""
    task_id = str(uuid.uuid4())
    letter = {"task": task, "id": task_id, "queue": queue, "args": args, "kwargs": None if args is None else {},
              "at": time.time(), **extra}  # fmt: skip
    rt.redis.rpush(rt.keys.dead_letters(), json.dumps(letter))
    return task_id


def test_orders_lists_a_state_a_page_at_a_time_oldest_first(giftq_env: dict[str, str], rt: Runtime) -> None:
    # Given three accepted orders (stored, not enqueued)
    intake = rt.intake(lambda _: None)
    records = [intake.submit(an_order(), producer="shop").order for _ in range(3)]
    # oldest first; orders entered in the same millisecond go by RequestId (the index's order)
    request_ids = [record.request_id for record in sorted(records, key=lambda r: (r.created_ms, r.request_id))]

    # When the operator lists them two at a time
    first = giftq(giftq_env, "orders", "--state", "accepted", "--limit", "2")
    assert first.returncode == 0, first.stderr
    next_line = next(line for line in first.stdout.splitlines() if line.startswith("next page:"))
    cursor = next_line.split("--cursor ")[1].strip()
    second = giftq(giftq_env, "orders", "--state", "accepted", "--limit", "2", "--cursor", cursor)

    # Then the first page has the two oldest, the second the last one, and says it is the last
    assert [rid for rid in request_ids if rid in first.stdout] == request_ids[:2]
    assert [rid for rid in request_ids if rid in second.stdout] == request_ids[2:]
    assert "last page" in second.stdout and "shop" in second.stdout
    # And another state's list shows none of them; a bad state or limit is refused
    assert not any(rid in giftq(giftq_env, "orders", "--state", "fulfilled").stdout for rid in request_ids)
    assert giftq(giftq_env, "orders", "--state", "nonsense").returncode == 2
    assert giftq(giftq_env, "orders", "--state", "accepted", "--limit", "0").returncode == 1


def test_a_replayed_order_goes_through_its_producers_door_and_intake_and_leaves_the_list(
    giftq_env: dict[str, str], rt: Runtime, start_workers
) -> None:
    # Given an order parked as a dead letter from shop's intake queue, and one parked from a queue it never had
    order = an_order()
    letter = park(rt, "giftq.submit_order", [order], "giftq.intake.shop")
    stray = park(rt, "giftq.place_order", [str(uuid.uuid4())], "giftq.intake.shop")

    # When the operator lists and shows them
    listed = giftq(giftq_env, "dead-letters", "list")
    shown = giftq(giftq_env, "dead-letters", "show", letter)
    assert listed.returncode == 0 and letter in listed.stdout and stray in listed.stdout and "2 dead letters" in (
        listed.stdout)  # fmt: skip
    assert json.loads(shown.stdout)["queue"] == "giftq.intake.shop"

    # And replays the order's letter with a worker running
    (worker,) = start_workers(1)
    replayed = giftq(giftq_env, "dead-letters", "replay", letter)
    assert replayed.returncode == 0, replayed.stderr

    # Then the order went through intake with the producer its queue names, and only that letter left the list
    record = wait_for(lambda: rt.store.get(order["RequestId"]), timeout_s=30, what="the replayed order stored")
    assert record.producer == "shop" and record.state != states.REJECTED
    assert [json.loads(raw)["id"] for raw in rt.redis.lrange(rt.keys.dead_letters(), 0, -1)] == [stray]
    # And a replay of the stray letter reaches the door of that queue, which refuses it: nothing is placed
    assert giftq(giftq_env, "dead-letters", "replay", stray).returncode == 0
    assert rt.redis.llen(rt.keys.dead_letters()) == 0
    refusal = "from queue giftq.intake.shop refused: an intake queue lets in"
    wait_for(lambda: refusal in worker.log_path.read_text(), timeout_s=30, what=refusal)
    assert giftq(giftq_env, "dead-letters", "show", stray).returncode == 1


def test_replay_all_replays_what_it_can_and_keeps_what_it_cannot(giftq_env: dict[str, str], rt: Runtime) -> None:
    # Given one replayable letter and one that kept only a digest of its (too large) arguments
    good = park(rt, "giftq.submit_order", [an_order()], "giftq")
    digest_only = park(rt, "giftq.submit_order", None, "giftq", arguments_sha256="ab" * 32)

    # When the operator replays them all (no worker: the replay waits on the broker)
    replayed = giftq(giftq_env, "dead-letters", "replay", "--all")

    # Then the good one is on giftq's queue and gone from the list; the other stays, named, and the exit is 1
    assert replayed.returncode == 1
    assert f"replayed {good}" in replayed.stdout and digest_only in replayed.stderr
    assert [json.loads(raw)["id"] for raw in rt.redis.lrange(rt.keys.dead_letters(), 0, -1)] == [digest_only]
    assert rt.redis.llen(f"{giftq_env['GIFTQ_BROKER_KEY_PREFIX']}giftq") == 1


def test_a_letter_whose_replay_could_not_be_enqueued_stays_parked(
    settings: object, rt: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tasks import dead_letters

    # Given a letter, and a broker that refuses the replay's message
    task_id = park(rt, "giftq.submit_order", [an_order()], "giftq")

    def broker_down(*_: object, **__: object) -> None:
        raise OperationalError("broker down")

    monkeypatch.setattr(dead_letters.app, "send_task", broker_down)
    # When it is replayed, Then the error surfaces and the letter is still parked (and not locked)
    with pytest.raises(OperationalError):
        dead_letters.replay(rt, dead_letters.find(rt, task_id))
    assert dead_letters.find(rt, task_id) is not None
    assert not rt.redis.exists(rt.keys.dead_letter_replay(task_id))


@pytest.fixture(scope="module")
def guarded_redis() -> Iterator[RedisServer]:
    """A store Redis as an operator runs one: durable, and its default user behind a password."""
    with RedisServer(password="doctor-test-password") as server:
        yield server


@pytest.fixture
def doctor_env(guarded_redis: RedisServer, sandbox: Sandbox) -> dict[str, str]:
    return environment_for(guarded_redis.url, f"t-{uuid.uuid4().hex[:10]}", sandbox)


def lines_of(checked: subprocess.CompletedProcess) -> dict[str, str]:
    """check name -> "OK" or "PROBLEM", from the doctor's output."""
    found = {}
    for line in checked.stdout.splitlines():
        status, _, rest = line.partition(" ")
        if status in ("OK", "PROBLEM"):
            found[rest.strip().split(":")[0]] = status
    return found


def test_doctor_of_a_healthy_deployment_says_ok_to_every_check(doctor_env: dict[str, str], tmp_path: Path) -> None:
    # Given a worker with beat whose tick has run
    worker = start_worker(tmp_path / "worker.log", doctor_env, concurrency=1, beat=True)
    client = redis.Redis.from_url(doctor_env["GIFTQ_REDIS_URL"])
    try:
        marker = f"{doctor_env['GIFTQ_KEY_PREFIX']}:store:marker"
        wait_for(lambda: client.hget(marker, "ticked_ms"), timeout_s=30, what="beat's first tick")
        # When the operator runs the doctor
        checked = giftq(doctor_env, "doctor")
    finally:
        worker.stop()
        client.close()
    # Then every check is OK and it exits 0
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert lines_of(checked) == {name: "OK" for name in (
        "store durability", "store default user", "card keys", "credential giftq-demo", "clock skew", "queues",
        "dead letters", "beat")}  # fmt: skip


def test_doctor_names_a_wrong_credential_and_a_stopped_beat(doctor_env: dict[str, str]) -> None:
    checked = giftq({**doctor_env, "GIFTQ_BAMBOO_CLIENT_SECRET": "not-the-secret"}, "doctor")
    assert checked.returncode == 1
    found = lines_of(checked)
    assert found["credential giftq-demo"] == "PROBLEM" and found["beat"] == "PROBLEM"
    assert found["store durability"] == "OK" and found["card keys"] == "OK"


def test_doctor_names_a_store_without_aof_and_an_open_default_user(sandbox: Sandbox) -> None:
    with RedisServer() as server:
        client = redis.Redis.from_url(server.url)
        client.config_set("appendonly", "no")
        client.close()
        env = environment_for(server.url, f"t-{uuid.uuid4().hex[:10]}", sandbox)
        env.pop("GIFTQ_ALLOW_VOLATILE_STORE", None)
        checked = giftq(env, "doctor")
    assert checked.returncode == 1
    found = lines_of(checked)
    assert found["store durability"] == "PROBLEM" and found["store default user"] == "PROBLEM"
    assert "appendonly=no" in checked.stdout
