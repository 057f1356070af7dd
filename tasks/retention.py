"""`giftq.erase_delivered_cards` (beat): card data is kept only as long as the producer may still need it.

The cards of an order whose producer was notified or read them are erased GIFTQ_CARD_RETENTION_S later;
the order record and its history stay (with a "cards erased after retention" note) until the record expires.
"""

from __future__ import annotations

import logging

from worker.celery import app, runtime

logger = logging.getLogger(__name__)


@app.task(name="giftq.erase_delivered_cards", expires=60)
def erase_delivered_cards() -> int:
    """Erase the cards of orders delivered more than GIFTQ_CARD_RETENTION_S ago; safe on many hosts at once."""
    rt = runtime()
    erased = rt.vault.erase_delivered(retention_s=rt.settings.card_retention_s)
    if erased:
        logger.info("erased the cards of %d delivered orders after retention", erased)
    return erased
