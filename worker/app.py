"""The Celery app: `celery -A worker worker` finds it as `worker.app`.

Configuration is read lazily from `config.celery`, so importing this module reads no
environment; a worker checks its settings once at start and refuses to run if they are unsafe.
"""

from __future__ import annotations

import logging

from celery import Celery
from celery.signals import worker_init, worker_process_init
from kombu.exceptions import OperationalError
from redis.exceptions import RedisError

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
    _warm_up_publishing()


def _warm_up_publishing() -> None:
    """Load the result backend and declare the queues now, not in a placing task's first hand-off.

    A placing task hands its schedule on between claiming its slot and sending its request, inside the send
    budget (tasks/placing.py); the first publish of a fresh process costs tens of ms, the next ones about one.
    """
    try:
        app.backend  # noqa: B018 - loaded on first use
        with app.producer_or_acquire() as producer:
            for queue in app.amqp.queues.values():
                producer.maybe_declare(queue)
    except (OperationalError, RedisError, OSError) as error:
        logger.warning("could not warm up publishing (%s); the first task will", type(error).__name__)
