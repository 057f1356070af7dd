"""Logs: GIFTQ_LOG_FORMAT and GIFTQ_LOG_LEVEL, JSON lines from a real worker, and a beat quiet at INFO."""

from __future__ import annotations

import io
import json
import logging
import os
import re
import sys
import uuid
from pathlib import Path
from unittest import mock

import pytest
import redis
import requests
from celery import Celery

from config.settings import LogSettings, SettingsError, load_log_settings
from tests.waiting import final_state, wait_for
from worker.cli.processes import ApiServer, Child, Sandbox
from worker.logs import BEAT_SENDING, configure_logging
from worker.orders import states
from worker.runtime import Runtime

pytestmark = pytest.mark.timeout(120)

ROOT = Path(__file__).resolve().parent.parent
# giftq's tasks whose arguments name an order (its RequestId, or the order itself)
ORDER_TASKS = {"giftq.submit_order", "giftq.place_order", "giftq.place_reserved", "giftq.poll_order",
               "giftq.resolve_order", "giftq.notify"}  # fmt: skip
CELERY_TASK_LINE = re.compile(r"Task (?P<name>[\w.]+)\[(?P<id>[\w-]+)\] (?P<what>received|succeeded)")


def log_settings(**environ: str) -> LogSettings:
    """The log settings of a process whose whole environment is `environ`."""
    with mock.patch.dict(os.environ, environ, clear=True):
        return load_log_settings()


@pytest.fixture
def restore_logging():
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers, root.level = handlers, level


def test_logs_are_text_at_info_unless_told_otherwise_and_a_wrong_value_is_refused() -> None:
    assert log_settings() == LogSettings(format="text", level="INFO")
    assert log_settings(GIFTQ_LOG_FORMAT="json", GIFTQ_LOG_LEVEL="debug") == LogSettings(format="json", level="DEBUG")
    with pytest.raises(SettingsError, match="GIFTQ_LOG_FORMAT"):
        log_settings(GIFTQ_LOG_FORMAT="xml")
    with pytest.raises(SettingsError, match="GIFTQ_LOG_LEVEL"):
        log_settings(GIFTQ_LOG_LEVEL="loud")
    assert log_settings().task_lines and not log_settings(GIFTQ_LOG_TASK_LINES="false").task_lines
    with pytest.raises(SettingsError, match="LOG_TASK_LINES"):
        log_settings(GIFTQ_LOG_TASK_LINES="sometimes")


def test_a_json_line_has_its_fields_only_with_card_fields_and_tracebacks_masked(restore_logging: None) -> None:
    stream = io.StringIO()
    configure_logging(LogSettings(format="json", level="INFO"), stream=stream)
    logger = logging.getLogger("giftq.test")
    logger.info("order placed, cardCode: 7KQ2-M4ZP", extra={"request_id": "r-1", "credential": "giftq-demo",
                                                              "data": {"args": "an order"}})  # fmt: skip
    try:
        raise ValueError("pin=4821")
    except ValueError:
        logger.exception("failed")
    logger.debug("not written at INFO")
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert set(first) == {"time", "level", "logger", "message", "request_id", "credential"}
    assert (first["level"], first["logger"], first["request_id"], first["credential"]) == (
        "INFO", "giftq.test", "r-1", "giftq-demo")  # fmt: skip
    assert "7KQ2" not in first["message"] and "***" in first["message"]
    assert "4821" not in second["exc_info"] and "ValueError" in second["exc_info"]


def test_beat_sending_lines_are_debug_lines(restore_logging: None) -> None:
    stream = io.StringIO()
    configure_logging(LogSettings(format="text", level="INFO"), stream=stream)
    beat = logging.getLogger("celery.beat")
    beat.info("Scheduler: Sending due task %s (%s)", "kick-schedules", "giftq.kick_schedules")
    beat.info("beat: Starting...")
    assert BEAT_SENDING not in stream.getvalue() and "beat: Starting..." in stream.getvalue()
    configure_logging(LogSettings(format="text", level="DEBUG"), stream=stream)
    beat.info("Scheduler: Sending due task %s (%s)", "kick-schedules", "giftq.kick_schedules")
    assert "DEBUG" in stream.getvalue().splitlines()[-1] and BEAT_SENDING in stream.getvalue()


