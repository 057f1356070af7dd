"""The Celery app: `celery -A worker worker` finds it here, as `worker.celery:app` (Celery's own convention).

Configuration is read lazily from `config.celery`, so importing this module reads no environment. The app
also holds this process's runtime (`runtime()`), built on first use with the app's `send_task`, so the
runtime never imports the app. A worker checks its settings once at start and refuses to run if they are unsafe.
"""

from __future__ import annotations

import logging
import os
import sys
from functools import cached_property

from billiard.process import current_process
from celery import Celery
from celery.apps import worker as celery_worker
from celery.apps.beat import Beat
from celery.signals import (
    beat_init,
    celeryd_after_setup,
    celeryd_init,
    setup_logging,
    worker_init,
    worker_process_init,
    worker_process_shutdown,
    worker_shutting_down,
)

from config.settings import SettingsError, load_log_settings, load_settings
from worker import metrics
from worker.delivery import GiftqTask
from worker.errors import GiftqError
from worker.logs import configure_logging, json_line
from worker.redaction import install_redaction
from worker.runtime import Runtime, build_runtime

logger = logging.getLogger(__name__)


class GiftqBeat(Beat):
    """`celery beat`'s service, without its text banner on stdout when logs are JSON (every line must be JSON).

    Beat prints the banner before any logging is set up and sends no signal first, so it is decided here.
    """

    def __init__(self, *args: object, quiet: bool = False, **kwargs: object):
        super().__init__(*args, quiet=quiet or _json_logs(), **kwargs)


class GiftqWorker(celery_worker.Worker):
    """`celery worker`'s process: with JSON logs, its SIGTERM handler prints no text notice on stdout.

    Celery's handler prints "worker: Warm shutdown (MainProcess)" itself; here it is installed without it, and
    `_warm_shutdown_in_json` writes the same notice as a JSON line.
    """

    def install_platform_tweaks(self, worker: object) -> None:
        super().install_platform_tweaks(worker)
        if _json_logs():
            celery_worker.install_worker_term_handler(worker, verbose=False)


class GiftqCelery(Celery):
    """Celery, plus this process's runtime: built on first use, built again in each forked pool process."""

    _runtime: Runtime | None = None
    _store_seen: tuple[str, int] = ("", 0)  # the store's marker as this process (or its parent) saw it

    @cached_property
    def Worker(self) -> type[celery_worker.Worker]:  # noqa: N802 - Celery's name for the class `celery worker` runs
        """The class `celery -A worker worker` runs: GiftqWorker, bound to this app."""
        return self.subclass_with_self(GiftqWorker)

    @cached_property
    def Beat(self) -> type[Beat]:  # noqa: N802 - Celery's name for the class `celery beat` runs
        """The class `celery -A worker beat` runs: GiftqBeat, bound to this app."""
        return self.subclass_with_self(GiftqBeat)

    def runtime(self) -> Runtime:
        """This process's runtime (store, throttle, providers, ...), whose tasks are sent through this app."""
        if self._runtime is None:
            self._runtime = build_runtime(load_settings(), send_task=self.send_task, store_seen=self._store_seen)
        return self._runtime

    def forget_runtime(self) -> None:
        """Drop the runtime, so the next `runtime()` builds one with connections of this process's own.

        What it saw of the store is kept: a store that lost its data while the child was forked still shows.
        """
        if self._runtime is not None:
            self._store_seen = self._runtime.continuity.seen
        self._runtime = None


app = GiftqCelery(
    "giftq",
    task_cls=GiftqTask,
    include=["tasks.intake", "tasks.orders", "tasks.placing", "tasks.maintenance", "tasks.notify", "tasks.retention"],
)
app.config_from_object("config.celery")
# Every process that loads the app (worker, beat, Flower, the API, the command line) masks card data in its logs.
install_redaction()


def runtime() -> Runtime:
    """This process's runtime (see `GiftqCelery.runtime`)."""
    return app.runtime()


