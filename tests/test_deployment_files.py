"""The deployment files, checked without a Docker engine: the Procfiles, the Dockerfile and the compose files.

The compose files are validated against the compose specification's JSON schema (vendored in tests/compose-spec/,
so the check needs no network) with check-jsonschema; the Dockerfile is linted by hadolint. The rest are the rules
an operator relies on: one image, a health check for every service, Redis configured as the store requires,
exactly one beat, no sandbox in the production file, a grace period above the longest provider call, and each
worker kind and the API keeping (and the workers serving) their metrics apart.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from config.settings import load_settings, settings_from

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
COMPOSE_SCHEMA = ROOT / "tests" / "compose-spec" / "compose-spec.json"
COMPOSE_FILES = ("docker-compose.yml", "docker-compose.dev.yml")
GIFTQ_SERVICES = {"api", "worker", "notify", "beat", "flower"}
METRICS_VARIABLES = {"GIFTQ_METRICS_DIR", "GIFTQ_WORKER_METRICS_PORT", "GIFTQ_WORKER_METRICS_ADDR"}
# `exec env NAME=value ... program`: the variables a Procfile line sets for its program alone
PROCFILE_LINE = re.compile(r'exec (?:env((?: \w+=(?:"[^"]*"|\S*))+) )?(.*)')


def procfile(name: str = "Procfile") -> dict[str, str]:
    """A Procfile's processes and their programs, without the `exec` (and `env NAME=value`) in front."""
    lines = (ROOT / name).read_text().splitlines()
    return {process: PROCFILE_LINE.fullmatch(line).group(2) for process, line in (ln.split(": ", 1) for ln in lines)}


def procfile_environment(process: str, env_file: dict[str, str], name: str = "Procfile") -> dict[str, str]:
    """The environment a Procfile process's program starts with when honcho hands it `env_file`: its line, run by
    sh as honcho runs it, with the program replaced by `env`."""
    line = dict(ln.split(": ", 1) for ln in (ROOT / name).read_text().splitlines())[process]
    assignments = PROCFILE_LINE.fullmatch(line).group(1) or ""
    done = subprocess.run(["sh", "-c", f"exec env{assignments} env -0"], env={"PATH": "/usr/bin:/bin", **env_file},
                          capture_output=True, text=True, check=True)  # fmt: skip
    return dict(entry.split("=", 1) for entry in done.stdout.split("\0") if entry)


def compose(name: str = "docker-compose.yml") -> dict:
    return yaml.safe_load((ROOT / name).read_text())


def grace_period_s(value: str) -> int:
    """A compose duration such as "30s" or "1m30s", in seconds."""
    parts = re.fullmatch(r"(?:(\d+)m)?(?:(\d+)s)?", value)
    assert parts and value, value
    return int(parts.group(1) or 0) * 60 + int(parts.group(2) or 0)


def test_the_development_procfile_is_the_procfile_and_the_sandboxes() -> None:
    dev = procfile("Procfile.dev")
    assert dev.pop("sandbox").startswith("giftq sandbox bamboo")
    assert dev.pop("sandbox-bhn").startswith("giftq sandbox bhn")
    assert dev == procfile() and "sandbox" not in procfile()


def test_every_procfile_process_execs_its_program_so_it_gets_the_stop_signal_itself() -> None:
    for name in ("Procfile", "Procfile.dev"):
        for line in (ROOT / name).read_text().splitlines():
            assert line.split(": ", 1)[1].startswith("exec "), line


