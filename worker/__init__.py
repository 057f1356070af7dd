"""giftq's worker: the Celery app and what the tasks stand on."""

from worker.app import app

__all__ = ["app"]
