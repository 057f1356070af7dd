"""An order's life as tasks: (tasks/intake.py) submit, (tasks/placing.py) place, then poll and finish here.

Task arguments are RequestIds. Task return values carry states, never cards.
"""

from __future__ import annotations

import json
import logging
import math
import time
import uuid
from decimal import Decimal

from celery import Task
from redis.exceptions import RedisError

from tasks import messages
from worker import metrics
from worker.celery import app, runtime
from worker.errors import ProviderAuthFailed, ProviderError, ProviderRefused, RateLimited
from worker.orders import states
from worker.orders.store import OrderRecord
from worker.providers.base import FAILED, PARTIALLY_FAILED, Card, ProviderOrder
from worker.runtime import Runtime
from worker.throttle.scheduler import Deferral, Slot

logger = logging.getLogger(__name__)

FINAL_STATE_OF = {FAILED: states.FAILED, PARTIALLY_FAILED: states.PARTIALLY_FULFILLED}
LATE_SEND_NOTED_MS = 2  # a request written later than this after its claim moves the call's start (a Redis call)


def reserve_get(rt: Runtime, credential: str) -> Deferral | WhenGetSent:
    """Reserve a Get Order call of the credential: a Deferral, or the hook to hand the provider's `get` as
    `on_sent`, which keeps the limit's log true to when the request really left."""
    reserved_at = time.monotonic()
    limits = rt.limits(credential)
    allowed = rt.throttle.reserve_get(credential, limits)
    return allowed if isinstance(allowed, Deferral) else WhenGetSent(rt, credential, allowed, reserved_at)


class WhenGetSent:
    """What a reserved Get Order does the moment its request has been written (worker/providers/http.py): if it
    left more than LATE_SEND_NOTED_MS after its reservation, its entry in the credential's Get Order log moves to
    when it left, so a window of the provider's limit never counts it earlier than the provider does."""

    def __init__(self, rt: Runtime, credential: str, slot: Slot, reserved_at: float):
        self._rt, self._credential, self._slot, self._reserved_at = rt, credential, slot, reserved_at

    @property
    def at_ms(self) -> int:
        """When the call was reserved, on Redis's clock."""
        return self._slot.at_ms

    def __call__(self, sent_at: float) -> None:
        late_ms = math.ceil((sent_at - self._reserved_at) * 1000)  # from before the reservation: never too early
        if late_ms <= LATE_SEND_NOTED_MS:
            return
        try:
            limits = self._rt.limits(self._credential)
            self._rt.throttle.note_get_sent(self._credential, limits, self._slot, self._slot.at_ms + late_ms)
        except RedisError as error:
            logger.warning("Get Order of %s sent %d ms after its reservation, not noted (%s)", self._credential,
                           late_ms, type(error).__name__)  # fmt: skip


def enqueue_place(request_id: str) -> None:
    """Enqueue the placing of a stored order."""
    app.send_task("giftq.place_order", args=[request_id])


def enqueue_poll(rt: Runtime, request_id: str, *, attempt: int) -> None:
    """Enqueue the next Get Order of a placed order, after the backoff of its attempt, in its route's queue (one
    LPUSH: tasks/messages.py)."""
    delay_ms = min(rt.settings.poll_interval_ms * 2 ** min(attempt, 20), rt.settings.poll_max_interval_ms)
    messages.send(poll_order, [request_id], {"attempt": attempt}, countdown_s=delay_ms / 1000)


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
    # The step before the reservation: a duplicate delivery reserves no Get Order, and the request leaves sooner
    # after its reservation (one round trip less between them), so it is seldom late enough to be noted.
    step = f"poll-{attempt}-{self.request.retries}{trigger}"
    if not rt.store.begin_step(request_id, step, lease_s=int(rt.settings.provider(record.provider).timeout_s * 3)):
        return "duplicate delivery"  # another delivery of this poll runs or ran: one chain of polls only
    allowed = reserve_get(rt, record.credential)
    if isinstance(allowed, Deferral):  # this delivery's step stays taken: the retry is a step of its own
        raise self.retry(countdown=allowed.wait_ms / 1000, kwargs={"attempt": attempt, "trigger": trigger})
    try:
        with metrics.provider_call(metrics.GET_ORDER, record.provider):
            provider_order = rt.provider(record.credential).get(record.provider_request_id, on_sent=allowed)
    except RateLimited as limited:
        raise self.retry(countdown=limited.wait_s, kwargs={"attempt": attempt, "trigger": trigger}) from None
    except ProviderRefused as refused:
        rt.store.end_step(request_id, step)
        return needs_attention_after(rt, request_id, refused, call="Get Order")
    except ProviderError as error:
        logger.warning("order %s: Get Order failed (%s); polling again", request_id, error)
        provider_order = None
    outcome = _after_poll(rt, record, provider_order, attempt, chained=not trigger, now_ms=allowed.at_ms)
    if outcome not in states.FINAL:  # a final order stops every later delivery by its state: no write needed
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
    """Write the final result: cards encrypted, a summary in clear (counts only), the final state.

    A pack's cards are handed to its members first (`finish_pack`)."""
    if record.part_of:
        return finish_part(rt, record, provider_order)
    if record.is_pack:
        return finish_pack(rt, record, provider_order)
    state = FINAL_STATE_OF.get(provider_order.status, states.FULFILLED)
    moved, summary = _write_final(rt, record, state, list(provider_order.cards))
    if moved:
        metrics.CARDS_ISSUED.labels(record.provider).inc(summary["cards_issued"])
    logger.info("order %s %s: %d cards issued", record.request_id, state, summary["cards_issued"])
    return state


