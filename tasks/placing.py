"""Placing an order inside the throttle: park -> slot -> Place Order, each slot driving the next.

`giftq.place_order` parks an accepted order in the credential's schedule (worker/throttle/scheduler.py).
The schedule is driven by one chain of tasks per credential: each `giftq.place_reserved` task
runs at its slot, claims it, places its own order and reserves the next slot for the oldest order every
limit allows (start-to-start spacing: as soon as its request has left, while the provider works on it;
end-to-start: after its call), enqueuing that slot's task; when nothing may go yet, a short
`giftq.drive_schedule` countdown looks again.
No worker waits for a slot and no order is bounced through the broker.
"""

from __future__ import annotations

import functools
import logging
import math
import time
from collections import Counter

from celery import Task
from kombu.exceptions import OperationalError
from redis.exceptions import RedisError

from config.settings import SCHEDULE_QUEUE, SLOTS_QUEUE, START_TO_START
from tasks import messages
from tasks.orders import LATE_SEND_NOTED_MS, enqueue_poll, finish_order_in_parts, needs_attention_after, reserve_get
from tasks.packs import materialize_pack, order_parts, refuse_pack
from worker import metrics
from worker.celery import app, runtime
from worker.errors import (
    NotSent,
    OrderNotFound,
    OrderRejected,
    ProviderError,
    ProviderRefused,
    RateLimited,
    UnknownOutcome,
)
from worker.orders import states
from worker.orders.continuity import StoreLost
from worker.orders.place_requests import place_request
from worker.orders.store import OrderRecord
from worker.runtime import Runtime
from worker.throttle.scheduler import Claim, Decision, Deferral, Go, LateStart, Packing, Wait

logger = logging.getLogger(__name__)

RESOLVE_AFTER_S = 2.0  # wait before resolving an unknown outcome by Get Order
NOT_SENT_ALARM = 3  # requests of a credential not sent in time in a row, in one process: the margin is too small
_not_sent_in_a_row: Counter[str] = Counter()


@app.task(name="giftq.place_order")
def place_order(request_id: str) -> str:
    """Park an accepted order in its credential's schedule (once) and drive the schedule if nobody does."""
    rt = runtime()
    record = rt.store.get(request_id)
    if record is None or record.state != states.ACCEPTED:
        return record.state if record else "missing"  # a later delivery: the order has moved on
    return park(rt, record)


def _park_again(rt: Runtime, request_id: str) -> None:
    record = rt.store.get(request_id)
    if record is not None and record.state in (states.ACCEPTED, states.SUBMITTING):
        park(rt, record)


def park(rt: Runtime, record: OrderRecord) -> str:
    """Park an accepted order in its schedule and follow the decision; `rejected` if its limits refuse it.

    A producer order of a credential that packs may ride in a pack with others (coalescing); a pack parked again
    (its slot was missed, its outcome found unknown to the provider) goes whole, with the id and lines it has.
    """
    lines = record.request["Products"]
    limits = rt.limits(record.credential)
    cards = sum(line["Quantity"] for line in lines)
    if record.parts or (not record.is_pack and cards > limits.max_cards and rt.provider(record.credential).can_pack):
        return park_parts(rt, record)
    packing = None  # only an order never given a slot may ride in a pack: one given a slot may have been sent alone
    if limits.coalesce and not record.is_pack and record.state == states.ACCEPTED:
        packing = Packing(record.request["AccountId"], [{"ProductId": line["ProductId"], "Value": line["Value"],
                                                          "Quantity": line["Quantity"]} for line in lines])  # fmt: skip
    try:
        decision = rt.throttle.park_and_schedule(
            record.credential,
            limits,
            request_id=record.request_id,
            age_ms=record.created_ms,
            product_ids=[line["ProductId"] for line in lines],
            cards=cards,
            packing=packing,
        )
    except OrderRejected as rejected:
        reject(rt, record, rejected.reason)
        return states.REJECTED
    follow(rt, record.credential, decision)
    return "parked"


