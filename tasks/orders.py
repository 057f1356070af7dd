"""An order's life as tasks: place -> poll, and the finish that writes the result (intake is tasks.intake).

Task arguments are RequestIds. Task return values carry states, never cards.
"""

from __future__ import annotations

import json
import logging
from decimal import Decimal

from celery import Task

from worker import states
from worker.app import app
from worker.errors import OrderNotFound, OrderRejected, ProviderError, RateLimited, UnknownOutcome
from worker.providers.base import FAILED, PARTIALLY_FAILED, OrderLine, PlaceRequest, ProviderOrder
from worker.runtime import Runtime, runtime
from worker.store import OrderRecord
from worker.throttle import Deferral

logger = logging.getLogger(__name__)

UNKNOWN_OUTCOME_RECHECK_S = 2.0  # wait before resolving an unknown outcome by Get Order
FINAL_STATE_OF = {FAILED: states.FAILED, PARTIALLY_FAILED: states.PARTIALLY_FULFILLED}


def enqueue_place(request_id: str) -> None:
    """Enqueue the placing of a stored order."""
    place_order.apply_async(args=[request_id])


@app.task(name="giftq.place_order", bind=True, max_retries=None)
def place_order(self: Task, request_id: str, resume: bool = False) -> str:
    """Take a throttle slot, mark the order `submitting`, call Place Order, then chain the poll."""
    rt = runtime()
    record = rt.store.get(request_id)
    if record is None:
        logger.warning("place_order: no order %s", request_id)
        return "missing"
    if record.state == states.SUBMITTING and resume:
        try:
            if _provider_has(rt, record):
                return _placed(rt, record, note="found by Get Order")
        except ProviderError as error:
            logger.warning("order %s: Get Order failed (%s); resolving again later", request_id, error)
            raise self.retry(countdown=_retry_after(error), kwargs={"resume": True}) from None
    elif record.state != states.ACCEPTED:
        return record.state  # another delivery already took it; the state machine decides
    decision = rt.throttle.reserve_or_defer(rt.provider.credential, spacing_ms=rt.provider.spacing_ms)
    if isinstance(decision, Deferral):
        raise self.retry(countdown=decision.wait_ms / 1000, kwargs={"resume": resume})
    if record.state == states.ACCEPTED and not rt.store.transition(request_id, states.SUBMITTING):
        return "lost race"
    return _checkout(self, rt, record)


def _checkout(task: Task, rt: Runtime, record: OrderRecord) -> str:
    try:
        rt.provider.place(_place_request(record))
    except OrderRejected as rejected:
        rt.store.transition(record.request_id, states.REJECTED, note=rejected.reason, reason=rejected.reason)
        logger.info("order %s rejected by the provider: %s", record.request_id, rejected.reason)
        return states.REJECTED
    except RateLimited as limited:
        raise task.retry(countdown=limited.wait_s, kwargs={"resume": True}) from None
    except UnknownOutcome as unknown:
        logger.warning("order %s: unknown outcome (%s); resolving by Get Order", record.request_id, unknown)
        raise task.retry(countdown=UNKNOWN_OUTCOME_RECHECK_S, kwargs={"resume": True}) from None
    return _placed(rt, record, note="")


def _provider_has(rt: Runtime, record: OrderRecord) -> bool:
    try:
        rt.provider.get(record.provider_request_id)
    except OrderNotFound:
        return False
    return True


def _placed(rt: Runtime, record: OrderRecord, *, note: str) -> str:
    rt.store.transition(record.request_id, states.PLACED, note=note)
    poll_order.apply_async(args=[record.request_id], countdown=rt.settings.poll_interval_ms / 1000)
    return states.PLACED


@app.task(name="giftq.poll_order", bind=True, max_retries=None)
def poll_order(self: Task, request_id: str, attempt: int = 0) -> str:
    """Get Order with backoff until the order is final or its deadline passes."""
    rt = runtime()
    record = rt.store.get(request_id)
    if record is None or record.state != states.PLACED:
        return record.state if record else "missing"
    try:
        provider_order = rt.provider.get(record.provider_request_id)
    except RateLimited as limited:
        raise self.retry(countdown=limited.wait_s, kwargs={"attempt": attempt}) from None
    except ProviderError as error:
        logger.warning("order %s: Get Order failed (%s); polling again", request_id, error)
        provider_order = None
    if provider_order is not None and provider_order.final:
        return finish(rt, record, provider_order)
    if _past_deadline(rt, record):
        rt.store.transition(request_id, states.NEEDS_ATTENTION, note="poll deadline passed")
        return states.NEEDS_ATTENTION
    raise self.retry(countdown=_backoff_s(rt, attempt), kwargs={"attempt": attempt + 1})


def finish(rt: Runtime, record: OrderRecord, provider_order: ProviderOrder) -> str:
    """Write the final result: cards encrypted, a summary in clear (counts only), the final state."""
    issued = [card for card in provider_order.cards if card.issued]
    state = FINAL_STATE_OF.get(provider_order.status, states.FULFILLED)
    summary = {"cards_issued": len(issued), "cards_failed": len(provider_order.cards) - len(issued)}
    fields = {"summary": _json(summary)}
    if issued:
        fields["cards"] = rt.cipher.encrypt([card.to_secret_dict() for card in issued])
    if state == states.FAILED:
        fields["reason"] = "ProviderFailed"
    rt.store.transition(record.request_id, state, note=fields.get("reason", ""), **fields)
    logger.info("order %s %s: %d cards issued", record.request_id, state, len(issued))
    return state


def _place_request(record: OrderRecord) -> PlaceRequest:
    request = record.request
    lines = tuple(
        OrderLine(product_id=line["ProductId"], quantity=line["Quantity"], value=Decimal(line["Value"]))
        for line in request["Products"]
    )
    return PlaceRequest(request_id=record.provider_request_id, account_id=request["AccountId"], lines=lines)


def _retry_after(error: ProviderError) -> float:
    return error.wait_s if isinstance(error, RateLimited) else UNKNOWN_OUTCOME_RECHECK_S


def _past_deadline(rt: Runtime, record: OrderRecord) -> bool:
    now_s, _ = rt.redis.time()
    return now_s * 1000 - record.updated_ms > rt.settings.poll_deadline_s * 1000


def _backoff_s(rt: Runtime, attempt: int) -> float:
    return min(rt.settings.poll_interval_ms * 2**attempt, rt.settings.poll_max_interval_ms) / 1000


def _json(value: object) -> str:
    return json.dumps(value, sort_keys=True)
