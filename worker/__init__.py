"""giftq's worker: the Celery app and what the tasks stand on, in wings.

At this top level: the Celery app (`celery.py`, which `celery -A worker` finds as `worker.celery:app`),
the per-process runtime that wires the wings together (`runtime.py`), the task base class (`delivery.py`),
errors, redaction, Redis key names and the Lua loader. The wings are `orders/` (the order store and
everything that keeps a producer's order), `throttle/` (the scheduler of provider limits), `providers/`
(one client per provider behind one interface) and `cli/` (the `giftq` command and local process tooling).
This file imports nothing, so importing any part of giftq never loads the Celery app as a side effect.
"""
