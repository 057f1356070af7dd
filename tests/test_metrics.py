"""giftq's metrics over the real stack: a worker's metrics port and the API's /metrics, scraped after real orders."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from celery import Celery
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from config.settings import SLOTS_QUEUE, SettingsError, settings_from
from tests.conftest import API_KEYS
from tests.waiting import final_state, wait_for
from worker import metrics
from worker.cli.processes import ApiServer, Sandbox
from worker.cli.redis_server import free_port
from worker.errors import OrderRejected, RateLimited
from worker.orders import states
from worker.runtime import Runtime
from worker.throttle.scheduler import Go

pytestmark = pytest.mark.timeout(120)

TOKEN = "metrics-token-of-the-tests"
PLACE_OUTCOMES = ("ok", "rate_limited", "not_sent", "rejected", "unknown", "refused", "error")


@pytest.fixture
def metrics_env(giftq_env: dict[str, str], own_sandbox: Sandbox, tmp_path: Path) -> dict[str, str]:
    """The worker's environment: its metrics shared in a directory of its own, served on a port of its own; one
    provider order per order (coalescing off), so that each order's calls are counted."""
    giftq_env.update(GIFTQ_BAMBOO_BASE_URL=own_sandbox.url, GIFTQ_METRICS_DIR=str(tmp_path / "worker-metrics"),
                     GIFTQ_WORKER_METRICS_PORT=str(free_port()), GIFTQ_METRICS_TOKEN=TOKEN,
                     GIFTQ_BAMBOO_COALESCE="0")  # fmt: skip
    return giftq_env


def start_api(env: dict[str, str], tmp_path: Path, **changes: str) -> ApiServer:
    """The API on a metrics directory apart from the worker's, as the README asks of every process tree."""
    api_env = {**env, "GIFTQ_METRICS_DIR": str(tmp_path / "api-metrics"), "GIFTQ_WORKER_METRICS_PORT": "0", **changes}
    return ApiServer(tmp_path / "api.log", api_env)


@pytest.fixture
def api(metrics_env: dict[str, str], tmp_path: Path) -> Iterator[ApiServer]:
    server = start_api(metrics_env, tmp_path)
    yield server
    server.stop()


def an_order() -> dict:
    return {"RequestId": str(uuid.uuid4()), "AccountId": 555,
            "Products": [{"ProductId": 100001, "Quantity": 1, "Value": "25"}]}  # fmt: skip


def sample(text: str, name: str, **labels: str) -> float:
    """The value of one sample of a scrape (0 if it is not there: a counter nobody has counted yet)."""
    for family in text_string_to_metric_families(text):
        for found in family.samples:
            if found.name == name and all(found.labels.get(key) == value for key, value in labels.items()):
                return found.value
    return 0.0


def scrape(url: str, token: str | None = None) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.get(url, headers=headers, timeout=10)


