"""giftq on two hosts: worker hosts in network namespaces, joined to one Redis and the sandbox by veth links.

The judge holds every Place Order of both hosts to Bamboo's limits (on a scaled clock); one host's link is cut
mid-run, and the other finishes every order; reconnected, the cut host works again and nothing is paid twice.
Skipped, with its reason, where network namespaces cannot be made (they need root).
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from celery import Celery

from bench.backlog import make_backlog
from bench.stack import wait_until_ready
from config.settings import load_settings
from tests import netns
from tests.conftest import environment_for
from tests.fault_fixtures import assert_charged_once
from tests.judging import MIN_MARGIN_ENV, assert_within_limits
from tests.waiting import final_state, wait_for
from worker.cli.processes import Child, Sandbox, start_worker
from worker.cli.redis_server import RedisServer
from worker.orders import states
from worker.runtime import Runtime, build_runtime

pytestmark = pytest.mark.timeout(300)

ORDERS, MORE_ORDERS = 200, 40
CUT_AFTER = 15  # Place Orders of the host to cut before its link goes down: it is mid-run, holding work
REJOIN_DEADLINE_S = 90  # how long after its link comes back the cut host must be placing orders again
IN_FLIGHT_S = 1.0  # a request written before the cut is logged by the sandbox within this long of it
# Bamboo's limits on a clock 5x faster (Get Order's too: 120 per 12 s), and giftq's settings that recover from a
# lost host in seconds on it; the first poll comes after the sandbox's fulfilment delay, so one Get Order mostly does
SCALED = {"spacing_ms": 100, "product_limit": 6, "product_window_ms": 3000, "get_order_window_ms": 12000,
          "fulfil_delay_ms": 300}  # fmt: skip
RECOVERY = {
    "GIFTQ_BAMBOO_SPACING_MS": "100",
    "GIFTQ_BAMBOO_PRODUCT_WINDOW_MS": "3000",
    "GIFTQ_BAMBOO_GET_WINDOW_MS": "12000",
    "GIFTQ_POLL_INTERVAL_MS": "400",
    "GIFTQ_BAMBOO_TIMEOUT_S": "1",
    "GIFTQ_BAMBOO_LEASE_MS": "3000",
    "GIFTQ_VISIBILITY_TIMEOUT_S": "6",
    "GIFTQ_RECONCILE_INTERVAL_S": "1",
    "GIFTQ_STUCK_AFTER_S": "3",
    "GIFTQ_BAMBOO_EXTRA_CLIENTS": "giftq-demo-2:demo-secret-2",
    "GIFTQ_BAMBOO_ACCOUNT_CLIENTS": "655=giftq-demo-2",
    "GIFTQ_BAMBOO_COALESCE": "0",  # one provider order per order: each host's Place Orders are counted by order
    **MIN_MARGIN_ENV,
}


@pytest.fixture(scope="module")
def network() -> Iterator[netns.Network]:
    reason = netns.unavailable()
    if reason:
        pytest.skip(reason)
    with netns.Network(["a", "b"]) as network:
        yield network


@pytest.fixture
def stack(network: netns.Network, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict]:
    """Redis and the sandbox on this machine, reachable from the hosts at the bridge's address only; a worker on
    each host (beat on b); this machine's runtime and a producer on loopback."""
    with RedisServer(password=uuid.uuid4().hex, also_on=[network.gateway]) as redis_server:
        sandbox = Sandbox(tmp_path / "sandbox.log", host=network.gateway, **SCALED)
        workers: dict[str, Child] = {}
        try:
            prefix = f"t-{uuid.uuid4().hex[:10]}"
            env = environment_for(redis_server.url_at(network.gateway), prefix, sandbox) | RECOVERY
            for name, host in network.hosts.items():
                workers[name] = start_worker(tmp_path / f"{name}.log", env, name=name, beat=name == "b",
                                             run_in=host.command([]))  # fmt: skip
            for child in workers.values():
                wait_until_ready(child)
            here = env | {"GIFTQ_REDIS_URL": redis_server.url}
            for key in [key for key in os.environ if key.startswith("GIFTQ_")]:
                monkeypatch.delenv(key)
            for key, value in here.items():
                monkeypatch.setenv(key, value)
            rt = build_runtime(load_settings())
            producer = Celery(broker=redis_server.url)
            producer.conf.broker_transport_options = {"global_keyprefix": env["GIFTQ_BROKER_KEY_PREFIX"]}
            producer.conf.task_default_queue = "giftq"
            yield {"rt": rt, "producer": producer, "sandbox": sandbox, "workers": workers}
            producer.close()
            rt.redis.close()
        finally:
            network.reconnect("a")  # a worker stopped while cut off could not say goodbye to the broker
            for child in workers.values():
                child.stop()
            sandbox.stop()


def submit(producer: Celery, count: int, seed: int) -> list[str]:
    """`count` one-card orders over 20 products, evenly on both credentials, sent by task name."""
    orders = make_backlog(count, seed=seed, zipf_s=0.0)
    for order in orders:
        producer.send_task("giftq.submit_order", args=[order.as_request()])
    return [order.request_id for order in orders]