def _write_final(rt: Runtime, record: OrderRecord, state: str, cards: list[Card], *, wanted: int = 0,
                 note: str = "", bound_to: OrderRecord | None = None) -> tuple[bool, dict]:  # fmt: skip
    """Move the order to `state` with its cards encrypted and a summary in clear; `wanted` cards were ordered (a
    shortfall counts as failed). The cards are bound to the order itself, or to `bound_to` (a part's cards belong
    to the order it is a part of). Whether this call made the move, and the summary."""
    issued = [card for card in cards if card.issued]
    not_issued = [card for card in cards if not card.issued]
    # A card may stand for several (a BHN e-gift URL shows all of its line's cards): counted by quantity.
    summary = {"cards_issued": sum(c.quantity for c in issued), "cards_failed": sum(c.quantity for c in not_issued)}
    summary["cards_failed"] += max(0, wanted - summary["cards_issued"] - summary["cards_failed"])
    if not_issued:  # which cards were not issued: the provider's card id and product, never a code
        summary["failed_cards"] = [{"product_id": c.product_id, "card_id": c.card_id} for c in not_issued]
    fields = {"summary": json.dumps(summary, sort_keys=True)}
    if issued:
        fields["cards"] = rt.cipher.encrypt(
            [card.to_secret_dict() for card in issued], (bound_to or record).cards_context
        )
    fields["reason"] = "ProviderFailed" if state == states.FAILED else ""  # a needs_attention reason is over
    moved = rt.store.transition(record.request_id, state, note=note or fields["reason"], **fields)
    return moved, summary


def finish_pack(rt: Runtime, record: OrderRecord, provider_order: ProviderOrder) -> str:
    """A pack's provider order is final: each member gets its cards by its lines (`share_cards`) and ends
    `fulfilled`, `partially_fulfilled` or `failed` by them, notified as any order; then the pack's own record ends,
    with counts only (its cards are its members'), and the scheduler forgets it."""
    members = [member for member in rt.store.get_many(list(record.members)) if member is not None]
    shares = share_cards(members, list(provider_order.cards))
    for member in members:
        if member.state == states.SUBMITTING:  # a stale slot of its own took it just before the pack did: unsent
            rt.store.transition(member.request_id, states.PLACED, note=f"in provider order {record.request_id}",
                                pack=record.request_id)  # fmt: skip
            member = rt.store.get(member.request_id)
        if member.state not in (states.PACKED, states.PLACED):
            continue  # finished by an earlier delivery of this step
        cards = shares[member.request_id]
        wanted = sum(line["Quantity"] for line in member.request["Products"])
        issued = sum(card.quantity for card in cards if card.issued)
        state = states.FULFILLED if issued == wanted else states.PARTIALLY_FULFILLED if issued else states.FAILED
        _write_final(rt, member, state, cards, wanted=wanted, note=f"provider order {record.request_id}")
    state = FINAL_STATE_OF.get(provider_order.status, states.FULFILLED)
    issued = sum(card.quantity for card in provider_order.cards if card.issued)
    summary = {"cards_issued": issued, "cards_failed": sum(c.quantity for c in provider_order.cards if not c.issued),
               "members": len(record.members)}  # fmt: skip
    reason = "ProviderFailed" if state == states.FAILED else ""
    if rt.store.transition(record.request_id, state, note=reason, reason=reason,
                           summary=json.dumps(summary, sort_keys=True)):  # fmt: skip
        metrics.CARDS_ISSUED.labels(record.provider).inc(issued)
    rt.throttle.forget_pack(record.credential, record.request_id, record.members)
    logger.info("provider order %s %s: %d cards issued to %d orders", record.request_id, state, issued, len(members))
    return state


