"""docker-compose.yml and the Procfile describe the same processes (no Docker engine is needed to check)."""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def procfile(name: str = "Procfile") -> dict[str, str]:
    """A Procfile's processes and their commands, without the `exec` that hands each its shell's place."""
    lines = (ROOT / name).read_text().splitlines()
    return {process: command.removeprefix("exec ") for process, command in (line.split(": ", 1) for line in lines)}


def test_the_development_procfile_is_the_procfile_and_the_sandbox() -> None:
    dev = procfile("Procfile.dev")
    assert dev.pop("sandbox").startswith("giftq sandbox bamboo")
    assert dev == procfile() and "sandbox" not in procfile()


def test_every_procfile_process_execs_its_program_so_it_gets_the_stop_signal_itself() -> None:
    for name in ("Procfile", "Procfile.dev"):
        for line in (ROOT / name).read_text().splitlines():
            assert line.split(": ", 1)[1].startswith("exec "), line


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