def test_without_task_lines_celerys_info_lines_of_tasks_are_left_out_and_its_warnings_and_giftqs_lines_kept(
    restore_logging: None,
) -> None:
    stream = io.StringIO()
    configure_logging(LogSettings(task_lines=False), stream=stream)
    received, trace = logging.getLogger("celery.worker.strategy"), logging.getLogger("celery.app.trace")
    received.info("Task giftq.poll_order[t-1] received")
    trace.info("Task giftq.poll_order[t-1] succeeded in 0.01s: 'fulfilled'")
    trace.error("Task giftq.poll_order[t-2] raised unexpected: ValueError()")
    logging.getLogger("tasks.orders").info("order r-1 fulfilled: 1 cards issued")
    written = stream.getvalue()
    assert "received" not in written and "succeeded" not in written
    assert "raised unexpected" in written and "order r-1 fulfilled" in written
    configure_logging(LogSettings(), stream=stream)  # the default writes them again
    received.info("Task giftq.poll_order[t-3] received")
    assert "t-3] received" in stream.getvalue()


def test_a_worker_without_task_lines_logs_an_orders_own_lines_and_none_of_celerys_per_task(
    giftq_env: dict[str, str], start_workers, producer: Celery, rt: Runtime
) -> None:
    # Given a worker without task lines
    giftq_env["GIFTQ_LOG_TASK_LINES"] = "false"
    (worker,) = start_workers(1)

    # When an order goes through it
    request_id = str(uuid.uuid4())
    order = {"RequestId": request_id, "AccountId": 555, "Products": [{"ProductId": 100001, "Quantity": 1, "Value": 25}]}
    producer.send_task("giftq.submit_order", args=[order], queue="giftq")
    assert wait_for(lambda: final_state(rt, request_id), timeout_s=60, what="the order final") == states.FULFILLED

    # Then its log has the order's own line, and no line of Celery's for a task received or done
    text = worker.log_path.read_text()
    assert f"order {request_id} fulfilled" in text
    assert CELERY_TASK_LINE.search(text) is None and " ready." in text


def test_a_worker_with_json_logs_writes_only_json_lines_each_order_line_naming_its_order_and_no_card(
    giftq_env: dict[str, str], start_workers, producer: Celery, rt: Runtime, sandbox: Sandbox
) -> None:
    # Given a worker (with beat) logging JSON
    giftq_env["GIFTQ_LOG_FORMAT"] = "json"
    (worker,) = start_workers(1, beat=True)

    # When two orders go through it, by task name
    request_ids = [str(uuid.uuid4()) for _ in range(2)]
    for request_id in request_ids:
        order = {"RequestId": request_id, "AccountId": 555,
                 "Products": [{"ProductId": 100001, "Quantity": 2, "Value": 25}]}  # fmt: skip
        producer.send_task("giftq.submit_order", args=[order], queue="giftq")
    for request_id in request_ids:
        assert wait_for(lambda r=request_id: final_state(rt, r), timeout_s=60, what=f"{request_id} final") == (
            states.FULFILLED
        )

    # Then every line of its log is a JSON object with the fields of a giftq line
    worker.check_alive()
    lines = [json.loads(line) for line in worker.log_path.read_text().splitlines() if line.strip()]
    assert lines and all({"time", "level", "logger", "message"} <= set(line) for line in lines)
    # And each line about an order, from the tasks of that order, carries its request_id
    for request_id in request_ids:
        about = [line for line in lines if request_id in line["message"]]
        assert about, request_id
        assert all(line.get("request_id") == request_id for line in about), about
    # And Celery's own "received" (main process) and "succeeded" (pool process) lines of each task of an order
    # carry the order's request_id too, the same on both lines of one task
    task_lines = [(found, line) for line in lines if (found := CELERY_TASK_LINE.match(line["message"]))]
    of_orders = [(found, line) for found, line in task_lines if found["name"] in ORDER_TASKS]
    assert all(line.get("request_id") in request_ids for _, line in of_orders), of_orders
    by_task: dict[str, set[str]] = {}
    for found, line in of_orders:
        by_task.setdefault(found["id"], set()).add(line["request_id"])
    assert all(len(named) == 1 for named in by_task.values()), by_task
    for request_id in request_ids:
        seen = {(found["name"], found["what"]) for found, line in of_orders if line["request_id"] == request_id}
        assert {("giftq.submit_order", "received"), ("giftq.submit_order", "succeeded")} <= seen, seen
        assert {("giftq.poll_order", "received"), ("giftq.poll_order", "succeeded")} <= seen, seen
    # And no code or PIN the sandbox issued is in it
    issued = [sandbox.admin("GET", f"orders/{request_id}")["allCards"] for request_id in request_ids]
    secrets = {card[field] for cards in issued for card in cards for field in ("cardCode", "pin")}
    assert len(secrets) == 8
    text = worker.log_path.read_text()
    assert [secret for secret in secrets if secret in text] == []

    # And when it is stopped as a supervisor stops it (SIGTERM: a warm shutdown), its last lines are JSON too
    worker.stop()
    lines = [json.loads(line) for line in worker.log_path.read_text().splitlines() if line.strip()]
    assert any(line["message"] == "worker: Warm shutdown (MainProcess)" for line in lines)


