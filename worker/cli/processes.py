"""Child processes giftq starts for the demo and the tests: the sandbox, Celery workers and the API.

Each runs in its own session (Ctrl-C reaches only giftq, which then stops them in order),
logs to a file, and is waited for with a deadline, never a blind sleep.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import requests

from worker.cli.redis_server import free_port
from worker.errors import GiftqError

READY_DEADLINE_S = 20.0
STOP_DEADLINE_S = 15.0


class ProcessError(GiftqError):
    """Raised when a child process exits early or does not become ready in time."""


class Child:
    """A started child process with its log file."""

    def __init__(self, name: str, command: list[str], log_path: Path, env: dict[str, str] | None = None):
        self.name = name
        self.log_path = log_path
        self._log = open(log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            command, stdout=self._log, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )

    def check_alive(self) -> None:
        """Raise ProcessError, with the end of its log, if the process has exited."""
        if self.process.poll() is not None:
            raise ProcessError(f"{self.name} exited with {self.process.returncode}:\n{self.log_tail()}")

    def log_tail(self, lines: int = 20) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        """Ask the process to stop (SIGTERM: Celery's warm shutdown), then kill its whole group if it lingers."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=STOP_DEADLINE_S)
            except subprocess.TimeoutExpired:
                pass
        self._kill_group()
        self._log.close()

    def wait_ready(self, health_url: str) -> None:
        """Wait until `health_url` answers 2xx; stop the process and raise ProcessError if it exits or is late."""
        deadline = time.monotonic() + READY_DEADLINE_S
        while time.monotonic() < deadline:
            self.check_alive()
            try:
                if requests.get(health_url, timeout=1).ok:
                    return
            except requests.ConnectionError:
                pass
            time.sleep(0.05)
        self.stop()
        raise ProcessError(f"{self.name} did not answer within {READY_DEADLINE_S} s:\n{self.log_tail()}")

    def kill(self) -> None:
        """SIGKILL the process and its children now, as a host dying would (for fault tests)."""
        self._kill_group()
        self.process.wait()

    def _kill_group(self) -> None:
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait()


class Sandbox(Child):
    """A provider sandbox (`provider` "bamboo" or "bhn") on a free port of `host` (loopback unless told), ready when
    its health endpoint answers."""

    def __init__(self, log_path: Path, *, port: int | None = None, provider: str = "bamboo", host: str = "127.0.0.1",
                 **options: object):  # fmt: skip
        if provider not in ("bamboo", "bhn"):
            raise ValueError(f"no sandbox for provider {provider!r}")
        self.port = port or free_port()
        self.url = f"http://{host}:{self.port}"
        self.provider = provider
        flags = [_flag(name, value) for name, value in options.items() if value is not False]
        command = [sys.executable, "-m", "sandbox", provider, "--host", host, "--port", str(self.port), *flags]
        super().__init__(f"{provider} sandbox", command, log_path)
        self.wait_ready(f"{self.url}/_sandbox/health")

    def admin(self, method: str, path: str, **kwargs: object) -> dict:
        """Call an admin endpoint (`/_sandbox/...`) and return its JSON."""
        response = requests.request(method, f"{self.url}/_sandbox/{path}", timeout=10, **kwargs)
        response.raise_for_status()
        return response.json()


def _flag(name: str, value: object) -> str:
    """`access_log=True` -> `--access-log`; `spacing_ms=50` -> `--spacing-ms=50`."""
    flag = "--" + name.replace("_", "-")
    return flag if value is True else f"{flag}={value}"


def start_worker(
    log_path: Path,
    env: dict[str, str],
    *,
    concurrency: int = 2,
    pool: str = "prefork",
    name: str = "worker",
    beat: bool = False,
    queues: Sequence[str] = (),
    exclude_queues: Sequence[str] = (),
    run_in: Sequence[str] = (),
) -> Child:
    """A real `celery -A worker worker` process with the given environment; with `beat`, it runs beat too.

    Its tasks run in a prefork pool of `concurrency` processes, as the Procfile's, or with `pool="solo"` in the
    worker's own process, one at a time (`concurrency` then only sets how many messages it reserves).

    It consumes every queue of config/celery.py, or only `queues` (`-Q`), or all but `exclude_queues` (`-X`):
    e.g. one worker with `exclude_queues=["giftq.notify"]` and one with `queues=["giftq.notify"]`, as the Procfile.
    `run_in` is a command it runs under, as another host (`ip netns exec NAMESPACE`, which becomes the worker).
    """
    command = [*run_in,
        sys.executable, "-m", "celery", "-A", "worker", "worker", "--loglevel", "INFO",
        "--pool", pool, "--concurrency", str(concurrency), "--hostname", f"{name}-{os.getpid()}@%h",
        "--without-mingle", "--without-gossip",
    ]  # fmt: skip
    if queues:
        command += ["--queues", ",".join(queues)]
    if exclude_queues:
        command += ["--exclude-queues", ",".join(exclude_queues)]
    if beat:
        command += ["--beat", "--schedule", str(log_path.with_suffix(".beat-schedule"))]
    return Child(f"celery {name}", command, log_path, env=env)


class ApiServer(Child):
    """A real `giftq api` (gunicorn) process on a free loopback port, ready when /health answers."""

    def __init__(self, log_path: Path, env: dict[str, str], *, port: int | None = None):
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        command = [sys.executable, "-m", "worker.cli", "api", "--bind", f"127.0.0.1:{self.port}"]
        super().__init__("giftq api", command, log_path, env=env)
        self.wait_ready(f"{self.url}/health")