def finish_part(rt: Runtime, record: OrderRecord, provider_order: ProviderOrder) -> str:
    """A part of an order in parts is final: its cards are kept on the part's record, bound to the order (not
    readable as anything else), until every part is final and the order gets them all (`finish_order_in_parts`)."""
    state = FINAL_STATE_OF.get(provider_order.status, states.FULFILLED)
    owner = rt.store.get(record.part_of)  # it is not final before its parts are, so not expired
    moved, summary = _write_final(rt, record, state, list(provider_order.cards), bound_to=owner)
    if moved:
        metrics.CARDS_ISSUED.labels(record.provider).inc(summary["cards_issued"])
    rt.throttle.forget_pack(record.credential, record.request_id, [])
    finish_order_in_parts(rt, record.part_of)
    return state


def finish_order_in_parts(rt: Runtime, request_id: str) -> None:
    """Once every part of an order in parts is final, the order ends by all their cards together: `fulfilled`,
    `partially_fulfilled` or `failed` by the cards issued against the cards ordered (`rejected`, with the reason,
    when every part was refused); then the parts' copies of its cards are dropped."""
    record = rt.store.get(request_id)
    if record is None or record.state in states.FINAL:
        return
    parts = rt.store.get_many([part["id"] for part in record.parts])
    if any(part is None or part.state not in states.FINAL for part in parts):
        return
    if all(part.state == states.REJECTED for part in parts):
        reason = parts[0].reason
        rt.store.transition(request_id, states.REJECTED, note=f"every part refused: {reason}", reason=reason)
        return
    cards = [card for part in parts if part.cards_token for card in rt.cipher.decrypt(part.cards_token,
                                                                                    record.cards_context)]  # fmt: skip
    wanted = sum(line["Quantity"] for line in record.request["Products"])
    issued = sum(card.get("quantity", 1) for card in cards)
    summary = {"cards_issued": issued, "cards_failed": wanted - issued,
               "failed_cards": [card for part in parts for card in part.summary.get("failed_cards", [])]}  # fmt: skip
    if not summary["failed_cards"]:
        del summary["failed_cards"]
    state = states.FULFILLED if issued == wanted else states.PARTIALLY_FULFILLED if issued else states.FAILED
    fields = {"summary": json.dumps(summary, sort_keys=True), "reason": "ProviderFailed" if issued == 0 else ""}
    if cards:
        fields["cards"] = rt.cipher.encrypt(cards, record.cards_context)
    rt.store.transition(request_id, state, note=f"{len(parts)} provider orders", **fields)
    with rt.redis.pipeline(transaction=False) as pipe:
        for part in parts:
            pipe.hdel(rt.keys.order(part.request_id), "cards")
        pipe.execute()


def share_cards(members: list[OrderRecord], cards: list[Card]) -> dict[str, list[Card]]:
    """Hand a pack's cards to its members by their lines, deterministically: members in the pack's order (oldest
    first), each line taking the next cards of its product and face value in the provider's order, issued cards
    before failed ones. So a `PartialFailed` order's failed cards fall on its newest members of their line."""
    by_value = all(card.value is not None for card in cards)

    def line_of(product_id, value) -> tuple:
        return (str(product_id), Decimal(str(value))) if by_value else (str(product_id),)

    pools: dict[tuple, list[Card]] = {}
    for card in sorted(cards, key=lambda card: not card.issued):  # stable: the provider's order within each
        pools.setdefault(line_of(card.product_id, card.value), []).append(card)
    shares: dict[str, list[Card]] = {}
    for member in members:
        mine: list[Card] = []
        for line in member.request["Products"]:
            pool = pools.get(line_of(line["ProductId"], line["Value"]), [])
            mine += pool[: line["Quantity"]]
            del pool[: line["Quantity"]]
        shares[member.request_id] = mine
    return shares