def park_parts(rt: Runtime, record: OrderRecord) -> str:
    """An order of more cards than one provider order takes goes as several (tasks/packs.py, `order_parts`): park
    each part not yet given its own record (one that has it is carried by it), and follow each decision."""
    limits = rt.limits(record.credential)
    parts = order_parts(rt, record, limits.max_cards)
    placed = {part.request_id for part in rt.store.get_many([part["id"] for part in parts]) if part is not None}
    for part in parts:
        if part["id"] in placed:
            continue
        cards = sum(line["Quantity"] for line in part["lines"])
        decision = rt.throttle.park_and_schedule(
            record.credential, limits, request_id=part["id"], age_ms=record.created_ms,
            product_ids=[line["ProductId"] for line in part["lines"]], cards=cards,
        )  # fmt: skip
        follow(rt, record.credential, decision)
    return "parked"


def follow(rt: Runtime, credential: str, decision: Decision, *, retry: bool = True) -> None:
    """Enqueue what the schedule decided: a placing task at its slot, or the next look at the schedule.

    Countdowns count from the clock the decision was made on (Redis's, returned by the script). The queue is
    `slots_queue`'s. A message per slot: sent in one LPUSH (tasks/messages.py).
    """
    if isinstance(decision, Go):
        lead_ms = rt.limits(credential).lead_ms
        countdown_s = max(0, decision.slot_ms - lead_ms - (decision.now_ms or rt.now_ms())) / 1000
        messages.send(place_reserved, [credential, decision.request_id, decision.slot_ms, decision.token],
                      queue=slots_queue(rt, credential), countdown_s=countdown_s, retry=retry)  # fmt: skip
    elif isinstance(decision, Wait):
        countdown_s = max(0, decision.due_ms - (decision.now_ms or rt.now_ms())) / 1000
        messages.send(drive_schedule, [credential, decision.token], queue=slots_queue(rt, credential),
                      countdown_s=countdown_s, retry=retry)  # fmt: skip


def slots_queue(rt: Runtime, credential: str) -> str:
    """The queue of a slot's task (or of a look at the schedule) of `credential`.

    Where orders pack, SCHEDULE_QUEUE: while a slot's task waits its turn behind new orders, those taken in
    meanwhile park at the credential and ride in its provider order, so a burst is placed in fewer, fuller provider
    orders (giftq's own work per order, not the provider's limits, binds there). Where orders never pack, waiting
    grows nothing: SLOTS_QUEUE, which workers serve before any other (config/celery.py). A slot's task taken late
    claims late, and the credential's next slot counts from that claim.
    """
    return SCHEDULE_QUEUE if rt.limits(credential).coalesce else SLOTS_QUEUE  # off where the provider cannot pack


@app.task(name="giftq.drive_schedule")
def drive_schedule(credential: str, token: str) -> None:
    """Look at the schedule again as the holder of `token` (or take it over if its driver is gone)."""
    rt = runtime()
    follow(rt, credential, rt.throttle.schedule_next(credential, rt.limits(credential), token))


@app.task(name="giftq.place_reserved", bind=True, max_retries=None)
def place_reserved(self: Task, credential: str, request_id: str, slot_ms: int, token: str) -> str:
    """At its slot: claim it, place the order, and drive the schedule on.

    Everything that can be done before the claim is (loading the order, marking it `submitting`), so
    little but the HTTP request stands between the claim and the call's arrival at the provider. With
    start-to-start spacing the next slot counts from this claim (or from the send, if the request left late),
    so the schedule is handed on to another task as soon as the request is written: a slow answer does not
    slow the credential. With end-to-start spacing it counts from the call's end, so this task drives it on
    afterwards.
    """
    rt = runtime()
    try:  # the check of the store, the order and Redis's clock in one round trip
        record, now_ms = rt.store.get_with_clock(request_id, checked=rt.continuity)
    except StoreLost as lost:  # nothing is placed on a store that forgot what it held; the slot stays unclaimed
        logger.critical("order %s not placed: %s", request_id, lost)
        return "store lost"
    read_at = time.monotonic()  # when Redis's clock said now_ms, on this host's clock
    limits = rt.limits(credential)
    if record is None or record.is_pack:  # a pack: its record and its members' `packed`, written before its claim
        record = materialize_pack(rt, credential, request_id) or record
    early_ms = slot_ms - now_ms
    if early_ms > limits.lead_ms + limits.margin_ms:
        raise self.retry(countdown=(early_ms - limits.lead_ms) / 1000)  # this host's clock runs ahead
    record = _ready_to_call(rt, record)
    start_to_start = limits.spacing_mode == START_TO_START
    if start_to_start:
        _ready_to_hand_on()
    rt.provider(credential).warm()  # a connection to the provider, opened before the claim if the last was closed
    if early_ms > 0:  # align to the slot (at most lead_ms), on Redis's clock as read above: no round trip to ask it
        time.sleep(max(0.0, (slot_ms - now_ms) / 1000 - (time.monotonic() - read_at)))
    # The next slot starts at least spacing + margin after this claim. A request started within half the margin
    # of it leaves the other half for the network and the provider (see _checkout).
    claimed_at = time.monotonic()
    send_by = claimed_at + limits.margin_ms / 2000
    claim = rt.throttle.claim(credential, limits, request_id, slot_ms)
    if claim.outcome == "early":  # this host's clock and Redis's disagree: come back at the slot
        raise self.retry(countdown=claim.ms / 1000)
    started_ms = slot_ms + claim.ms
    when_sent = _WhenSent(rt, credential, record, started_ms, claimed_at, token if start_to_start else None)
    try:
        return _use_claim(rt, credential, record, request_id, claim, send_by, when_sent)
    finally:
        if not start_to_start and claim.outcome == "call":  # only a claim that called ends a call
            rt.throttle.release(credential)
        if not when_sent.handed_on:
            _drive_after_call(rt, credential, token, when_sent.unnoted)


