"""Celery configuration, read lazily by `worker.celery` (``config_from_object("config.celery")``).

Each reliability setting says why it is there: an order is money, so a task must survive a
lost worker and must never be acknowledged before it has recorded what it did.
"""

from kombu import Queue

from config.settings import OWN_QUEUES, SCHEDULE_QUEUE, SCHEDULE_TURN_AFTER, SLOTS_QUEUE, intake_queue, load_settings

_settings = load_settings()

broker_url = _settings.broker_redis_url()
# kombu's Redis transport, except that a message is known by the queue it was read from and goes back to that
# queue only, whatever its body or a binding set says (worker/broker.py): a producer's queue is its only door.
broker_transport = "worker.broker:Transport"
broker_connection_retry_on_startup = True
broker_transport_options = {
    # A message not acknowledged within this time is delivered again: that is how the tasks of a
    # worker host that died come back. It must exceed the longest task (one provider call, timeout
    # seconds) plus the longest countdown it holds (a poll's backoff, GIFTQ_POLL_MAX_INTERVAL_MS);
    # a second delivery while the first still runs is harmless (slot claims, compare-and-set states).
    "visibility_timeout": _settings.visibility_timeout_s,
    # Look for such messages every few seconds (kombu's default sweep is about 100 s).
    "unacked_restore_interval": 2,
    "unacked_restore_throttle": 1,
    # While there are new orders to take in, a worker serves the schedule queue once after every
    # SCHEDULE_TURN_AFTER messages of its other queues, not every other message as kombu's round robin would. The
    # orders taken in meanwhile wait in their credential's schedule and ride in the next slot's provider order
    # (coalescing): each Place Order, Get Order and their task messages then carry several producer orders, not one
    # or two, and a backlog is worked off in fewer of them (README, "What one order costs"). The schedule queue has
    # a turn at least once in every SCHEDULE_TURN_AFTER + 1 messages, however many intake queues are busy: a burst
    # delays its tasks by turns, never until the burst is through. With no new orders it is served at once.
    "patient_queue": SCHEDULE_QUEUE,
    "patient_turn_after": SCHEDULE_TURN_AFTER,
    # A slot of a credential whose orders cannot pack gains nothing by waiting: its task goes to the slots queue
    # (tasks/placing.py `slots_queue`), which a worker serves before any other. Taken late, it would claim its slot
    # late, and the credential's next slot counts from that claim: each turn would cost the provider's capacity and
    # save no giftq work. It carries one message per slot or look of each such credential (a Bamboo credential's are
    # at least 500 ms apart), each with its countdown, taken at once and held by the worker until its time, so it is
    # empty most of the time and its share of a worker's takes grows only with credentials, never with a burst.
    "first_queue": SLOTS_QUEUE,
}
if _settings.broker_key_prefix:
    # Lets several deployments (or test runs) share one Redis; producers must then set the same prefix.
    broker_transport_options["global_keyprefix"] = _settings.broker_key_prefix

task_serializer = "json"
accept_content = ["json"]
task_ignore_result = True  # tasks return nothing a producer needs; results live in the order store
task_default_queue = "giftq"
# The schedule's own tasks (a slot's placing, a look at a waiting schedule) and the following of placed orders
# (Get Order polls, the resolving of unknown outcomes) get queues of their own, which every worker consumes beside
# "giftq": a burst of new orders must not delay a slot's task, nor hold a placed order's poll (an ETA task is taken
# off its queue only when the worker reaches it) until the burst is through. The routes below are where a task goes
# unless sent elsewhere: `follow` (tasks/placing.py) picks the queue of each slot's task and schedule look
# (`slots_queue`: giftq.slots where the credential's orders never pack).
# Notifications get theirs too, consumed by workers of their own (Procfile: `notify`, the others `-X giftq.notify`):
# a producer's callback server, slow or trickling, must never hold a process that places or polls orders.
# Each producer that sends by task name has an intake queue of its own (GIFTQ_INTAKE_PRODUCERS), its only door.
# A worker started without -Q/-X consumes them all.
task_queues = tuple(Queue(name) for name in (*OWN_QUEUES, *map(intake_queue, _settings.intake_producers)))
task_routes = {
    **{
        name: {"queue": SCHEDULE_QUEUE}
        for name in ("giftq.place_reserved", "giftq.drive_schedule", "giftq.poll_order", "giftq.resolve_order")
    },
    "giftq.notify": {"queue": "giftq.notify"},
}

# Acknowledge after the task ran, and put it back when the worker process dies mid-task:
# the order's state machine (compare-and-set) makes a second delivery harmless.
task_acks_late = True
task_reject_on_worker_lost = True
# Take one message at a time: a worker must not hoard orders another worker could place.
worker_prefetch_multiplier = 1

# Events let operators follow tasks in Flower; arguments are only RequestIds. They cost the worker's consumer a
# quarter or more of its CPU (received, started, succeeded: a publish per task or so), so they are off unless
# asked for: a running Flower turns them on (its enable_events broadcast, every few seconds, reaches workers started
# after it too), and GIFTQ_TASK_EVENTS=true sends them from a worker's first task on. Flower learns of a task when a
# worker receives it, so giftq's own enqueues send no task-sent event: it would cost a publish per enqueue to show
# only how long the task waited in its queue.
worker_send_task_events = _settings.task_events
task_send_sent_event = False
worker_hijack_root_logger = False

# `celery -A worker beat`: maintenance (tasks/maintenance.py). Several beats are harmless, one is enough.
PURGE_INTERVAL_S = 3600  # index entries of expired final orders are dropped this often
ERASE_INTERVAL_S = 60  # cards of orders delivered more than GIFTQ_CARD_RETENTION_S ago are erased this often
beat_schedule = {
    # Restart a credential's schedule whose driver died (a lost message, a dead host).
    "kick-schedules": {"task": "giftq.kick_schedules", "schedule": 5.0},
    # Orders stuck where a dead producer or worker left them; needs_attention ones at a low rate.
    "reconcile": {"task": "giftq.reconcile", "schedule": float(_settings.reconcile_interval_s)},
    "refresh-catalog": {"task": "giftq.refresh_catalog", "schedule": float(_settings.catalog_refresh_s)},
    "purge-expired-orders": {"task": "giftq.purge_expired_orders", "schedule": float(PURGE_INTERVAL_S)},
    # Card data of delivered orders (tasks/retention.py); the records and their history stay.
    "erase-delivered-cards": {"task": "giftq.erase_delivered_cards", "schedule": float(ERASE_INTERVAL_S)},
}