@celeryd_init.connect
@setup_logging.connect
def _log_as_configured(**_: object) -> None:
    """Workers and beat log with GIFTQ_LOG_FORMAT and GIFTQ_LOG_LEVEL; a receiver here makes Celery configure none.

    `--loglevel` is ignored: one setting says how every giftq process logs. `celeryd_init` comes first, before
    the worker warns of anything (e.g. running as root), so that warning is a line of the same format.
    """
    try:
        configure_logging(load_log_settings())
    except SettingsError as error:
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(1) from None


@celeryd_after_setup.connect
def _no_banner_in_json(instance: object, **_: object) -> None:
    """The worker's start-up banner is text on stdout: with JSON logs every line must be JSON, so it is left out."""
    if _json_logs():
        instance.quiet = True


@worker_shutting_down.connect
def _warm_shutdown_in_json(sig: str, how: str, **_: object) -> None:
    """Celery's warm-shutdown notice, as a JSON line on stderr (GiftqWorker's SIGTERM handler prints none). It runs
    in the signal handler, so it writes the line itself, as Celery's own notice does, rather than log it."""
    if sig == "SIGTERM" and how == "Warm" and _json_logs():
        line = json_line(celery_worker.__name__, logging.INFO, f"worker: {how} shutdown (MainProcess)")
        os.write(sys.__stderr__.fileno(), f"{line}\n".encode())


def _json_logs() -> bool:
    try:
        return load_log_settings().format == "json"
    except SettingsError:  # refused at start, in one line (`_log_as_configured`)
        return False


@worker_init.connect
@beat_init.connect
def _check_settings_before_start(**_: object) -> None:
    """Fail at start, not at the first order: store durability, Fernet keys, provider credentials.

    Celery logs and swallows an exception raised by a signal handler, and would run on; SystemExit it does not.
    """
    install_redaction()
    try:
        app.runtime()
    except (GiftqError, SettingsError) as error:
        logger.critical("giftq cannot start: %s", error)
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(1) from None
    logger.info("giftq settings checked: store is durable, card keys and provider credentials present")
    indexed = app.runtime().store.index_by_provider()
    if indexed:
        logger.info("giftq indexed %d orders stored before the per-provider state indexes", indexed)


@worker_init.connect
def _serve_metrics(**_: object) -> None:
    """Start the worker's process tree with an empty GIFTQ_METRICS_DIR and, on GIFTQ_WORKER_METRICS_PORT, serve
    every pool process's metrics from this, the main process (before the pool forks)."""
    metrics.clean_dir()
    rt = app.runtime()
    port, addr = rt.settings.metrics.worker_port, rt.settings.metrics.worker_addr
    if not port:
        return
    try:
        metrics.serve(port, addr, metrics.registry(rt.metrics_collector()))
    except OSError as error:
        logger.critical("giftq cannot serve its metrics on %s:%d: %s", addr, port, error)
        print(f"error: cannot serve metrics on {addr}:{port}: {error}", file=sys.stderr)
        raise SystemExit(1) from None
    logger.info("giftq metrics served on http://%s:%d/metrics", addr, port)


@worker_process_shutdown.connect
def _forget_metrics_of_a_child(**_: object) -> None:
    metrics.mark_process_dead(os.getpid())


@worker_process_init.connect
def _fresh_runtime_in_each_child(**_: object) -> None:
    """A forked pool process must not share the parent's Redis connections.

    It also leads a process group of its own: a supervisor that signals the worker's whole group (honcho, at
    Ctrl-C under `make run`, sends SIGTERM with killpg) then reaches the worker alone, whose warm shutdown lets a
    running task (a Place Order in flight) finish, instead of killing it mid-call. The worker still ends its pool
    processes itself (SIGTERM, or SIGKILL past a time limit), and they die with it (Celery's PDEATHSIG).

    A worker on Celery's solo pool (`--pool solo`) sends this signal in its own process, where nothing was forked:
    its runtime and its process group stay as they are (its setpgid would fail: it may lead its session)."""
    if current_process().name == "MainProcess":
        return
    install_redaction()
    app.forget_runtime()
    os.setpgid(0, 0)