def _use_claim(
    rt: Runtime,
    credential: str,
    record: OrderRecord | None,
    request_id: str,
    claim: Claim,
    send_by: float,
    when_sent: _WhenSent,
) -> str:
    """Place the order if the claim says call; park it again if the slot was given up."""
    if claim.outcome in ("call", "late"):
        metrics.SLOT_CLAIM_LATENESS.labels(credential).observe(max(0, claim.ms) / 1000)
    if claim.outcome == "call":
        metrics.SLOTS_USED.labels(credential).inc()
        return _checkout(rt, credential, record, send_by, when_sent) if record else "slot unused"
    if claim.outcome in ("late", "held"):
        metrics.SLOTS_GIVEN_UP.labels(credential, claim.outcome).inc()
    if claim.outcome == "late":
        logger.warning("order %s: slot missed by %d ms (past the lease); parked again", request_id, claim.ms)
        _park_again(rt, request_id)
    elif claim.outcome == "held":
        logger.info("order %s: credential on hold for %d ms (429); parked again", request_id, claim.ms)
        _park_again(rt, request_id)
    return claim.outcome


@functools.cache
def _ready_to_hand_on() -> None:
    """Pay a process's first-publish costs (broker connection, queue declarations, the result backend lookup that
    `apply_async` makes) before its first claim.

    Paid at the first hand-off, they would delay the next slot's reservation by tens of ms. If the broker cannot
    be reached now, the first hand-off pays them (or fails, and this task drives after its call).
    """
    try:
        app.backend  # noqa: B018 - looked up on first use
        with app.producer_or_acquire() as producer:
            for queue in app.amqp.queues.values():
                producer.maybe_declare(queue)
    except (OperationalError, RedisError, OSError) as error:
        logger.warning("could not prepare publishing (%s)", type(error).__name__)


