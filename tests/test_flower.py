"""`giftq flower`: the operator's window asks for basic auth on every path, and refuses to start open by accident.

A real `giftq flower` process and a real worker on the test's private Redis; Flower is asked over HTTP.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from celery import Celery

from tests.waiting import wait_for
from worker.cli.processes import Child
from worker.cli.redis_server import free_port

pytestmark = pytest.mark.timeout(90)

CREDENTIALS = ("operator", "a-long-flower-password")
# Flower's pages, its API and its Prometheus metrics (which Flower 2.2 itself leaves open), and a path of none.
GUARDED_PATHS = ("/", "/workers", "/tasks", "/broker", "/api/workers", "/api/tasks", "/metrics", "/no-such-page")


@pytest.fixture
def flower(giftq_env: dict[str, str], start_workers, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """A worker, and `giftq flower` with basic auth on a free port: yields (Flower's URL, the worker's name)."""
    (worker,) = start_workers(1)
    port = free_port()
    env = {**giftq_env, "GIFTQ_FLOWER_BIND": f"127.0.0.1:{port}", "GIFTQ_FLOWER_BASIC_AUTH": ":".join(CREDENTIALS)}
    child = Child("giftq flower", [sys.executable, "-m", "worker.cli", "flower"], tmp_path / "flower.log", env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        child.wait_ready(f"{url}/healthcheck")
        yield url, worker.process.args[worker.process.args.index("--hostname") + 1].split("@")[0]
    finally:
        child.stop()
        assert "basic" not in " ".join(child.process.args).lower()  # credentials never on the command line


def test_without_credentials_every_page_the_api_and_metrics_answer_401(flower: tuple[str, str]) -> None:
    url, _ = flower
    wrong = requests.auth.HTTPBasicAuth(CREDENTIALS[0], "not-the-password")
    for path in GUARDED_PATHS:
        for auth in (None, wrong):
            response = requests.get(f"{url}{path}", auth=auth, timeout=10)
            assert response.status_code == 401, (path, auth, response.status_code)
            assert response.headers["WWW-Authenticate"].startswith("Basic ")
            assert "giftq" not in response.text
    assert requests.post(f"{url}/api/task/async-apply/giftq.reconcile", json={}, timeout=10).status_code == 401
    probe = requests.get(f"{url}/healthcheck", timeout=10)  # the one open path says nothing but that it is up
    assert (probe.status_code, probe.text) == (200, "OK")


def test_with_credentials_the_dashboard_its_api_and_metrics_show_the_worker(flower: tuple[str, str]) -> None:
    url, worker_name = flower
    auth = CREDENTIALS

    def workers_listed() -> dict:
        """The worker as Flower lists it, once it lists its queues: Flower asks each worker with a timeout per
        question, and lists what came back in time (on busy cores the queues may come in a later refresh)."""
        response = requests.get(f"{url}/api/workers", params={"refresh": "1"}, auth=auth, timeout=20)
        assert response.status_code == 200, response.text
        listed = {name: info for name, info in response.json().items() if name.startswith(f"{worker_name}@")}
        return listed if all("active_queues" in info for info in listed.values()) else {}

    listed = wait_for(workers_listed, timeout_s=30, what="the worker and its queues in Flower's /api/workers",
                      every_s=0.5)  # fmt: skip
    (hostname,) = listed
    assert any(queue["name"] == "giftq" for queue in listed[hostname]["active_queues"])

    dashboard = wait_for(lambda: _page_naming(url, "/workers", hostname), timeout_s=30, what="the dashboard")
    assert dashboard.status_code == 200
    metrics = requests.get(f"{url}/metrics", auth=auth, timeout=10)
    assert metrics.status_code == 200 and "flower_worker_online" in metrics.text


def test_a_running_flower_turns_the_workers_task_events_on(
    flower: tuple[str, str], producer: Celery, tmp_path: Path
) -> None:
    # Given a worker with task events off (the default: GIFTQ_TASK_EVENTS unset), and Flower started after it
    url, _ = flower

    # When tasks run while Flower runs (sent until one shows: Flower's enable_events broadcast comes every few s)
    def shown() -> dict | None:
        producer.send_task("giftq.kick_schedules", queue="giftq")
        response = requests.get(f"{url}/api/tasks", params={"taskname": "giftq.kick_schedules"}, auth=CREDENTIALS,
                                timeout=10)  # fmt: skip
        assert response.status_code == 200, response.text
        return {task_id: task for task_id, task in response.json().items() if task["state"] == "SUCCESS"} or None

    # Then Flower shows them: it turned the workers' task events on, which were off until then
    assert wait_for(shown, timeout_s=45, what="a task in Flower's /api/tasks", every_s=1.0)
    assert "Events of group {task} enabled by remote." in (tmp_path / "w1.log").read_text()


def _page_naming(url: str, path: str, text: str) -> requests.Response | None:
    response = requests.get(f"{url}{path}", auth=CREDENTIALS, timeout=10)
    return response if response.status_code == 200 and text in response.text else None


@pytest.mark.parametrize(
    ("settings", "refusal"),
    [
        ({}, "GIFTQ_FLOWER_BASIC_AUTH is not set"),
        ({"GIFTQ_FLOWER_BASIC_AUTH": "operator:short"}, "12 characters or more"),
        ({"GIFTQ_FLOWER_UNAUTHENTICATED": "true", "GIFTQ_FLOWER_BIND": "0.0.0.0:5555"}, "only on a loopback"),
        ({"FLOWER_UNAUTHENTICATED_API": "true", "GIFTQ_FLOWER_UNAUTHENTICATED": "true"}, "FLOWER_UNAUTHENTICATED_API"),
    ],
)
def test_flower_refuses_to_start_open_unless_told_so_in_so_many_words(
    giftq_env: dict[str, str], settings: dict[str, str], refusal: str
) -> None:
    env = {**{k: v for k, v in giftq_env.items() if not k.startswith("FLOWER_")}, **settings}
    done = subprocess.run([sys.executable, "-m", "worker.cli", "flower"], env=env, capture_output=True, text=True,
                          timeout=30)  # fmt: skip
    assert done.returncode == 1
    assert refusal in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
