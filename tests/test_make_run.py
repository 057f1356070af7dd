"""`make run` and `make dev` start the Procfile and Procfile.dev on a PATH without giftq; Ctrl-C stops them all.

The test starts a private redis-server and the Bamboo sandbox, writes an env file pointing at them (free ports for
the API and Flower, an API key made by `giftq apikey` as the README shows), runs `make run ENV_FILE=...`, submits
one order over HTTP as the README's curl session does, follows it to `fulfilled`, then interrupts make's process
group (what Ctrl-C in a terminal does) and checks that every process it started has exited.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
import redis
import requests
import yaml

from tests.conftest import DEMO_CLIENT
from tests.waiting import wait_for
from worker.cli.processes import Sandbox
from worker.cli.redis_server import RedisServer, free_port
from worker.keys import Keys
from worker.orders.crypto import new_key

pytestmark = pytest.mark.timeout(180)

ROOT = Path(__file__).resolve().parent.parent
BARE_PATH = "/usr/local/bin:/usr/bin:/bin"  # what a clean shell has: no virtualenv, so no giftq or celery
FLOWER_AUTH = ("operator", "flower-password-of-the-test")
PROCFILE_PROCESSES = {"api", "worker", "notify", "beat", "flower"}
METRICS_PROCESSES = ("api", "worker", "notify")  # each keeps its metrics in a directory of its own
STALE_METRICS = "counter_4242.db"


def api_key_from_the_cli() -> tuple[str, str]:
    """`giftq apikey shop`, read as an operator reads it: the key, and the entry for GIFTQ_API_KEYS."""
    printed = subprocess.run([sys.executable, "-m", "worker.cli", "apikey", "shop"], capture_output=True, text=True,
                             check=True).stdout  # fmt: skip
    key = re.search(r"^(gq_\S+)$", printed, re.M).group(1)
    entry = re.search(r"^(shop:[0-9a-f]{64}\S*)$", printed, re.M).group(1)
    return key, entry


@pytest.fixture(params=["run", "dev"])
def stack(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, Path, dict[str, str]]]:
    """A private Redis, a sandbox and an env file for them: yields (the make target, the env file, its settings).

    `make run` gets a sandbox the test starts; `make dev` starts its own (Procfile.dev), on a port the file names.
    """
    target = request.param
    with RedisServer() as redis_server:
        sandbox = Sandbox(tmp_path / "sandbox.log", fulfil_delay_ms=300) if target == "run" else None
        sandbox_port = sandbox.port if sandbox else free_port()
        try:
            key, entry = api_key_from_the_cli()
            settings = {
                "GIFTQ_REDIS_URL": redis_server.url,
                "GIFTQ_FERNET_KEYS": new_key(),
                "GIFTQ_BAMBOO_BASE_URL": f"http://127.0.0.1:{sandbox_port}",
                "SANDBOX_PORT": str(sandbox_port),
                "BHN_SANDBOX_PORT": str(free_port()),
                **DEMO_CLIENT,
                "GIFTQ_API_KEYS": entry,
                "GIFTQ_API_BIND": f"127.0.0.1:{free_port()}",
                "GIFTQ_API_WORKERS": "1",
                "GIFTQ_FLOWER_BIND": f"127.0.0.1:{free_port()}",
                "GIFTQ_FLOWER_BASIC_AUTH": ":".join(FLOWER_AUTH),
                "GIFTQ_BEAT_SCHEDULE": str(tmp_path / "beat-schedule"),
                "GIFTQ_POLL_INTERVAL_MS": "200",
                "GIFTQ_POLL_MAX_INTERVAL_MS": "1000",
                "GIFTQ_METRICS_DIR": str(tmp_path / "metrics"),
                "GIFTQ_WORKER_METRICS_PORT": str(free_port()),
                "GIFTQ_NOTIFY_METRICS_PORT": str(free_port()),
            }
            for process in METRICS_PROCESSES:  # what a previous run left: the process must empty its directory
                (tmp_path / "metrics" / process).mkdir(parents=True)
                (tmp_path / "metrics" / process / STALE_METRICS).write_bytes(b"a previous run's values")
            env_file = tmp_path / "giftq.env"
            env_file.write_text("".join(f"{name}={value}\n" for name, value in settings.items()))
            yield target, env_file, {**settings, "KEY": key}
        finally:
            if sandbox:
                sandbox.stop()


def test_make_run_serves_an_order_to_fulfilled_and_ctrl_c_stops_every_process(
    stack: tuple[str, Path, dict[str, str]], tmp_path: Path
) -> None:
    target, env_file, settings = stack
    assert shutil.which("giftq", path=BARE_PATH) is None and shutil.which("celery", path=BARE_PATH) is None
    environ = {name: value for name, value in os.environ.items() if not name.startswith(("GIFTQ_", "VIRTUAL_ENV"))}
    environ.update(PATH=BARE_PATH, PYTHONUNBUFFERED="1")
    log_path = tmp_path / "make-run.log"
    with open(log_path, "wb") as log:
        make = subprocess.Popen(["make", "--no-print-directory", target, f"ENV_FILE={env_file}"], cwd=ROOT, env=environ,
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
    started: list[psutil.Process] = []
    in_flight: dict = {}
    try:
        api = f"http://{settings['GIFTQ_API_BIND']}"
        wait_for(lambda: _answers(f"{api}/health", make), timeout_s=60, what="the API's /health", every_s=0.2)
        flower = f"http://{settings['GIFTQ_FLOWER_BIND']}"
        wait_for(lambda: _answers(f"{flower}/healthcheck", make), timeout_s=30, what="Flower", every_s=0.2)
        assert requests.get(f"{flower}/", timeout=10).status_code == 401
        started = psutil.Process(make.pid).children(recursive=True)

        # The README's curl session: POST /orders with the key, then GET /orders/{request_id} until it is final.
        request_id = str(uuid.uuid4())
        headers = {"Authorization": f"Bearer {settings['KEY']}"}
        order = {"RequestId": request_id, "AccountId": 555,
                 "Products": [{"ProductId": 439685, "Quantity": 2, "Value": 10}]}  # fmt: skip
        created = requests.post(f"{api}/orders", json=order, headers=headers, timeout=10)
        assert created.status_code == 201, created.text

        def state() -> str | None:
            found = requests.get(f"{api}/orders/{request_id}", headers=headers, timeout=10).json()["state"]
            return (
                found
                if found in ("fulfilled", "partially_fulfilled", "failed", "rejected", "needs_attention")
                else None
            )

        assert wait_for(state, timeout_s=60, what="the order's final state", every_s=0.2) == "fulfilled"
        check_each_worker_kind_serves_its_own_metrics(settings)
        if target == "run":
            check_compose_health_checks_against(settings, tmp_path)
            # Ctrl-C comes while a Place Order is in flight: the sandbox has taken (and charged) it, answers in 2 s
            admin = f"{settings['GIFTQ_BAMBOO_BASE_URL']}/_sandbox"
            fault = {"kind": "slow_response", "delay_ms": 2000, "count": 1}
            requests.post(f"{admin}/faults", json=fault, timeout=10).raise_for_status()
            in_flight = {**order, "RequestId": str(uuid.uuid4())}
            assert requests.post(f"{api}/orders", json=in_flight, headers=headers, timeout=10).status_code == 201
            wait_for(lambda: in_flight["RequestId"] in requests.get(f"{admin}/findings", timeout=10).json()[
                "accepted_request_ids"], timeout_s=30, what="the second order's Place Order taken")  # fmt: skip
    finally:
        started = started or _children(make)
        if make.poll() is None:
            os.killpg(make.pid, signal.SIGINT)  # Ctrl-C in a terminal: make and honcho, honcho stops the rest
        make.wait(timeout=60)
        gone, alive = psutil.wait_procs(started, timeout=30)
        for process in alive:
            process.kill()
    log = log_path.read_text(errors="replace")
    assert not alive, f"still running after Ctrl-C: {[p.pid for p in alive]}\n{log[-3000:]}"
    # Each program itself got the SIGTERM (the Procfile `exec`s it) and shut down cleanly: exit status 0, not killed.
    stopped = dict(re.findall(r"^\S+ system\s+\| ([\w-]+)\.\d+ stopped \(rc=(-?\d+)\)", log, re.M))
    expected = PROCFILE_PROCESSES | ({"sandbox", "sandbox-bhn"} if target == "dev" else set())
    assert stopped == dict.fromkeys(expected, "0"), log[-3000:]
    assert "Traceback" not in log, log[-3000:]
    if target == "run":  # the call in flight at Ctrl-C finished and was recorded: the worker's warm shutdown waited
        store = redis.Redis.from_url(settings["GIFTQ_REDIS_URL"])
        assert store.hget(Keys("giftq").order(in_flight["RequestId"]), "state") == b"placed"


def check_each_worker_kind_serves_its_own_metrics(settings: dict[str, str]) -> None:
    """The worker and the notify worker each answer on their own port from their own directory, emptied at start:
    the order is counted placed by the worker, which placed it, and by no other process tree."""
    root = Path(settings["GIFTQ_METRICS_DIR"])
    for process in METRICS_PROCESSES:
        assert not (root / process / STALE_METRICS).exists(), process
    scrapes = {}
    for process, port in (("worker", "GIFTQ_WORKER_METRICS_PORT"), ("notify", "GIFTQ_NOTIFY_METRICS_PORT")):
        answer = requests.get(f"http://127.0.0.1:{settings[port]}/metrics", timeout=10)
        assert answer.status_code == 200, (process, answer.text)
        scrapes[process] = answer.text
    placed = 'giftq_orders_placed_total{provider="bamboo"} 1.0'
    assert placed in scrapes["worker"] and "giftq_orders_placed_total{" not in scrapes["notify"]
    assert 'giftq_orders{provider="bamboo",state="fulfilled"} 1.0' in scrapes["notify"]  # the store's, from each


def check_compose_health_checks_against(settings: dict[str, str], tmp_path: Path) -> None:
    """Each giftq service's health check of docker-compose.yml, run against the Procfile's processes of this run.

    Only the addresses differ (the container's fixed ports, the beat schedule's path); a worker's check names a
    host with no worker and must fail, so the checks are shown able to fail.
    """
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    environ = {**os.environ, **settings, "PATH": f"{Path(sys.executable).parent}:{BARE_PATH}"}
    environ["HOSTNAME"] = socket.gethostname()  # as in a container: celery's %h is the host name

    substitutions = {
        "$$": "$",  # compose's escape of a literal $
        "127.0.0.1:8000": settings["GIFTQ_API_BIND"],
        "127.0.0.1:5555": settings["GIFTQ_FLOWER_BIND"],
        "/tmp/giftq-celerybeat-schedule": settings["GIFTQ_BEAT_SCHEDULE"],
    }

    def run(service: str, **extra: str) -> subprocess.CompletedProcess:
        kind, *test = services[service]["healthcheck"]["test"]
        for container_value, here in substitutions.items():
            test = [part.replace(container_value, here) for part in test]
        command = ["sh", "-c", test[0]] if kind == "CMD-SHELL" else test
        return subprocess.run(command, env={**environ, **extra}, cwd=tmp_path, capture_output=True, text=True,
                              timeout=60)  # fmt: skip

    for service in ("api", "worker", "notify", "beat", "flower"):
        done = run(service)
        assert done.returncode == 0, (service, done.stdout, done.stderr)
    assert run("worker", HOSTNAME="no-such-host").returncode != 0


def _answers(url: str, make: subprocess.Popen) -> bool:
    assert make.poll() is None, f"make run exited with {make.returncode}"
    try:
        return requests.get(url, timeout=1).status_code == 200
    except requests.ConnectionError:
        return False


def _children(make: subprocess.Popen) -> list[psutil.Process]:
    try:
        return psutil.Process(make.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []
