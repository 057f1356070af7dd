"""Beat tasks: keep every credential's schedule driven, reconcile orders left where a process died,
keep the catalog cache fresh and drop index entries of expired orders.

Every task is safe on any number of hosts at once (scheduler tokens, locks, compare-and-set states), and
every action is logged with the RequestId and what was done, never with card data.
"""

from __future__ import annotations

import logging

from tasks.notify import enqueue_notify
from tasks.orders import enqueue_poll, finish, finish_order_in_parts, reserve_get
from tasks.packs import carry_out_split
from tasks.placing import follow, park_parts, place_order, resolve_order
from worker import metrics
from worker.celery import app, runtime
from worker.errors import CatalogUnavailable, ProviderError
from worker.orders import states
from worker.orders.continuity import StoreLost
from worker.runtime import Runtime
from worker.throttle.scheduler import Deferral

logger = logging.getLogger(__name__)

BATCH = 500  # orders looked at per state and run
ATTENTION_BATCH = 20  # needs_attention orders looked at per run (each costs a Get Order)


@app.task(name="giftq.kick_schedules", expires=10)
def kick_schedules() -> None:
    """Restart the schedule of any credential whose driver died (a lost message, a dead host).

    Every tick first checks, and moves on, the store's marker: a store that lost its data stops placing.
    """
    rt = runtime()
    try:
        rt.continuity.check(advance=True)
    except StoreLost as lost:
        logger.critical("%s", lost)
        return
    for credential in rt.providers:
        follow(rt, credential, rt.throttle.schedule_next(credential, rt.limits(credential), ""))


@app.task(name="giftq.reconcile", expires=60)
def reconcile() -> dict[str, int]:
    """Find orders stuck in `accepted`, `submitting` or `placed`, and look at `needs_attention` ones again."""
    rt = runtime()
    now_ms = rt.now_ms()
    stuck_before = now_ms - rt.settings.stuck_after_s * 1000
    done = {
        "re-enqueued": _accepted(rt, stuck_before),
        "resolving": _submitting(rt, stuck_before),
        "polling again": _placed(rt, stuck_before - rt.settings.poll_max_interval_ms),
        "splits finished": _packed(rt, stuck_before),
        "looked at": _needs_attention(rt, now_ms),
        "notifications started": _unnotified(rt, stuck_before),
    }
    if any(done.values()):
        logger.info("reconcile: %s", ", ".join(f"{count} {action}" for action, count in done.items()))
    return done


def _not_in_schedule(rt: Runtime, request_ids: list[str]) -> list[str]:
    """The orders the throttle neither parks nor has given a slot: nothing will move them on its own."""
    lost, now_ms = [], rt.now_ms()
    for request_id in request_ids:
        record = rt.store.get(request_id)
        if record and not rt.throttle.holds(record.credential, rt.limits(record.credential), request_id, now_ms=now_ms):
            lost.append(request_id)
    return lost


def _accepted(rt: Runtime, before_ms: int) -> int:
    """A producer path died between storing and enqueuing, or the message was lost: enqueue again."""
    lost = _not_in_schedule(rt, rt.store.request_ids(states.ACCEPTED, BATCH, before_ms=before_ms))
    for request_id in lost:
        logger.warning("reconcile: order %s stuck in accepted; enqueued again", request_id)
        place_order.delay(request_id)
    return len(lost)


def _submitting(rt: Runtime, before_ms: int) -> int:
    """A worker died around its Place Order call: the outcome is unknown, so resolve it by Get Order."""
    lost = _not_in_schedule(rt, rt.store.request_ids(states.SUBMITTING, BATCH, before_ms=before_ms))
    for request_id in lost:
        logger.warning("reconcile: order %s stuck in submitting; resolving its outcome", request_id)
        resolve_order.delay(request_id)
    return len(lost)


