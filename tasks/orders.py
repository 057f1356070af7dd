"""An order's life as tasks: (tasks/intake.py) submit, (tasks/placing.py) place, then poll and finish here.

Task arguments are RequestIds. Task return values carry states, never cards.
"""

from __future__ import annotations

import json
import logging
import uuid

from celery import Task

from worker import metrics
from worker.celery import app, runtime
from worker.errors import ProviderAuthFailed, ProviderError, ProviderRefused, RateLimited
from worker.orders import states
from worker.orders.store import OrderRecord
from worker.providers.base import FAILED, PARTIALLY_FAILED, ProviderOrder
from worker.runtime import Runtime
from worker.throttle.scheduler import Deferral

logger = logging.getLogger(__name__)

FINAL_STATE_OF = {FAILED: states.FAILED, PARTIALLY_FAILED: states.PARTIALLY_FULFILLED}


def enqueue_place(request_id: str) -> None:
    """Enqueue the placing of a stored order."""
    app.send_task("giftq.place_order", args=[request_id])


def enqueue_poll(rt: Runtime, request_id: str, *, attempt: int) -> None:
    """Enqueue the next Get Order of a placed order, after the backoff of its attempt."""
    delay_ms = min(rt.settings.poll_interval_ms * 2 ** min(attempt, 20), rt.settings.poll_max_interval_ms)
    poll_order.apply_async(args=[request_id], kwargs={"attempt": attempt}, countdown=delay_ms / 1000)


def poll_now(request_id: str) -> None:
    """Enqueue a Get Order of the order now, outside its backoff (a provider webhook said it is final)."""
    app.send_task("giftq.poll_order", args=[request_id], kwargs={"attempt": 0, "trigger": f"now-{uuid.uuid4().hex}"})


@app.task(name="giftq.poll_order", bind=True, max_retries=None)
def poll_order(self: Task, request_id: str, attempt: int = 0, trigger: str = "") -> str:
    """Get Order, within the credential's Get Order limit, until the order is final or its deadline passes."""
    rt = runtime()
    record = rt.store.get(request_id)
    if record is None or record.state not in (states.PLACED, states.NEEDS_ATTENTION):
        return record.state if record else "missing"
    if record.state == states.NEEDS_ATTENTION and not trigger:
        return record.state  # past its deadline: only reconciliation and webhooks look at it now
    allowed = rt.throttle.reserve_get(record.credential, rt.limits(record.credential))
    if isinstance(allowed, Deferral):
        raise self.retry(countdown=allowed.wait_ms / 1000, kwargs={"attempt": attempt, "trigger": trigger})
    step = f"poll-{attempt}-{self.request.retries}{trigger}"
    if not rt.store.begin_step(request_id, step, lease_s=int(rt.settings.provider(record.provider).timeout_s * 3)):
        return "duplicate delivery"  # another delivery of this poll runs or ran: one chain of polls only
    try:
        with metrics.provider_call(metrics.GET_ORDER, record.provider):
            provider_order = rt.provider(record.credential).get(record.provider_request_id)
    except RateLimited as limited:
        raise self.retry(countdown=limited.wait_s, kwargs={"attempt": attempt, "trigger": trigger}) from None
    except ProviderRefused as refused:
        rt.store.end_step(request_id, step)
        return needs_attention_after(rt, request_id, refused, call="Get Order")
    except ProviderError as error:
        logger.warning("order %s: Get Order failed (%s); polling again", request_id, error)
        provider_order = None
    outcome = _after_poll(rt, record, provider_order, attempt, chained=not trigger, now_ms=allowed.at_ms)
    rt.store.end_step(request_id, step)
    return outcome


def _after_poll(
    rt: Runtime,
    record: OrderRecord,
    provider_order: ProviderOrder | None,
    attempt: int,
    *,
    chained: bool,
    now_ms: int,
) -> str:
    """Finish a final order; otherwise keep the order's one chain of polls going (a triggered poll is no link).

    `now_ms`: when the Get Order call was reserved, on Redis's clock (the deadline needs no clock read of its own).
    """
    if provider_order is not None and provider_order.final:
        return finish(rt, record, provider_order)
    if not chained:
        return "not final yet"
    if now_ms - record.updated_ms > rt.settings.poll_deadline_s * 1000:
        if rt.store.transition(record.request_id, states.NEEDS_ATTENTION, note="poll deadline passed"):
            metrics.NEEDS_ATTENTION.labels("poll_deadline").inc()
        return states.NEEDS_ATTENTION
    rt.store.touch(record.request_id, states.PLACED, now_ms)
    enqueue_poll(rt, record.request_id, attempt=attempt + 1)
    return "polling"


def needs_attention_after(rt: Runtime, request_id: str, refused: ProviderRefused, *, call: str) -> str:
    """The provider refused the order's `call` in a way no retry changes (a revoked credential, ...): the order
    needs attention, with the refusal's reason, and an ERROR names what to fix (a credential by its id only).

    Nothing retries it; reconciliation looks at it at a low rate, so once an operator has fixed the cause an order
    the provider has is finished from Get Order.
    """
    moved = rt.store.transition(request_id, states.NEEDS_ATTENTION, note=refused.reason, reason=refused.reason)
    if moved:
        metrics.NEEDS_ATTENTION.labels("refused").inc()
    if isinstance(refused, ProviderAuthFailed):
        fix = f"check credential {refused.client_id!r}: its client id and secret in the settings, its access there"
    else:
        fix = "check the provider's base URL and what it answers"
    logger.log(logging.ERROR if moved else logging.WARNING, "order %s: %s refused for good (%s); it needs attention "
               "and is not retried: %s", request_id, call, refused, fix)  # fmt: skip
    return states.NEEDS_ATTENTION


def finish(rt: Runtime, record: OrderRecord, provider_order: ProviderOrder) -> str:
    """Write the final result: cards encrypted, a summary in clear (counts only), the final state."""
    issued = [card for card in provider_order.cards if card.issued]
    not_issued = [card for card in provider_order.cards if not card.issued]
    state = FINAL_STATE_OF.get(provider_order.status, states.FULFILLED)
    # A card may stand for several (a BHN e-gift URL shows all of its line's cards): counted by quantity.
    summary = {"cards_issued": sum(c.quantity for c in issued), "cards_failed": sum(c.quantity for c in not_issued)}
    if not_issued:  # which cards were not issued: the provider's card id and product, never a code
        summary["failed_cards"] = [{"product_id": c.product_id, "card_id": c.card_id} for c in not_issued]
    fields = {"summary": json.dumps(summary, sort_keys=True)}
    if issued:
        fields["cards"] = rt.cipher.encrypt([card.to_secret_dict() for card in issued], record.cards_context)
    fields["reason"] = "ProviderFailed" if state == states.FAILED else ""  # a needs_attention reason is over
    if rt.store.transition(record.request_id, state, note=fields.get("reason", ""), **fields):
        metrics.CARDS_ISSUED.labels(record.provider).inc(summary["cards_issued"])
    logger.info("order %s %s: %d cards issued", record.request_id, state, summary["cards_issued"])
    return state
