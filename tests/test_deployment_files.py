"""docker-compose.yml and the Procfile describe the same processes (no Docker engine is needed to check)."""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def procfile() -> dict[str, str]:
    lines = (ROOT / "Procfile").read_text().splitlines()
    return dict(line.split(": ", 1) for line in lines if line.strip())


def test_compose_parses_and_its_redis_keeps_every_write_and_never_evicts() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    redis_command = compose["services"]["redis"]["command"]
    for flag, value in (("--appendonly", "yes"), ("--appendfsync", "always"), ("--maxmemory-policy", "noeviction")):
        assert redis_command[redis_command.index(flag) + 1] == value


def test_compose_runs_the_same_programs_as_the_procfile() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    for name, command in procfile().items():
        program = " ".join(command.split()[:4])  # e.g. "celery -A worker worker"
        assert program in " ".join(compose["services"][name]["command"]), name
