"""`giftq api`: the producers' HTTP API (api/app.py) served by gunicorn, configured from the settings."""

from __future__ import annotations

import json

import gunicorn.util
from flask import Flask
from gunicorn import glogging
from gunicorn.app.base import BaseApplication

from config.settings import Settings, load_log_settings
from worker import metrics
from worker.celery import runtime
from worker.errors import GiftqError
from worker.logs import configure_logging, formatter_for
from worker.runtime import build_runtime

TIMEOUT_S = 30  # a request taking longer (one catalog fetch at most) gets its worker restarted
GRACEFUL_TIMEOUT_S = 10  # on SIGTERM, requests under way get this long to finish


class _Gunicorn(BaseApplication):
    """gunicorn with options from giftq's settings rather than a config file or its command line."""

    def __init__(self, options: dict[str, object]):
        self._options = options
        super().__init__()

    def load_config(self) -> None:
        for name, value in self._options.items():
            self.cfg.set(name, value)

    def load(self) -> Flask:
        """Runs in each worker process after the fork, so every worker has its own Redis connections."""
        from api.app import create_app
        from tasks.orders import enqueue_place, poll_now

        rt = runtime()
        return create_app(rt, rt.intake(enqueue_place), poll_now)


class _GunicornLogger(glogging.Logger):
    """gunicorn's error and access logs, written as JSON lines too when GIFTQ_LOG_FORMAT=json."""

    def setup(self, cfg: object) -> None:
        super().setup(cfg)
        settings = load_log_settings()
        if settings.format == "json":
            for log in (self.error_log, self.access_log):
                for handler in log.handlers:
                    handler.setFormatter(formatter_for(settings))


def _write_json_error(sock: object, status_int: int, reason: str, mesg: str) -> None:
    """gunicorn's own refusals (request line or headers too long, malformed HTTP) as giftq's JSON error.

    gunicorn answers these before the app sees the request, in HTML; producers are promised JSON errors.
    """
    body = json.dumps({"status": status_int, "reason": reason.replace(" ", ""), "message": mesg, "request_id": None})
    head = (f"HTTP/1.1 {status_int} {reason}\r\nConnection: close\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n")  # fmt: skip
    gunicorn.util.write_nonblock(sock, (head + body).encode("latin1"))


def serve(settings: Settings, *, bind: str | None = None) -> None:
    """Check the settings once (store durable, keys present), then serve until SIGTERM or SIGINT."""
    if not settings.api.keys:
        raise GiftqError("GIFTQ_API_KEYS is empty: no producer could call the API (`giftq apikey NAME` makes a key)")
    log_settings = load_log_settings()
    configure_logging(log_settings)  # giftq's own loggers in every gunicorn worker (forked: inherited)
    build_runtime(settings).redis.close()  # fails here, in the foreground, if a setting is missing or unsafe
    gunicorn.util.write_error = _write_json_error  # this process and its forked workers only serve the API
    metrics.clean_dir()  # a new process tree: no counts of the last one's workers
    _Gunicorn(
        {
            "bind": bind or settings.api.bind,
            "workers": settings.api.workers,
            "threads": settings.api.threads,
            "worker_class": "gthread",
            "timeout": TIMEOUT_S,
            "graceful_timeout": GRACEFUL_TIMEOUT_S,
            "accesslog": "-",
            "logger_class": _GunicornLogger,
            "loglevel": log_settings.level.lower(),
            "proc_name": "giftq-api",
            # gunicorn's control socket is one path per user ($HOME/.gunicorn/gunicorn.ctl): several API
            # processes on one host would take it from each other, and giftq does not use it.
            "control_socket_disable": True,
            "child_exit": lambda _server, worker: metrics.mark_process_dead(worker.pid),
        }
    ).run()
