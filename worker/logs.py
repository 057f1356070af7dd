"""How every giftq process logs: text for a terminal, or one JSON object a line; card data masked either way.

`configure_logging` gives the root logger one handler on stderr with the format and level of GIFTQ_LOG_FORMAT
and GIFTQ_LOG_LEVEL (config/settings.py); GIFTQ_LOG_TASK_LINES=false leaves out Celery's INFO lines of each
task. Workers and beat call it from Celery's `setup_logging` signal, so Celery leaves the root logger alone; the
API hands the same formatter to gunicorn's handlers; the command line calls it first thing.

A JSON line has `time`, `level`, `logger`, `message`, and `request_id` / `credential` when the log call gave
them (`extra=`) or the task running names them in its arguments; `exc_info` for a traceback. Nothing else of a
record is written (Celery puts task arguments in `extra`), and the message and traceback are redacted
(worker/redaction.py). Celery's "Task ... received" line is logged by the worker's main process, where no task
runs: the message's `ReceivedRequest` names its order and credential for that line, from the same arguments.
"""

from __future__ import annotations

import json
import logging
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from inspect import signature
from typing import TextIO

from config.settings import LogSettings
from worker.redaction import RedactedRequest, install_redaction, redact

CONTEXT_FIELDS = ("request_id", "credential")
# Celery's own line shape; the order and credential before the message, so a line still ends with what it says
TEXT_FORMAT = "[%(asctime)s: %(levelname)s/%(processName)s] %(name)s%(context)s: %(message)s"
BEAT_SENDING = "Scheduler: Sending due task"  # celery.beat's line for every task it sends: DEBUG, not INFO
# Celery's loggers of its INFO lines for each task: received (the worker's main process), succeeded, retry (the pool)
CELERY_TASK_LOGGERS = ("celery.worker.strategy", "celery.app.trace")
_ARGUMENT_NAMES: dict[str, tuple[str, ...]] = {}
# The task message the worker's main process received last: (task id, its context), for Celery's "received" line
_RECEIVED: ContextVar[tuple[str, dict[str, str]]] = ContextVar("giftq_received", default=("", {}))


class TaskContext(logging.Filter):
    """Adds `request_id` and `credential` to a record, from `extra=` or else from the running task's arguments (or
    the arguments of the message a "Task ... received" line is about)."""

    def filter(self, record: logging.LogRecord) -> bool:
        found = _task_context() or _received_context(record)
        for name in CONTEXT_FIELDS:
            if getattr(record, name, None) is None and found.get(name):
                setattr(record, name, found[name])
        return True


class ReceivedRequest(RedactedRequest):
    """The worker's view of a task message (RedactedRequest), which also names the message's order and credential
    for the "Task ... received" line Celery logs just after making it, in the main process where no task runs."""

    def __init__(self, *args: object, **kwargs: object):
        super().__init__(*args, **kwargs)
        _RECEIVED.set((self.id, _context_of(self.task, self.args, self.kwargs)))


def _task_context() -> dict[str, str]:
    from celery import current_task

    task = current_task
    if not task or task.request.called_directly:
        return {}
    return _context_of(task, task.request.args, task.request.kwargs)


def _received_context(record: logging.LogRecord) -> dict[str, str]:
    """The context of the message a record of Celery's is about (its `data` names the task id), if it is the last
    one received."""
    data = getattr(record, "data", None)
    task_id, context = _RECEIVED.get()
    return context if task_id and isinstance(data, dict) and data.get("id") == task_id else {}


def _context_of(task: object, args: object, kwargs: object) -> dict[str, str]:
    """`request_id` and `credential` of a task's arguments, by their names in its signature (an order's RequestId
    for an order); only strings, never anything else of an argument."""
    names = _ARGUMENT_NAMES.get(task.name)
    if names is None:
        try:
            names = _ARGUMENT_NAMES[task.name] = tuple(signature(task.run).parameters)
        except (TypeError, ValueError):
            names = _ARGUMENT_NAMES[task.name] = ()
    positional = args if isinstance(args, list | tuple) else ()
    arguments = {**dict(zip(names, positional, strict=False)), **(kwargs if isinstance(kwargs, dict) else {})}
    order = arguments.get("order")
    if isinstance(order, dict) and "request_id" not in arguments:
        arguments["request_id"] = order.get("RequestId")
    return {name: arguments[name] for name in CONTEXT_FIELDS if isinstance(arguments.get(name), str)}


class JsonFormatter(logging.Formatter):
    """One JSON object a line, with the fields of the module's docstring only."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update({name: str(getattr(record, name)) for name in CONTEXT_FIELDS if getattr(record, name, None)})
        if record.exc_info:
            line["exc_info"] = redact(self.formatException(record.exc_info))
        if record.stack_info:
            line["stack_info"] = redact(self.formatStack(record.stack_info))
        return json.dumps(line, default=str)


class TextFormatter(logging.Formatter):
    """Celery's own line shape, with the order's and credential's names before the message when known."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        shown = [f"{name}={getattr(record, name)}" for name in CONTEXT_FIELDS if getattr(record, name, None)]
        record.context = f" [{' '.join(shown)}]" if shown else ""
        return redact(super().format(record))


class QuietBeat(logging.Filter):
    """Lowers celery.beat's "Sending due task" lines to DEBUG: kick-schedules alone is one every 5 s."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno == logging.INFO and str(record.msg).startswith(BEAT_SENDING):
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
            return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)
        return True


def json_line(logger: str, level: int, message: str) -> str:
    """One JSON line of `message`, as a record of `logger` at `level` would be written (for what Celery prints
    from a signal handler, where nothing may log)."""
    record = logging.getLogRecordFactory()(logger, level, __file__, 0, message, None, None)
    return JsonFormatter().format(record)


def formatter_for(settings: LogSettings) -> logging.Formatter:
    """The formatter of GIFTQ_LOG_FORMAT."""
    return JsonFormatter() if settings.format == "json" else TextFormatter()


def configure_logging(settings: LogSettings, *, stream: TextIO | None = None) -> logging.Handler:
    """Give the root logger one handler (stderr unless `stream`) of the settings' format and level; returns it."""
    install_redaction()
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(formatter_for(settings))
    handler.addFilter(TaskContext())
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(settings.level)
    logging.captureWarnings(True)  # a Python warning is a log line too, not bare text on stderr
    beat = logging.getLogger("celery.beat")
    if not any(isinstance(existing, QuietBeat) for existing in beat.filters):
        beat.addFilter(QuietBeat())
    # Without task lines, Celery's loggers of them write warnings and errors only: Celery asks them once whether
    # INFO is on (when a worker starts), so no record of a task's INFO line is even made.
    for name in CELERY_TASK_LOGGERS:
        logging.getLogger(name).setLevel(logging.NOTSET if settings.task_lines else logging.WARNING)
    return handler
