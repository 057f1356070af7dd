"""Maintenance run by `celery -A worker beat`: keep the catalog cache fresh, drop index entries of expired orders.

Both are safe to run on any number of hosts at once: the catalog refresh takes a lock in Redis, and the
purge only removes index entries whose records are already gone.
"""

from __future__ import annotations

import logging

from worker.app import app
from worker.errors import CatalogUnavailable
from worker.runtime import runtime

logger = logging.getLogger(__name__)


@app.task(name="giftq.refresh_catalog")
def refresh_catalog() -> int:
    """Refresh the cached catalog and accounts if they are stale, so intake rarely waits for a fetch."""
    try:
        return len(runtime().catalog.snapshot().products)
    except CatalogUnavailable as unavailable:
        logger.warning("catalog refresh failed: %s", unavailable)
        return 0


@app.task(name="giftq.purge_expired_orders")
def purge_expired_orders() -> int:
    """Drop state-index entries of final orders whose records outlived GIFTQ_ORDER_RETENTION_S."""
    purged = runtime().store.purge_expired()
    if purged:
        logger.info("purged %d index entries of expired orders", purged)
    return purged
