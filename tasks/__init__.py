"""Celery tasks, addressed by name (`giftq.*`) so producers never import giftq."""