class _WhenSent:
    """What a placing task does the moment its request has been written (worker/providers/http.py).

    A request that left more than LATE_SEND_NOTED_MS after its claim (the process was descheduled in between)
    moves the call's start to when it left, so the next slot keeps the spacing from where the provider sees the
    call begin. Then, with start-to-start spacing, the next slot's reservation is handed to another task, while
    the provider works on this call: done before the send, it would compete with it for this process.
    """

    def __init__(self, rt: Runtime, credential: str, record: OrderRecord | None, started_ms: int,
                 claimed_at: float, token: str | None):  # fmt: skip
        self._rt, self._credential, self._record = rt, credential, record
        self.started_ms, self._claimed_at, self._token = started_ms, claimed_at, token
        self.handed_on = False  # if it stays False, the placing task drives the schedule itself, at its end
        self.unnoted: LateStart | None = None  # a late start the hand-on could not write: noted when it drives

    def __call__(self, sent_at: float) -> None:
        # Late by at least the time from before the claim to after the write: never an earlier start than the real.
        late_ms = math.ceil((sent_at - self._claimed_at) * 1000)
        late = None
        if self._record is not None and late_ms > LATE_SEND_NOTED_MS:
            product_ids = tuple(line["ProductId"] for line in self._record.request["Products"])
            late = LateStart(self._record.request_id, self.started_ms, self.started_ms + late_ms, product_ids)
        if self._token is not None:  # the note rides in the hand-on's own script call
            self._hand_on(late)
        elif late is not None:
            self._note_late_start(late)

    def _hand_on(self, late: LateStart | None) -> None:
        """Note a late start (if any) and reserve the next slot now, in one script call, while the provider works
        on this call, and enqueue its placing task. If Redis or the broker refuses, this task drives the schedule
        again after its call, noting the late start then if it was not written now.

        It is what a `giftq.drive_schedule` task would do, done here without the hop through the broker: the
        request has left, so it no longer competes with the send. No publish retries: the call's answer waits.
        """
        rt, credential = self._rt, self._credential
        self.unnoted = late
        try:
            decision = _next_decision(rt, credential, self._token, late)
            self.unnoted = None
            follow(rt, credential, decision, retry=False)
        except (OperationalError, RedisError, OSError) as error:
            logger.warning("schedule of %s not handed on during the call (%s); driven after it", credential,
                           type(error).__name__)  # fmt: skip
            return
        self.handed_on = True

    def _note_late_start(self, late: LateStart) -> None:
        try:
            moved = self._rt.throttle.note_sent(self._credential, late.request_id, late.started_ms, late.sent_ms,
                                                late.product_ids)  # fmt: skip
        except RedisError as error:
            logger.warning("order %s: sent %d ms after its claim, not noted (%s)", late.request_id,
                           late.sent_ms - late.started_ms, type(error).__name__)  # fmt: skip
            return
        _log_late_start(late, moved)


def _log_late_start(late: LateStart, moved: bool) -> None:
    logger.info("order %s: sent %d ms after its claim; the next slot counts from the send%s", late.request_id,
                late.sent_ms - late.started_ms, "" if moved else " (too late: it was reserved already)")  # fmt: skip


def _next_decision(rt: Runtime, credential: str, token: str, late: LateStart | None) -> Decision:
    """The schedule's next decision as the holder of `token`, with a late start (if any) noted first in the same
    script call."""
    if late is None:
        return rt.throttle.schedule_next(credential, rt.limits(credential), token)
    moved, decision = rt.throttle.note_sent_and_schedule_next(credential, rt.limits(credential), token, late)
    _log_late_start(late, moved)
    return decision


def _drive_after_call(rt: Runtime, credential: str, token: str, unnoted: LateStart | None) -> None:
    """Drive the schedule on after the call, as `giftq.drive_schedule` does; first noting, in the same script
    call, a late start the hand-on during the call could not write."""
    follow(rt, credential, _next_decision(rt, credential, token, unnoted))


def _ready_to_call(rt: Runtime, record: OrderRecord | None) -> OrderRecord | None:
    """The order (as just read), marked `submitting`, if its slot should be used to place it; None if it has moved
    on."""
    if record is None or record.state not in (states.ACCEPTED, states.SUBMITTING):
        return None
    if record.state == states.ACCEPTED and not rt.store.transition(record.request_id, states.SUBMITTING):
        # Moved since it was read. Another delivery of this very message may have marked it `submitting` first:
        # it is still to be placed, by whichever of the two claims the slot (only a claim calls). Giving up here
        # would let this one claim the slot and call nobody, leaving the order to reconciliation.
        again = rt.store.get(record.request_id)
        return again if again is not None and again.state == states.SUBMITTING else None
    return record


