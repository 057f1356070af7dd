"""A producer that sends by task name reaches its own intake queue and nothing else (README, "Security").

The broker is a Redis with ACL users: giftq's processes under their own user, each producer under one that may
push to its intake queue only (`worker.broker.producer_acl_rules`). Before these walls a producer holding the
broker URL could `HSET` another producer's order to itself and read its cards, or run giftq's own tasks.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from celery import Celery
from kombu import Connection, Consumer, Queue

from config.settings import intake_queue, settings_from
from tests.conftest import environment_for
from tests.waiting import final_state, wait_for
from worker.broker import GIFTQ_ACL_RULES, producer_acl_rules
from worker.cli.processes import Child, Sandbox, start_worker
from worker.cli.redis_server import RedisServer, find_redis_server, free_port
from worker.keys import Keys
from worker.orders import states
from worker.orders.intake import request_id_for
from worker.runtime import build_runtime

pytestmark = pytest.mark.timeout(90)

ORDER = {"AccountId": 555, "Products": [{"ProductId": 100004, "Quantity": 1, "Value": 15}]}
PRODUCER_SCRIPT = """
import json, sys
from celery import Celery

given = json.loads(sys.argv[1])
app = Celery(broker=given["url"])
app.conf.broker_transport_options = {"global_keyprefix": given["prefix"]}
app.send_task(given["task"], args=given["args"], kwargs=given["kwargs"], queue=given["queue"])
print("sent")
"""


class Door:
    """A broker with ACL users, giftq's worker behind it, and the URLs of giftq and of two producers."""

    def __init__(self, server: RedisServer, sandbox: Sandbox, workdir: Path):
        self.server = server
        prefix = f"t-{uuid.uuid4().hex[:10]}"
        self.keys = Keys(prefix)
        self.broker_prefix = f"{prefix}:broker:"
        self.giftq_url = server.add_user("giftq", secrets.token_hex(12), GIFTQ_ACL_RULES)
        self.urls = {
            name: server.add_user(name, secrets.token_hex(12),
                                  producer_acl_rules(intake_queue(name), key_prefix=self.broker_prefix))
            for name in ("shop", "evil")
        }  # fmt: skip
        self.env = environment_for(self.giftq_url, prefix, sandbox)
        self.env["GIFTQ_INTAKE_PRODUCERS"] = "shop,evil"
        self.worker: Child = start_worker(workdir / "worker.log", self.env, concurrency=2)
        self.rt = build_runtime(settings_from(self.env))

    def send(self, producer: str, task: str, args: list, kwargs: dict | None = None, queue: str | None = None) -> str:
        """Send a task as a producer's web app does: a separate process with only celery and its own URL."""
        given = {"url": self.urls[producer], "prefix": self.broker_prefix, "task": task, "args": args,
                 "kwargs": kwargs or {}, "queue": queue or intake_queue(producer)}  # fmt: skip
        sent = subprocess.run([sys.executable, "-I", "-c", PRODUCER_SCRIPT, json.dumps(given)],
                              capture_output=True, text=True, timeout=30)  # fmt: skip
        return sent.stdout.strip() or sent.stderr.strip().splitlines()[-1]

    def stop(self) -> None:
        self.worker.stop()
        self.rt.redis.close()


@pytest.fixture(scope="module")
def acl_server() -> Iterator[RedisServer]:
    with RedisServer(password=secrets.token_hex(16)) as server:
        yield server


@pytest.fixture
def door(acl_server: RedisServer, sandbox: Sandbox, tmp_path: Path) -> Iterator[Door]:
    door = Door(acl_server, sandbox, tmp_path)
    yield door
    door.stop()


def test_a_producer_connection_can_touch_no_store_key_and_no_queue_but_its_own(door: Door) -> None:
    # Given an order of shop's in the store, and evil's connection to the broker
    request_id = str(uuid.uuid4())
    door.rt.store.create(request_id, {"RequestId": request_id, **ORDER}, producer="shop")
    evil = redis.Redis.from_url(door.urls["evil"])
    order_key = door.keys.order(request_id)
    attempts = {
        "claim another producer's order": ("HSET", order_key, "producer", "evil"),
        "read an order": ("HGETALL", order_key),
        "list keys": ("KEYS", "*"),
        "run a script": ("EVAL", "return redis.call('FLUSHALL')", 0),
        "push to giftq's queue": ("LPUSH", f"{door.broker_prefix}giftq", "x"),
        "push to giftq's schedule queue": ("LPUSH", f"{door.broker_prefix}giftq.schedule", "x"),
        "push to giftq's slots queue": ("LPUSH", f"{door.broker_prefix}giftq.slots", "x"),
        "push to another producer's queue": ("LPUSH", f"{door.broker_prefix}{intake_queue('shop')}", "x"),
        "read its own queue": ("LRANGE", f"{door.broker_prefix}{intake_queue('evil')}", 0, -1),
        "bind giftq's exchange": ("SADD", f"{door.broker_prefix}_kombu.binding.giftq", "x"),
    }
    # When it tries each, Then Redis refuses each with NOPERM
    for what, command in attempts.items():
        with pytest.raises(redis.exceptions.NoPermissionError):
            evil.execute_command(*command)
            pytest.fail(f"evil could {what}")
    assert door.rt.store.get(request_id).producer == "shop"
    evil.close()


