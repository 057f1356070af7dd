"""The Celery app: `celery -A worker worker` finds it as `worker.app`.

Configuration is read lazily from `config.celery`, so importing this module reads no
environment; a worker checks its settings once at start and refuses to run if they are unsafe.
"""

from __future__ import annotations

import logging

from celery import Celery
from celery.signals import worker_init, worker_process_init

from worker.delivery import GiftqTask
from worker.redaction import install_redaction

app = Celery(
    "giftq",
    task_cls=GiftqTask,
    include=["tasks.intake", "tasks.orders", "tasks.placing", "tasks.maintenance", "tasks.notify", "tasks.retention"],
)
app.config_from_object("config.celery")
# Every process that loads the app (worker, beat, Flower, the API, the command line) masks card data in its logs.
install_redaction()

logger = logging.getLogger(__name__)


@worker_init.connect
def _check_settings_before_start(**_: object) -> None:
    """Fail at start, not at the first order: store durability, Fernet keys, provider credentials."""
    from worker.runtime import runtime

    install_redaction()
    runtime()
    logger.info("giftq settings checked: store is durable, card keys and provider credentials present")


@worker_process_init.connect
def _fresh_runtime_in_each_child(**_: object) -> None:
    """A forked pool process must not share the parent's Redis connections."""
    from worker.runtime import runtime

    install_redaction()
    runtime.cache_clear()
