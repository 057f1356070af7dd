"""Processes the benchmarks start: Celery workers (giftq's or the naive app's), waited for with deadlines.

The sandbox and redis-server come from worker/cli/processes.py and worker/cli/redis_server.py; everything is stopped
by the caller's ExitStack.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from pathlib import Path

from worker.cli.processes import Child, ProcessError
from worker.orders.crypto import new_key

ROOT = Path(__file__).resolve().parents[1]
READY_DEADLINE_S = 30.0


def base_env() -> dict[str, str]:
    """This process's environment without any GIFTQ_ or BENCH_ variable, with the repository on PYTHONPATH."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("GIFTQ_", "BENCH_"))}
    env["PYTHONPATH"] = str(ROOT)
    return env


def giftq_env(redis_url: str, prefix: str, sandbox_url: str, limits: dict[str, int]) -> dict[str, str]:
    """The environment of giftq workers on both demo credentials, with `limits` as GIFTQ_BAMBOO_<NAME>."""
    env = base_env()
    env.update(
        GIFTQ_REDIS_URL=redis_url,
        GIFTQ_KEY_PREFIX=prefix,
        GIFTQ_BROKER_KEY_PREFIX=f"{prefix}:broker:",
        GIFTQ_FERNET_KEYS=new_key(),
        GIFTQ_BAMBOO_BASE_URL=sandbox_url,
        GIFTQ_BAMBOO_CLIENT_ID="giftq-demo",
        GIFTQ_BAMBOO_CLIENT_SECRET="demo-secret",
        GIFTQ_BAMBOO_EXTRA_CLIENTS="giftq-demo-2:demo-secret-2",
        GIFTQ_BAMBOO_ACCOUNT_CLIENTS="655=giftq-demo-2",
    )
    env.update({f"GIFTQ_BAMBOO_{name.upper()}": str(value) for name, value in limits.items()})
    return env


def start_workers(
    app: str, env: dict[str, str], logs: Path, stack: contextlib.ExitStack, *, count: int, concurrency: int = 1,
    pool: str = "prefork", metrics_under: Path | None = None,
) -> list[Child]:  # fmt: skip
    """Start `count` `celery -A <app> worker` processes, each stopped by `stack`, and wait until all are ready.

    `pool` is Celery's pool (`solo`: the tasks run in the worker's own process; `concurrency` then only sets how
    many messages it reserves).
    With `metrics_under`, each worker shares its metrics in a directory of its own there, named as the worker
    (GIFTQ_METRICS_DIR: each process tree needs its own).
    """
    workers = []
    for index in range(1, count + 1):
        name = f"{app.replace('.', '-')}-w{index}"
        if metrics_under is not None:
            env = {**env, "GIFTQ_METRICS_DIR": str(metrics_under / name)}
        command = [
            sys.executable, "-m", "celery", "-A", app, "worker", "--loglevel", "INFO", "--pool", pool,
            "--concurrency", str(concurrency), "--hostname", f"{name}-{os.getpid()}@%h", "--without-mingle",
            "--without-gossip",
        ]  # fmt: skip
        child = Child(f"celery {name}", command, logs / f"{name}.log", env=env)
        stack.callback(child.stop)
        workers.append(child)
    for child in workers:
        wait_until_ready(child)
    return workers


def wait_until_ready(child: Child) -> None:
    """Wait for Celery's "ready." line in the worker's log; raise ProcessError if it exits or takes too long."""
    deadline = time.monotonic() + READY_DEADLINE_S
    while time.monotonic() < deadline:
        child.check_alive()
        if " ready." in child.log_path.read_text(errors="replace"):
            return
        time.sleep(0.1)
    raise ProcessError(f"{child.name} was not ready within {READY_DEADLINE_S} s:\n{child.log_tail()}")


def count_in_logs(logs: Path, pattern: str, *texts: str) -> int:
    """How often any of `texts` appears in the logs in `logs` whose names match the glob `pattern`."""
    return sum(path.read_text(errors="replace").count(text) for path in logs.glob(pattern) for text in texts)


# What a giftq worker logs when it gives a slot up: claimed past the lease, the credential on a 429 hold at the
# claim, or the request not sent in time.
SLOT_MISSED = (": slot missed by", ": credential on hold for", ": not sent in time")