def _checkout(rt: Runtime, credential: str, record: OrderRecord, send_by: float, when_sent: _WhenSent) -> str:
    """Call Place Order for an order that owns a slot now (claimed when `when_sent` says). Only a slot holder gets
    here.

    A request that cannot be sent by `send_by` (time.monotonic()) is not sent: it could arrive too close to
    the next slot's call. Its product-window entries are given back at once (the spacing slot is spent: the
    next one was reserved from this claim) and the order is parked again.
    """
    request_id = record.request_id
    try:
        _send(rt, credential, record, send_by, when_sent)
    except NotSent as not_sent:
        product_ids = [line["ProductId"] for line in record.request["Products"]]
        rt.throttle.give_back(credential, request_id, when_sent.started_ms, product_ids)
        metrics.SLOTS_GIVEN_UP.labels(credential, "not_sent").inc()
        _park_again(rt, request_id)
        misses = _not_sent_in_a_row[credential]
        if misses < NOT_SENT_ALARM:
            logger.warning("order %s: not sent in time (%s); parked again", request_id, not_sent)
        else:
            setting = f"GIFTQ_{record.provider.upper()}_MARGIN_MS"
            logger.error("order %s: not sent in time (%s); parked again. %d in a row in this process: raise %s "
                         "(half of it is the send budget)", request_id, not_sent, misses, setting)  # fmt: skip
        return "not sent"
    except OrderRejected as rejected:
        reject(rt, record, rejected.reason)
        logger.info("order %s rejected by the provider: %s", request_id, rejected.reason)
        return states.REJECTED
    except RateLimited as limited:
        logger.warning("order %s: provider asked to wait %g s; credential held, order parked again", request_id,
                       limited.wait_s)  # fmt: skip
        rt.throttle.hold(credential, int(limited.wait_s * 1000))
        metrics.THROTTLE_HOLDS.labels(credential).inc()
        _park_again(rt, request_id)
        return "rate limited"
    except ProviderRefused as refused:  # a revoked credential, ...: not placed, and no retry would place it
        return needs_attention_after(rt, request_id, refused, call="Place Order")
    except UnknownOutcome as unknown:
        logger.warning("order %s: unknown outcome (%s); resolving by Get Order", request_id, unknown)
        resolve_order.apply_async(args=[request_id], countdown=RESOLVE_AFTER_S)
        return "unknown outcome"
    return mark_placed(rt, request_id, note="", provider=record.provider)


def _send(rt: Runtime, credential: str, record: OrderRecord, send_by: float, when_sent: _WhenSent) -> None:
    """Place Order, counting this process's requests of the credential in a row that were not sent in time."""
    not_sent = False
    try:
        with metrics.provider_call(metrics.PLACE_ORDER, record.provider):
            rt.provider(credential).place(place_request(record), send_by=send_by, on_sent=when_sent)
    except NotSent:
        not_sent = True
        raise
    finally:
        _not_sent_in_a_row[credential] = _not_sent_in_a_row[credential] + 1 if not_sent else 0


def reject(rt: Runtime, record: OrderRecord, reason: str) -> None:
    """The order is refused with `reason` (nothing was charged); a refused pack is split (tasks/packs.py), and the
    packs made of its other members are driven on."""
    if not record.is_pack:
        rt.store.transition(record.request_id, states.REJECTED, note=reason, reason=reason)
        return
    if record.part_of:  # one part of an order in parts: the order ends by what its parts got
        rt.store.transition(record.request_id, states.REJECTED, note=reason, reason=reason)
        rt.throttle.forget_pack(record.credential, record.request_id, [])
        finish_order_in_parts(rt, record.part_of)
        return
    refuse_pack(rt, record, reason)
    follow(rt, record.credential, rt.throttle.schedule_next(record.credential, rt.limits(record.credential), ""))


def mark_placed(rt: Runtime, request_id: str, *, note: str, provider: str) -> str:
    """Record that the provider has the order and start polling it."""
    if rt.store.transition(request_id, states.PLACED, note=note):
        metrics.ORDERS_PLACED.labels(provider).inc()
    enqueue_poll(rt, request_id, attempt=0)
    return states.PLACED


@app.task(name="giftq.resolve_order", bind=True, max_retries=None)
def resolve_order(self: Task, request_id: str) -> str:
    """An unknown outcome: ask Get Order. Known -> placed; unknown to the provider -> park to place again."""
    rt = runtime()
    record = rt.store.get(request_id)
    if record is None or record.state != states.SUBMITTING:
        return record.state if record else "missing"
    allowed = reserve_get(rt, record.credential)
    if isinstance(allowed, Deferral):
        raise self.retry(countdown=allowed.wait_ms / 1000)
    try:
        with metrics.provider_call(metrics.GET_ORDER, record.provider):
            rt.provider(record.credential).get(record.provider_request_id, on_sent=allowed)
    except OrderNotFound:
        return park(rt, record)
    except ProviderRefused as refused:
        return needs_attention_after(rt, request_id, refused, call="Get Order")
    except ProviderError as error:
        wait_s = error.wait_s if isinstance(error, RateLimited) else RESOLVE_AFTER_S
        raise self.retry(countdown=wait_s) from None
    return mark_placed(rt, request_id, note="found by Get Order", provider=record.provider)