def run_beat_until_sent(command: list[str], env: dict[str, str], log: Path, sent: int) -> None:
    """Run beat until it has sent `sent` kick-schedules (its first at start, then every 5 s), alive, then stop it."""
    beat = Child("celery beat", command, log, env=env)
    client = redis.Redis.from_url(env["GIFTQ_REDIS_URL"])
    queue = f"{env['GIFTQ_BROKER_KEY_PREFIX']}giftq"
    try:
        wait_for(lambda: client.llen(queue) >= sent, timeout_s=30, what=f"{sent} kick-schedules sent by beat",
                 every_s=0.2)  # fmt: skip
        beat.check_alive()
    finally:
        beat.stop()
        client.close()


def test_beat_at_info_logs_no_sending_due_task_line(giftq_env: dict[str, str], tmp_path: Path) -> None:
    # Given beat alone at INFO, text logs
    env = {**giftq_env, "GIFTQ_LOG_LEVEL": "INFO", "GIFTQ_LOG_FORMAT": "text"}
    command = [sys.executable, "-m", "celery", "-A", "worker", "beat", "--schedule", str(tmp_path / "schedule")]
    # When it has sent kick-schedules three times (about 10 s)
    run_beat_until_sent(command, env, tmp_path / "beat.log", sent=3)
    # Then its log shows that it started, and not one "Sending due task" line
    log = (tmp_path / "beat.log").read_text()
    assert "beat: Starting..." in log
    assert BEAT_SENDING not in log


def test_beat_as_the_procfile_runs_it_writes_only_json_lines_with_json_logs(
    giftq_env: dict[str, str], tmp_path: Path
) -> None:
    # Given beat started by the Procfile's own line, through sh as honcho starts it, with JSON logs
    line = dict(entry.split(": ", 1) for entry in (ROOT / "Procfile").read_text().splitlines())["beat"]
    env = {**giftq_env, "GIFTQ_LOG_FORMAT": "json", "GIFTQ_BEAT_SCHEDULE": str(tmp_path / "schedule"),
           "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}  # fmt: skip
    # When it has started and sent its first kick-schedules, and is then stopped
    run_beat_until_sent(["sh", "-c", line], env, tmp_path / "beat.log", sent=1)

    # Then every line it wrote, on stdout or stderr, is a JSON object of a giftq line; no banner among them
    lines = (tmp_path / "beat.log").read_text().splitlines()
    assert lines
    for text in lines:
        assert set(json.loads(text)) >= {"time", "level", "logger", "message"}, text
    assert any(json.loads(text)["message"] == "beat: Starting..." for text in lines)


def test_the_api_with_json_logs_writes_only_json_lines_gunicorns_access_lines_too(
    giftq_env: dict[str, str], tmp_path: Path
) -> None:
    api = ApiServer(tmp_path / "api.log", {**giftq_env, "GIFTQ_LOG_FORMAT": "json"})
    try:
        assert requests.get(f"{api.url}/health", timeout=10).ok
    finally:
        api.stop()
    lines = [json.loads(line) for line in (tmp_path / "api.log").read_text().splitlines() if line.strip()]
    assert any(line["logger"] == "gunicorn.access" and "GET /health" in line["message"] for line in lines)
    assert any(line["logger"] == "gunicorn.error" and "Booting worker" in line["message"] for line in lines)


def test_a_text_line_names_the_order_before_its_message(restore_logging: None) -> None:
    stream = io.StringIO()
    configure_logging(LogSettings(format="text", level="INFO"), stream=stream)
    logging.getLogger("tasks.placing").info("order placed: 'placed'", extra={"request_id": "r-1"})
    assert stream.getvalue().rstrip().endswith("tasks.placing [request_id=r-1]: order placed: 'placed'")