def accepted_place_orders(sandbox: Sandbox, network: netns.Network, since: float = 0.0) -> list[tuple[str, str]]:
    """(host, RequestId) of each Place Order the sandbox accepted (200) since `since` (epoch seconds)."""
    host_of = {host.address: name for name, host in network.hosts.items()}
    calls = sandbox.admin("GET", "calls")["calls"]
    return [(host_of.get(call["peer"], call["peer"]), call["request_id"]) for call in calls
            if call["endpoint"] == "place_order" and call["status"] == 200 and call["at"] >= since]  # fmt: skip


def place_orders_by_host(sandbox: Sandbox, network: netns.Network, since: float = 0.0) -> Counter:
    """How many Place Orders the sandbox accepted since `since`, by the host they came from."""
    return Counter(host for host, _ in accepted_place_orders(sandbox, network, since))


def answers_ping(producer: Celery, name: str) -> bool:
    """Whether the worker `name` answers a control ping through the broker (its consumer is connected again)."""
    hostname = f"{name}-{os.getpid()}@{socket.gethostname()}"  # as start_worker names it
    return bool(producer.control.ping(destination=[hostname], timeout=1.0))


def test_two_hosts_keep_the_limits_and_when_one_is_cut_off_the_other_finishes_every_order_once(
    network: netns.Network, stack: dict
) -> None:
    rt: Runtime = stack["rt"]
    sandbox: Sandbox = stack["sandbox"]
    producer: Celery = stack["producer"]

    # Given 200 orders over two credentials, placed by workers on hosts a and b
    started = time.monotonic()
    first = submit(producer, ORDERS, seed=21)
    wait_for(lambda: place_orders_by_host(sandbox, network)["a"] >= CUT_AFTER, timeout_s=60,
             what=f"{CUT_AFTER} orders placed by host a")  # fmt: skip

    # When host a's link is cut mid-run
    network.cut("a")
    cut_at = time.time()
    final_at_cut = {rid for rid in first if final_state(rt, rid)}
    # a's own orders it had placed and was following when it went away: the other host must finish them
    left_by_a = {rid for host, rid in accepted_place_orders(sandbox, network) if host == "a"} - final_at_cut
    assert left_by_a, "the cut came after host a's orders were all final: it held no work"

    # Then host b finishes every order while a is still cut off: each fulfilled
    wait_for(lambda: all(final_state(rt, rid) for rid in first), timeout_s=120, what="every order final, a cut")
    drained_s = time.monotonic() - started
    assert Counter(final_state(rt, rid) for rid in first) == {states.FULFILLED: ORDERS}
    # (a request a had written just before the cut may be logged a moment after it; nothing crosses a down link)
    during_cut = place_orders_by_host(sandbox, network, since=cut_at + IN_FLIGHT_S)
    assert during_cut["a"] == 0 and during_cut["b"] > 0

    # When a is reconnected, it rejoins: it answers through the broker again and places orders of new batches.
    # (Its broker socket may wait out TCP's retransmission backoff, up to tens of seconds after a long cut, before its
    # next message arrives: b may take a whole batch meanwhile, so batches go until a places one, within a deadline.)
    network.reconnect("a")
    reconnected_at = time.time()
    wait_for(lambda: answers_ping(producer, "a"), timeout_s=60, what="host a answering a ping")
    rejoined_s = time.time() - reconnected_at
    second: list[str] = []
    deadline = time.monotonic() + REJOIN_DEADLINE_S
    while True:
        batch = submit(producer, MORE_ORDERS, seed=22 + len(second))
        second += batch
        wait_for(lambda batch=batch: all(final_state(rt, rid) for rid in batch), timeout_s=60,
                 what="a batch after the cut final")  # fmt: skip
        after = place_orders_by_host(sandbox, network, since=reconnected_at)
        if after["a"] > 0:
            break
        assert time.monotonic() < deadline, f"host a placed nothing {REJOIN_DEADLINE_S} s after reconnecting: {after}"
    placed_again_s = time.time() - reconnected_at

    # And across both hosts and the cut: every order fulfilled, one provider order each, no limit broken
    every = first + second
    assert Counter(final_state(rt, rid) for rid in every) == {states.FULFILLED: len(every)}
    report = assert_within_limits(sandbox, every)
    money = assert_charged_once(rt, sandbox, every)
    by_host = place_orders_by_host(sandbox, network)
    print(
        f"\ntwo hosts: {ORDERS} orders drained in {drained_s:.1f} s; {len(final_at_cut)} final when a was cut, "
        f"{len(left_by_a)} placed by a not yet final (finished by b); "
        f"Place Orders accepted by host: a {by_host['a']}, b {by_host['b']}; while a was cut: b {during_cut['b']}; "
        f"a answered again {rejoined_s:.1f} s after its link came back and placed again after {placed_again_s:.1f} s: "
        f"{after['a']} of the next {len(second)} (b {after['b']}); "
        f"Place Orders judged {report.place_orders}, violations 0; "
        f"charges {sum(money.charges_per_order.values())} for {len(every)} orders"
    )