def test_a_producers_send_task_order_is_fulfilled_as_its_own(door: Door) -> None:
    key = f"cart-{uuid.uuid4()}"
    assert door.send("shop", "giftq.submit_order", [{"IdempotencyKey": key, **ORDER}]) == "sent"
    request_id = request_id_for("shop", key)
    assert wait_for(lambda: final_state(door.rt, request_id), timeout_s=30, what="a final state") == states.FULFILLED
    assert door.rt.store.get(request_id).producer == "shop"


def test_a_producer_cannot_send_to_giftqs_queues_or_another_producers(door: Door) -> None:
    for queue in ("giftq", "giftq.schedule", "giftq.slots", intake_queue("shop")):
        answer = door.send("evil", "giftq.submit_order", [{"IdempotencyKey": "x", **ORDER}], queue=queue)
        assert "no permissions" in answer, (queue, answer)


def test_a_message_on_an_intake_queue_runs_only_as_that_producers_order(door: Door) -> None:
    # Given evil's messages on its own queue: an order in shop's name, and giftq's own tasks
    key = f"cart-{uuid.uuid4()}"
    assert door.send("evil", "giftq.submit_order", [{"IdempotencyKey": key, **ORDER}], {"producer": "shop"}) == "sent"
    assert door.send("evil", "giftq.kick_schedules", []) == "sent"
    assert door.send("evil", "giftq.place_reserved", [str(uuid.uuid4())]) == "sent"
    # Then the worker refuses each, and no order exists in shop's name (nor in evil's, from that message)
    log = door.worker.log_path

    def refused() -> list[str]:
        return [line for line in log.read_text().splitlines() if "refused:" in line]

    wait_for(lambda: len(refused()) >= 3, timeout_s=20, what="three messages refused")
    for task in ("giftq.submit_order", "giftq.kick_schedules", "giftq.place_reserved"):
        assert any(f"task {task}[" in line and f"from queue {intake_queue('evil')}" in line for line in refused())
    assert door.rt.store.get(request_id_for("shop", key)) is None
    assert door.rt.store.get(request_id_for("evil", key)) is None


def test_a_crafted_delivery_info_or_a_poisoned_binding_cannot_route_a_message_elsewhere(door: Door) -> None:
    # Given a message on evil's queue whose body claims giftq's own queue, and evil's binding set poisoned so
    # that its exchange also routes to giftq's schedule queue (evil may write both)
    door.worker.stop()
    queue, schedule = intake_queue("evil"), "giftq.schedule"
    evil = redis.Redis.from_url(door.urls["evil"])
    sep = "\x06\x16"
    evil.sadd(f"{door.broker_prefix}_kombu.binding.{queue}", sep.join([queue, "", schedule]))
    message = _raw_message(door, "giftq.drive_schedule")
    message["properties"]["delivery_info"] = {"exchange": "giftq", "routing_key": "giftq"}
    evil.lpush(f"{door.broker_prefix}{queue}", json.dumps(message))
    admin = redis.Redis.from_url(door.giftq_url)

    # When giftq's transport reads it without acknowledging, and puts it back (as after a lost worker)
    with _giftq_connection(door) as connection:
        channel = connection.channel()
        seen = []
        consumer = Consumer(channel, [Queue(queue)], callbacks=[lambda body, m: seen.append(m)], accept=["json"])
        with consumer:
            connection.drain_events(timeout=5)
        # Then it knows the message by the queue it came from, not by what the body said
        assert seen[0].delivery_info["routing_key"] == queue
        assert seen[0].delivery_info["exchange"] == queue
        channel.qos.restore_unacked()
    # And it is back on evil's queue only, not on the queue the binding set named
    assert admin.llen(f"{door.broker_prefix}{queue}") == 1
    assert admin.llen(f"{door.broker_prefix}{schedule}") == 0
    evil.close()
    admin.close()


def _giftq_connection(door: Door) -> Connection:
    return Connection(door.giftq_url, transport="worker.broker:Transport",
                      transport_options={"global_keyprefix": door.broker_prefix})  # fmt: skip


def _raw_message(door: Door, task: str) -> dict:
    """A task message as Celery writes it, built through a scratch queue of giftq's own connection."""
    app = Celery(broker=door.giftq_url)
    app.conf.broker_transport_options = {"global_keyprefix": door.broker_prefix}
    app.send_task(task, args=[], queue="scratch")
    app.close()
    admin = redis.Redis.from_url(door.giftq_url)
    raw = admin.rpop(f"{door.broker_prefix}scratch")
    admin.close()
    return json.loads(raw)