def _packed(rt: Runtime, before_ms: int) -> int:
    """A refused pack's split was cut short (its worker died): finish it from the plan in the pack's record. An order
    in parts: park again a part that lost its placing, end the order once every part is final."""
    members = rt.store.get_many(rt.store.request_ids(states.PACKED, BATCH, before_ms=before_ms))
    packs = {record.pack for record in members if record is not None and record.pack}
    finished = 0
    for record in (member for member in members if member is not None and member.parts):
        park_parts(rt, record)  # a part whose placing was lost before its record was written is parked again
        finish_order_in_parts(rt, record.request_id)  # every part final, the order not yet: it ends now
    for pack in filter(None, rt.store.get_many(sorted(packs))):
        if pack.state == states.REJECTED and pack.split:
            logger.warning("reconcile: provider order %s was refused and its split cut short; finishing it",
                           pack.request_id)  # fmt: skip
            carry_out_split(rt, pack)
            follow(rt, pack.credential, rt.throttle.schedule_next(pack.credential, rt.limits(pack.credential), ""))
            finished += 1
    return finished


def _placed(rt: Runtime, before_ms: int) -> int:
    """A poll chain died (its worker was lost after its step): start a new one."""
    stale = rt.store.request_ids(states.PLACED, BATCH, before_ms=before_ms)
    for request_id in stale:
        logger.warning("reconcile: order %s not polled lately; polling again", request_id)
        rt.store.touch(request_id, states.PLACED, rt.now_ms())
        enqueue_poll(rt, request_id, attempt=rt.now_ms())
    return len(stale)


def _unnotified(rt: Runtime, before_ms: int) -> int:
    """A process died between an order's final move and enqueuing its notification: enqueue it now.

    Each run reads the next BATCH final orders of each state, from where the last run stopped, and starts over
    at the end: however many final orders there are, every one is looked at. Only notifications never begun
    are started here; one under way retries by itself (its message comes back if its worker dies), and
    attempt 0 runs at most once however often it is enqueued.
    """
    started = 0
    for state in sorted(states.FINAL):
        cursor_key = rt.keys.reconcile_cursor(state)
        page = rt.store.page(state, limit=BATCH, after=(rt.redis.get(cursor_key) or b"").decode() or None)
        for record in page.orders:
            if record.updated_ms < before_ms and record.notify and not record.notification:
                logger.warning("reconcile: order %s is %s but its producer was never told; notifying",
                               record.request_id, state)  # fmt: skip
                enqueue_notify(record.request_id, attempt=0)
                started += 1
        if page.next_cursor and page.orders:
            rt.redis.set(cursor_key, page.next_cursor)
        else:
            rt.redis.delete(cursor_key)
    return started


def _needs_attention(rt: Runtime, now_ms: int) -> int:
    """Orders past their deadline: one Get Order each, at a low rate, until the provider says final."""
    before_ms = now_ms - rt.settings.attention_interval_s * 1000
    looked = 0
    for request_id in rt.store.request_ids(states.NEEDS_ATTENTION, ATTENTION_BATCH, before_ms=before_ms):
        record = rt.store.get(request_id)
        allowed = reserve_get(rt, record.credential) if record is not None else None
        if allowed is None or isinstance(allowed, Deferral):
            break
        rt.store.touch(request_id, states.NEEDS_ATTENTION, now_ms)
        looked += 1
        try:
            with metrics.provider_call(metrics.GET_ORDER, record.provider):
                provider_order = rt.provider(record.credential).get(record.provider_request_id, on_sent=allowed)
        except ProviderError as error:
            logger.warning("reconcile: order %s needs attention; Get Order failed (%s)", request_id, error)
            continue
        if provider_order.final:
            logger.info("reconcile: order %s needs attention; the provider says it is final", request_id)
            finish(rt, record, provider_order)
    return looked


@app.task(name="giftq.refresh_catalog")
def refresh_catalog() -> int:
    """Refresh the cached catalog and accounts if they are stale, so intake rarely waits for a fetch."""
    try:
        rt = runtime()
        return sum(len(rt.catalog(credential).snapshot().products) for credential in rt.providers)
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
