"""Celery configuration, read lazily by `worker.app` (``config_from_object("config.celery")``).

Each reliability setting says why it is there: an order is money, so a task must survive a
lost worker and must never be acknowledged before it has recorded what it did.
"""

from config.settings import load_settings

_settings = load_settings()

broker_url = _settings.broker_redis_url()
broker_connection_retry_on_startup = True
broker_transport_options = {
    # A task not acknowledged within this time is delivered again. Our longest task is one
    # provider call (seconds), so an hour only matters after a worker died holding a message.
    "visibility_timeout": 3600,
}
if _settings.broker_key_prefix:
    # Lets several deployments (or test runs) share one Redis; producers must then set the same prefix.
    broker_transport_options["global_keyprefix"] = _settings.broker_key_prefix

task_serializer = "json"
accept_content = ["json"]
task_ignore_result = True  # tasks return nothing a producer needs; results live in the order store
task_default_queue = "giftq"

# Acknowledge after the task ran, and put it back when the worker process dies mid-task:
# the order's state machine (compare-and-set) makes a second delivery harmless.
task_acks_late = True
task_reject_on_worker_lost = True
# Take one message at a time: a worker must not hoard orders another worker could place.
worker_prefetch_multiplier = 1

# Events let operators follow tasks in Flower; arguments are only RequestIds.
worker_send_task_events = True
task_send_sent_event = True
worker_hijack_root_logger = False

# `celery -A worker beat`: maintenance (tasks/maintenance.py). Several beats are harmless, one is enough.
PURGE_INTERVAL_S = 3600  # index entries of expired final orders are dropped this often
beat_schedule = {
    "refresh-catalog": {"task": "giftq.refresh_catalog", "schedule": float(_settings.catalog_refresh_s)},
    "purge-expired-orders": {"task": "giftq.purge_expired_orders", "schedule": float(PURGE_INTERVAL_S)},
}