@pytest.mark.parametrize("name", COMPOSE_FILES)
def test_each_compose_file_is_valid_under_the_compose_specification(name: str) -> None:
    done = subprocess.run([BIN / "check-jsonschema", "--schemafile", COMPOSE_SCHEMA, ROOT / name],
                          capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_schema_check_refuses_a_compose_file_that_breaks_the_specification(tmp_path: Path) -> None:
    broken = compose()
    broken["services"]["api"]["healthcheck"]["interval"] = ["15s"]  # a list where a duration goes
    broken["services"]["worker"]["restart_policy"] = "always"  # no such key
    path = tmp_path / "docker-compose.yml"
    path.write_text(yaml.safe_dump(broken))
    done = subprocess.run([BIN / "check-jsonschema", "--schemafile", COMPOSE_SCHEMA, path], capture_output=True)
    assert done.returncode == 1


def hadolint_findings_above_info(dockerfile: Path) -> list[dict]:
    done = subprocess.run([BIN / "hadolint", "--format", "json", "--no-fail", dockerfile],
                          capture_output=True, text=True, check=True)  # fmt: skip
    return [found for found in json.loads(done.stdout) if found["level"] not in ("info", "style")]


def test_hadolint_finds_nothing_above_info_in_the_dockerfile() -> None:
    assert hadolint_findings_above_info(ROOT / "Dockerfile") == []


def test_hadolint_would_flag_an_unpinned_base_and_an_unpinned_pip_install(tmp_path: Path) -> None:
    careless = tmp_path / "Dockerfile"
    careless.write_text("FROM python:latest\nRUN pip install flask\n")
    assert {found["code"] for found in hadolint_findings_above_info(careless)} >= {"DL3007", "DL3013"}


def test_the_image_is_pinned_installs_the_constraints_apart_and_runs_as_no_root() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    bases = re.findall(r"^FROM (\S+)", dockerfile, re.M)
    assert bases and all(re.fullmatch(r"python:3\.11\.\d+-slim(-\w+)?", base) for base in bases), bases
    steps = [line for line in dockerfile.splitlines() if line.startswith(("COPY", "RUN", "USER"))]
    final = steps[[i for i, step in enumerate(steps) if "--constraint" in step][0] - 2 :]
    assert final[0].startswith("COPY --from=build /wheels/requirements.txt") and "constraints.txt" in final[1]
    assert "pip install --no-deps /tmp/wheels/giftq-" in dockerfile and "--editable" not in dockerfile
    users = re.findall(r"^USER (\S+)", dockerfile, re.M)
    assert users and users[-1].split(":")[0] not in ("root", "0")
    assert re.search(r"^HEALTHCHECK .*\n?.*CMD", dockerfile, re.M)
    assert not re.search(r"^(ENV|ARG) .*(SECRET|PASSWORD|FERNET|API_KEYS|TOKEN)", dockerfile, re.M | re.I)
    ignored = (ROOT / ".dockerignore").read_text().splitlines()
    assert ".env" in ignored and ".git" in ignored


def test_compose_runs_the_procfiles_processes_from_one_image_each_with_a_health_check() -> None:
    services = compose()["services"]
    assert set(services) == GIFTQ_SERVICES | {"redis"}
    for name, command in procfile().items():
        program = " ".join(command.split()[:4])  # e.g. "celery -A worker worker"
        assert program in " ".join(services[name]["command"]), name
    assert {services[name]["image"] for name in GIFTQ_SERVICES} == {"${GIFTQ_IMAGE:-giftq:local}"}
    assert [name for name in services if "build" in services[name]] == ["api"]  # built once, shared by image
    for name, service in services.items():
        assert service["healthcheck"]["test"][0] in ("CMD", "CMD-SHELL"), name
    assert "inspect ping" in services["worker"]["healthcheck"]["test"][1]
    assert "notify@$$HOSTNAME" in services["notify"]["healthcheck"]["test"][1]
    assert "/health'" in services["api"]["healthcheck"]["test"][-1]


def test_every_giftq_service_waits_for_a_healthy_redis_and_takes_its_settings_from_dot_env_but_its_metrics() -> None:
    services = compose()["services"]
    for name in GIFTQ_SERVICES:
        service = services[name]
        assert service["depends_on"]["redis"]["condition"] == "service_healthy", name
        assert service["env_file"] == [".env"] and set(service["environment"]) <= METRICS_VARIABLES, name


def test_in_compose_each_worker_and_the_api_keep_metrics_on_their_own_tmpfs_and_the_workers_serve_them() -> None:
    services = compose()["services"]
    for name in ("api", "worker", "notify"):
        # /tmp is each container's own tmpfs: a directory there is no other container's, and new at every start
        assert services[name]["environment"]["GIFTQ_METRICS_DIR"].startswith("/tmp/"), name
        assert services[name]["tmpfs"] == ["/tmp"], name
    for name in ("worker", "notify"):
        environment = services[name]["environment"]
        port = environment["GIFTQ_WORKER_METRICS_PORT"]
        assert int(port) > 0 and environment["GIFTQ_WORKER_METRICS_ADDR"] == "0.0.0.0", name
        assert services[name]["expose"] == [port] and "ports" not in services[name], name  # --scale worker=N
    for name in ("beat", "flower"):
        assert services[name]["environment"] == {"GIFTQ_METRICS_DIR": "", "GIFTQ_WORKER_METRICS_PORT": "0"}, name


WITH_METRICS_PORTS = {"GIFTQ_METRICS_DIR": "/var/lib/giftq-metrics", "GIFTQ_WORKER_METRICS_PORT": "9100",
                      "GIFTQ_NOTIFY_METRICS_PORT": "9101"}  # fmt: skip


@pytest.mark.parametrize("env_file", [{}, WITH_METRICS_PORTS], ids=["as-in-env-example", "with-metrics-ports"])
@pytest.mark.parametrize("name", ["Procfile", "Procfile.dev"])
def test_the_procfile_gives_each_worker_kind_and_the_api_a_metrics_dir_and_port_of_their_own(
    name: str, env_file: dict[str, str]
) -> None:
    seen = {process: procfile_environment(process, env_file, name) for process in GIFTQ_SERVICES}
    dirs = {process: seen[process].get("GIFTQ_METRICS_DIR", "") for process in GIFTQ_SERVICES}
    root = env_file.get("GIFTQ_METRICS_DIR", "/tmp/giftq-metrics")
    assert dirs == {"api": f"{root}/api", "worker": f"{root}/worker", "notify": f"{root}/notify", "beat": "",
                    "flower": ""}  # fmt: skip
    ports = {process: seen[process].get("GIFTQ_WORKER_METRICS_PORT", "0") for process in GIFTQ_SERVICES}
    expected = env_file.get("GIFTQ_WORKER_METRICS_PORT", "0"), env_file.get("GIFTQ_NOTIFY_METRICS_PORT", "0")
    assert (ports["worker"], ports["notify"]) == expected
    assert ports["api"] == env_file.get("GIFTQ_WORKER_METRICS_PORT", "0") and ports["beat"] == ports["flower"] == "0"
    for process in ("worker", "notify"):  # and each starts: a port with its directory
        settings = settings_from({**seen[process], "GIFTQ_FERNET_KEYS": "x"})
        assert settings.metrics.dir == dirs[process] and settings.metrics.worker_port == int(ports[process])


def test_a_warm_shutdown_gets_longer_than_the_longest_provider_call() -> None:
    longest_call_s = load_settings().bamboo.timeout_s  # GIFTQ_BAMBOO_TIMEOUT_S's default
    for name in GIFTQ_SERVICES:
        assert grace_period_s(compose()["services"][name]["stop_grace_period"]) >= 2 * longest_call_s, name


def test_exactly_one_beat_and_no_sandbox_in_the_production_file() -> None:
    services = compose()["services"]
    beats = [name for name, service in services.items() if " beat" in " ".join(service["command"])]
    assert beats == ["beat"] and "deploy" not in services["beat"]
    text = (ROOT / "docker-compose.yml").read_text()
    assert "sandbox" not in yaml.safe_dump(services) and "8080" not in yaml.safe_dump(services)
    assert "http://sandbox" not in text


def test_the_store_redis_is_pinned_durable_never_evicts_and_wants_a_password() -> None:
    redis = compose()["services"]["redis"]
    assert re.fullmatch(r"redis:7\.\d+\.\d+", redis["image"])
    command = redis["command"]
    for flag, value in (("--appendonly", "yes"), ("--appendfsync", "always"), ("--maxmemory-policy", "noeviction")):
        assert command[command.index(flag) + 1] == value
    assert command[command.index("--requirepass") + 1].startswith("${REDIS_PASSWORD:?")
    assert "PONG" in redis["healthcheck"]["test"][1]
    assert "/data" in redis["volumes"][0]


def test_the_development_file_adds_the_sandboxes_and_points_every_giftq_service_at_them() -> None:
    dev = compose("docker-compose.dev.yml")["services"]
    assert set(dev) == GIFTQ_SERVICES | {"sandbox", "sandbox-bhn"}
    for sandbox in ("sandbox", "sandbox-bhn"):
        assert dev[sandbox]["image"] == compose()["services"]["api"]["image"] and "healthcheck" in dev[sandbox]
    for name in GIFTQ_SERVICES:
        assert dev[name]["environment"]["GIFTQ_BAMBOO_BASE_URL"] == "http://sandbox:8080", name
        assert dev[name]["environment"]["GIFTQ_BHN_BASE_URL"] == "http://sandbox-bhn:8090", name
        for sandbox in ("sandbox", "sandbox-bhn"):
            assert dev[name]["depends_on"][sandbox]["condition"] == "service_healthy", name
    assert not (ROOT / "docker-compose.override.yml").exists()  # compose would load it by itself, in production too