def test_giftq_acl_writes_an_acl_file_that_redis_enforces(sandbox: Sandbox, tmp_path: Path) -> None:
    # Given the ACL file `giftq acl` writes for two producers
    port = free_port()
    acl = tmp_path / "users.acl"
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIFTQ_")} | {"GIFTQ_BROKER_KEY_PREFIX": "p:"}
    written = subprocess.run([sys.executable, "-m", "worker.cli", "acl", "--out", str(acl), "--producer", "shop",
                              "--producer", "blog", "--host", f"127.0.0.1:{port}"],
                             env=env, capture_output=True, text=True, timeout=30)  # fmt: skip
    assert written.returncode == 0, written.stderr
    assert oct(acl.stat().st_mode & 0o777) == "0o600"
    urls = dict(re.findall(r"(giftq's processes|producer shop|producer blog): .*?(redis://[^\s,]+)", written.stdout))

    # When a redis-server runs with it
    server = subprocess.Popen([find_redis_server(), "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                               "--dir", str(tmp_path), "--aclfile", str(acl)], stdout=subprocess.DEVNULL)  # fmt: skip
    try:
        giftq = redis.Redis.from_url(urls["giftq's processes"])
        wait_for(lambda: _answers(giftq), timeout_s=10, what="redis-server up")
        shop = redis.Redis.from_url(urls["producer shop"])
        # Then giftq may do anything, shop push to its own queue only, and nobody gets in without a user
        assert giftq.set("p:anything", "1")
        assert shop.lpush("p:giftq.intake.shop", "x") == 1
        for command in (("LPUSH", "p:giftq.intake.blog", "x"), ("LPUSH", "p:giftq", "x"), ("GET", "p:anything")):
            with pytest.raises(redis.exceptions.NoPermissionError):
                shop.execute_command(*command)
        with pytest.raises(redis.exceptions.AuthenticationError):
            redis.Redis(port=port).ping()
        giftq.close()
        shop.close()
    finally:
        server.terminate()
        server.wait(timeout=10)


def _answers(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.ConnectionError:
        return False


LINKED_SCRIPT = """
import json, sys
from celery import Celery, signature

given = json.loads(sys.argv[1])
app = Celery(broker=given["url"])
app.conf.broker_transport_options = {"global_keyprefix": given["prefix"]}
follow = signature("giftq.submit_order", args=given["args"], kwargs={"producer": "shop"}, queue=given["to"],
                   immutable=True, app=app)
app.send_task(given["task"], args=given["task_args"], queue=given["queue"], **{given["how"]: follow},
              time_limit=1)
print("sent")
"""


@pytest.mark.parametrize(
    ("task", "how", "to"),
    [("giftq.kick_schedules", "link", "giftq"), ("giftq.submit_order", "link", "giftq"),
     ("giftq.submit_order", "link_error", "giftq"), ("giftq.kick_schedules", "chain", intake_queue("shop"))],
    ids=["link of a refused task", "link of an order", "link_error of an order", "chain into shop's queue"],
)  # fmt: skip
def test_a_producers_message_makes_the_worker_send_nothing_further(door: Door, task: str, how: str, to: str) -> None:
    # Given evil's message on its own queue that asks for a further task in shop's name
    key = f"cart-{uuid.uuid4()}"
    order = {"IdempotencyKey": key, **ORDER}
    given = {"url": door.urls["evil"], "prefix": door.broker_prefix, "task": task, "queue": intake_queue("evil"),
             "task_args": [order] if task == "giftq.submit_order" else [], "args": [order], "to": to,
             "how": "chain" if how == "chain" else how}  # fmt: skip
    script = LINKED_SCRIPT.replace('**{given["how"]: follow}', "chain=[follow]") if how == "chain" else LINKED_SCRIPT
    sent = subprocess.run([sys.executable, "-I", "-c", script, json.dumps(given)], capture_output=True, text=True,
                          timeout=30)  # fmt: skip
    assert sent.stdout.strip() == "sent", sent.stderr

    # Then the worker refuses the message, and no order ever exists in shop's name
    wait_for(lambda: "may not carry" in door.worker.log_path.read_text(), timeout_s=20, what="the message refused")
    wait_for(lambda: not door.rt.redis.llen(f"{door.broker_prefix}{intake_queue('evil')}"), timeout_s=20,
             what="evil's queue drained")  # fmt: skip
    assert door.rt.store.get(request_id_for("shop", key)) is None
    admin = redis.Redis.from_url(door.giftq_url)
    assert all(admin.llen(f"{door.broker_prefix}{queue}") == 0 for queue in ("giftq", intake_queue("shop")))
    admin.close()