def test_a_scrape_of_the_worker_and_of_the_api_counts_the_orders_calls_and_the_429_of_their_life(
    metrics_env: dict, rt: Runtime, producer: Celery, own_sandbox: Sandbox, api: ApiServer, start_workers
) -> None:
    # Given a worker serving its metrics, and a provider that answers the next Place Order with a 429
    own_sandbox.admin("POST", "faults", json={"kind": "rate_limited_429", "count": 1, "wait_s": 1})
    start_workers(1, concurrency=2)
    worker_url = f"http://127.0.0.1:{metrics_env['GIFTQ_WORKER_METRICS_PORT']}/metrics"
    wait_for(lambda: _answers(worker_url), timeout_s=20, what="the worker's metrics port")

    # When three orders are submitted and become final
    orders = [an_order() for _ in range(3)]
    for order in orders:
        producer.send_task("giftq.submit_order", args=[order])
    request_ids = [order["RequestId"] for order in orders]
    wait_for(lambda: all(final_state(rt, request_id) for request_id in request_ids), timeout_s=60, what="final")
    assert {final_state(rt, request_id) for request_id in request_ids} == {states.FULFILLED}

    # Then the worker's scrape counts three orders placed and three cards, four Place Orders (three ok, one 429)
    # and the credential's one hold, every claimed slot as one Place Order, and Get Orders that found them
    worker = wait_for(lambda: _counted_cards(worker_url, 3), timeout_s=10, what="the last card counted")
    assert sample(worker, "giftq_orders_placed_total", provider="bamboo") == 3
    assert sample(worker, "giftq_cards_issued_total", provider="bamboo") == 3
    ok = {"provider": "bamboo", "outcome": "ok"}
    assert sample(worker, "giftq_place_order_seconds_count", **ok) == 3
    assert sample(worker, "giftq_place_order_seconds_count", provider="bamboo", outcome="rate_limited") == 1
    assert sample(worker, "giftq_provider_rate_limited_total", provider="bamboo", call="place_order") == 1
    assert sample(worker, "giftq_throttle_holds_total", credential="giftq-demo") == 1
    calls = sum(sample(worker, "giftq_place_order_seconds_count", provider="bamboo", outcome=outcome)
                for outcome in PLACE_OUTCOMES)  # fmt: skip
    assert sample(worker, "giftq_slots_used_total", credential="giftq-demo") == calls
    assert sample(worker, "giftq_get_order_seconds_count", **ok) >= 3
    assert sample(worker, "giftq_unknown_outcomes_total", provider="bamboo", call="place_order") == 0
    # and the CPU of each task run, by task (counted as a run ends, just after its last move): three intakes, a
    # placing per Place Order, a poll per Get Order at least
    runs = wait_for(lambda: _counted_runs(worker_url, "giftq.poll_order", 3), timeout_s=10, what="the last poll")
    assert sample(runs, "giftq_task_cpu_seconds_count", task="giftq.submit_order") == 3
    assert sample(runs, "giftq_task_cpu_seconds_count", task="giftq.place_reserved") >= calls
    for task in ("giftq.submit_order", "giftq.place_reserved", "giftq.poll_order"):
        assert 0 < sample(runs, "giftq_task_cpu_seconds_sum", task=task) < 60, task
    # and the gauges read from Redis at scrape: three fulfilled, nothing else, nothing parked
    for state in states.ALL:
        expected = 3 if state == states.FULFILLED else 0
        assert sample(worker, "giftq_orders", state=state, provider="bamboo") == expected, state
        assert sample(worker, "giftq_orders", state=state, provider="bhn") == 0, state
    assert sample(worker, "giftq_parked_orders", credential="giftq-demo") == 0
    assert rt.redis.exists(rt.keys.provider_index_built()), "the worker's start indexes older orders by provider"

    # And the API's scrape, with its token, shows the same store; without it, or with a producer's key, nothing
    answer = scrape(f"{api.url}/metrics", TOKEN)
    assert answer.status_code == 200, answer.text
    assert answer.headers["Content-Type"].startswith("text/plain")
    assert sample(answer.text, "giftq_orders", state=states.FULFILLED, provider="bamboo") == 3
    assert scrape(f"{api.url}/metrics").status_code == 401
    assert scrape(f"{api.url}/metrics", "a-wrong-token-of-16-chars").status_code == 401
    assert scrape(f"{api.url}/metrics", API_KEYS["shop"]).status_code == 401

    # And no RequestId is in either scrape
    for text in (worker, answer.text):
        for request_id in request_ids:
            assert request_id not in text


def test_a_slot_claimed_late_is_counted_by_how_late_it_was_claimed(
    metrics_env: dict, rt: Runtime, producer: Celery, start_workers
) -> None:
    # Given an order whose slot came while no worker ran: its placing task waited in the broker 1.5 s past it
    order = an_order()
    request_id = order["RequestId"]
    rt.store.create(request_id, order, credential="giftq-demo", provider_request_id=request_id)
    decision = rt.throttle.park_and_schedule("giftq-demo", rt.limits("giftq-demo"), request_id=request_id, age_ms=0,
                                             product_ids=[100001], cards=1)  # fmt: skip
    assert isinstance(decision, Go)
    producer.send_task("giftq.place_reserved", args=["giftq-demo", request_id, decision.slot_ms, decision.token],
                       queue=SLOTS_QUEUE)  # fmt: skip
    wait_for(lambda: rt.now_ms() >= decision.slot_ms + 1500, timeout_s=5, what="the slot 1.5 s past")

    # When a worker starts and places it
    start_workers(1)
    assert wait_for(lambda: final_state(rt, request_id), timeout_s=30, what="final") == states.FULFILLED

    # Then its scrape counts the one claim, in a bucket of 1.5 s late or more (within the lease: it called)
    worker_url = f"http://127.0.0.1:{metrics_env['GIFTQ_WORKER_METRICS_PORT']}/metrics"
    text = wait_for(lambda: _answers(worker_url) and scrape(worker_url).text, timeout_s=20, what="the scrape")
    late = {"credential": "giftq-demo"}
    assert sample(text, "giftq_slot_claim_lateness_seconds_count", **late) == 1
    assert sample(text, "giftq_slot_claim_lateness_seconds_bucket", le="1.0", **late) == 0
    assert sample(text, "giftq_slot_claim_lateness_seconds_bucket", le="30.0", **late) == 1
    assert 1.5 <= sample(text, "giftq_slot_claim_lateness_seconds_sum", **late) < 30
    assert sample(text, "giftq_slots_used_total", **late) == 1


def test_the_orders_gauge_counts_an_order_of_each_provider_under_its_provider(rt: Runtime) -> None:
    # Given a Bamboo order placed and a BHN order accepted, in the store of a real Redis
    bamboo, bhn = str(uuid.uuid4()), str(uuid.uuid4())
    rt.store.create(bamboo, {"RequestId": bamboo}, provider="bamboo", credential="giftq-demo")
    rt.store.transition(bamboo, states.SUBMITTING)
    rt.store.transition(bamboo, states.PLACED)
    rt.store.create(bhn, {"RequestId": bhn}, provider="bhn", credential="bhn:giftq-bhn-demo")

    # When the gauges are scraped
    text = metrics.text(metrics.registry(rt.metrics_collector())).decode()

    # Then each order shows in its state under its own provider's label, and nowhere else
    shown = {(found.labels["state"], found.labels["provider"]): found.value
             for family in text_string_to_metric_families(text) if family.name == "giftq_orders"
             for found in family.samples}  # fmt: skip
    assert shown[(states.PLACED, "bamboo")] == 1
    assert shown[(states.ACCEPTED, "bhn")] == 1
    assert sum(shown.values()) == 2
    assert {provider for _, provider in shown} == {"bamboo", "bhn"}
    assert bamboo not in text and bhn not in text


def test_the_apis_metrics_answer_404_when_no_metrics_token_is_set(metrics_env: dict, tmp_path: Path) -> None:
    server = start_api(metrics_env, tmp_path, GIFTQ_METRICS_TOKEN="")
    try:
        assert scrape(f"{server.url}/metrics").status_code == 404
        assert scrape(f"{server.url}/metrics", TOKEN).status_code == 404
    finally:
        server.stop()


def test_a_provider_call_is_timed_under_the_outcome_its_error_names_and_a_429_is_counted() -> None:
    # In this process (no GIFTQ_METRICS_DIR) the values are its own; "unit" is a provider no other test uses.
    def count(name: str, **labels: str) -> float:
        return REGISTRY.get_sample_value(name, {"provider": "unit", **labels}) or 0.0

    with metrics.provider_call(metrics.PLACE_ORDER, "unit"):
        pass
    with pytest.raises(RateLimited), metrics.provider_call(metrics.PLACE_ORDER, "unit"):
        raise RateLimited(wait_s=1)
    with pytest.raises(OrderRejected), metrics.provider_call(metrics.PLACE_ORDER, "unit"):
        raise OrderRejected("InvalidValue")
    assert count("giftq_place_order_seconds_count", outcome="ok") == 1
    assert count("giftq_place_order_seconds_count", outcome="rate_limited") == 1
    assert count("giftq_place_order_seconds_count", outcome="rejected") == 1
    assert count("giftq_provider_rate_limited_total", call="place_order") == 1
    assert count("giftq_get_order_seconds_count", outcome="ok") == 0


def test_a_worker_metrics_port_without_a_metrics_directory_is_refused_at_start(giftq_env: dict) -> None:
    # The pool's processes would count in memory of their own, where the main process's port never looks.
    with pytest.raises(SettingsError, match="GIFTQ_METRICS_DIR"):
        settings_from({**giftq_env, "GIFTQ_WORKER_METRICS_PORT": "9100", "GIFTQ_METRICS_DIR": ""})


def test_the_metrics_token_is_kept_out_of_the_settings_repr(giftq_env: dict) -> None:
    settings = settings_from({**giftq_env, "GIFTQ_METRICS_TOKEN": TOKEN})
    assert settings.metrics.token == TOKEN
    assert TOKEN not in repr(settings)


def test_a_metrics_token_shorter_than_16_characters_is_refused(giftq_env: dict) -> None:
    with pytest.raises(SettingsError, match="GIFTQ_METRICS_TOKEN"):
        settings_from({**giftq_env, "GIFTQ_METRICS_TOKEN": "short"})


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=1).ok
    except requests.ConnectionError:
        return False


def _counted_runs(url: str, task: str, runs: int) -> str | None:
    """The worker's scrape once it counts `runs` runs of `task` at least."""
    text = requests.get(url, timeout=5).text
    return text if sample(text, "giftq_task_cpu_seconds_count", task=task) >= runs else None


def _counted_cards(url: str, cards: int) -> str | None:
    """The worker's scrape once it counts `cards` cards (the last order's count lands just after its final move)."""
    text = requests.get(url, timeout=5).text
    return text if sample(text, "giftq_cards_issued_total", provider="bamboo") == cards else None
