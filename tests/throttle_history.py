"""giftq's placing protocol played against the real throttle, event by event, and what the rules allow at each step.

A `History` is what the Celery tasks of tasks/placing.py would do, on an explicit clock: orders arrive and are
parked; each slot handed out is claimed by its placing task (early, on time, late, or past its lease); a call
that starts has its request written some time later (at once, or late: its process was descheduled; a late send
is noted, as the task notes any more than 2 ms late) and ends some time after that (answered 200, or 429 and a
hold); the schedule is driven on after each request is written (start-to-start) or after each call's end
(end-to-start), and when a Wait comes due. Get Order calls are reserved
on their own. The throttle is only ever called as those tasks call it; what it answers is checked against the
rules applied to the history so far (`allowed_from`), never against a copy of its code.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from dataclasses import dataclass

from sandbox.judge import GET_ORDER, PLACE_ORDER, Call
from worker.errors import OrderRejected
from worker.throttle.scheduler import END_TO_START, Deferral, Go, Idle, LateStart, Limits, Parked, Throttle, Wait

CREDENTIAL = "c"


@dataclass
class SlotRecord:
    """A slot the throttle handed out, and what became of it."""

    request_id: str
    slot: int
    products: tuple[int, ...]
    started: int | None = None  # its claim said call
    sent: int | None = None  # its request was written: when the provider sees the call begin
    ended: int | None = None  # its call was answered
    given_up: bool = False  # its claim came past the lease, or during a hold

    @property
    def began(self) -> int:
        for moment in (self.sent, self.started):
            if moment is not None:
                return moment
        return self.slot


def room_from(times: list[int], lower: int, limit: int, window: int) -> int:
    """The earliest T >= lower with fewer than `limit` of `times` in (T - window, T]."""
    for t in sorted({lower} | {x + window for x in times if x + window > lower}):
        if sum(1 for x in times if t - window < x <= t) < limit:
            return t
    raise AssertionError("unreachable: past the last time plus the window, the window is empty")


class History:
    """One credential's schedule under the placing protocol; `choose(name, strategy)` draws each random step."""

    def __init__(self, throttle: Throttle, limits: Limits, choose: Callable, start_ms: int = 1_000_000):
        self.throttle, self.limits, self.choose, self.now = throttle, limits, choose, start_ms
        self.orders: dict[str, tuple[int, tuple[int, ...], int]] = {}  # rid -> (age, products, cards)
        self.parked: set[str] = set()
        self.slots: list[SlotRecord] = []
        self.calls: list[Call] = []  # what the provider would see: each call's start, products and answer
        self.rejected: set[str] = set()
        self.hold_until = 0
        self.gets: list[int] = []
        self.token: str | None = None  # the driver token of the schedule's last Go or Wait
        self._events: list[tuple] = []
        self._seq = 0
        self._current: str | None = None  # the token of the step under way, if it drives the schedule after

    @property
    def end_to_start(self) -> bool:
        return self.limits.spacing_mode == END_TO_START

    def at(self, time_ms: int, kind: str, *args, token: str | None = None) -> None:
        self._seq += 1
        heapq.heappush(self._events, (time_ms, self._seq, kind, token, args))

    def run(self, max_steps: int = 3000) -> None:
        for _ in range(max_steps):
            if not self._events:
                return
            self.now, _, kind, self._current, args = heapq.heappop(self._events)
            getattr(self, f"_on_{kind}")(self._current, *args)
        raise AssertionError("the schedule never drained")

    def allowed_from(self, request_id: str) -> int:
        """The earliest start >= now the rules (with the margin) allow the order, given every slot so far.

        Every slot handed out counts from its real start (its slot, if never claimed), whether or not it was
        used; end-to-start, a call counts as ended when answered, a slot given up as ended at its own start,
        and a slot neither as ended lease_ms after it began.
        """
        lim = self.limits
        t = max(self.now, self.hold_until)
        if self.slots:
            last = max(self.slots, key=lambda record: record.began)
            reference = last.began
            if self.end_to_start and last.ended is not None:
                reference = last.ended
            elif self.end_to_start and not last.given_up:
                reference = last.began + lim.lease_ms
            t = max(t, reference + lim.spacing_ms + lim.margin_ms)
        window = lim.product_window_ms + lim.margin_ms
        for product in self.orders[request_id][1]:
            times = [record.began for record in self.slots if product in record.products]
            t = max(t, room_from(times, t, lim.product_limit, window))
        return t

    def _pending_driver(self) -> bool:
        """Whether the holder of the schedule's token will still drive it: the step under way, or one to come."""
        return self.token is not None and any(token == self.token for token in [self._current, *self._tokens()])

    def _tokens(self) -> list[str | None]:
        return [event[3] for event in self._events]

    def _decided(self, decision) -> None:
        if isinstance(decision, Go):
            assert decision.request_id in self.parked, decision
            assert decision.slot_ms >= self.allowed_from(decision.request_id), "the slot breaks a rule"
            earliest = min(self.allowed_from(rid) for rid in self.parked)
            assert decision.slot_ms <= earliest, f"slot {decision.slot_ms} while an order could go at {earliest}"
            assert self.now <= decision.slot_ms <= self.now + self.limits.max_wait_ms
            self.parked.discard(decision.request_id)
            self.slots.append(SlotRecord(decision.request_id, decision.slot_ms, self.orders[decision.request_id][1]))
            self.token = decision.token
            claim_at = max(self.now, decision.slot_ms + self.choose("claim offset"))
            self.at(claim_at, "claim", len(self.slots) - 1, token=decision.token)
        elif isinstance(decision, Wait):
            earliest = min(self.allowed_from(rid) for rid in self.parked)
            assert self.now < earliest, f"told to wait at {self.now} while an order could go"
            assert self.now <= decision.due_ms <= min(earliest, self.now + self.limits.max_wait_ms)
            self.token = decision.token
            self.at(decision.due_ms, "drive", token=decision.token)
        elif isinstance(decision, Parked):
            assert self._pending_driver(), "parked with no driver to come"
        else:
            assert isinstance(decision, Idle) and not self.parked, f"idle with {self.parked} parked"
            self.token = None

    def park(self, request_id: str) -> None:
        age, products, cards = self.orders[request_id]
        try:
            decision = self.throttle.park_and_schedule(CREDENTIAL, self.limits, request_id=request_id, age_ms=age,
                                                       product_ids=products, cards=cards, now_ms=self.now)  # fmt: skip
        except OrderRejected as rejected:
            assert rejected.reason == "CardsLimitExceeded" and cards > self.limits.max_cards
            self.rejected.add(request_id)
            return
        assert cards <= self.limits.max_cards
        self.parked.add(request_id)
        self._decided(decision)

    def _drive(self, token: str) -> None:
        self._decided(self.throttle.schedule_next(CREDENTIAL, self.limits, token, now_ms=self.now))

    def _on_arrive(self, _token: None, request_id: str) -> None:
        self.park(request_id)

    def _on_drive(self, token: str) -> None:
        self._drive(token)

    def _on_claim(self, token: str, index: int) -> None:
        record = self.slots[index]
        claim = self.throttle.claim(CREDENTIAL, self.limits, record.request_id, record.slot, now_ms=self.now)
        if claim.outcome == "early":
            assert (claim.ms, self.now < record.slot) == (record.slot - self.now, True)
            self.at(record.slot + self.choose("retry delay"), "claim", index, token=token)
            return
        if claim.outcome == "call":
            assert claim.ms == self.now - record.slot <= self.limits.lease_ms
            record.started = self.now
            self.at(self.now + self.choose("send delay"), "written", index, token=token)
            return
        else:
            assert claim.outcome in ("late", "held"), claim
            late = claim.outcome == "late"
            assert claim.ms == (self.now - record.slot if late else self.hold_until - self.now) > 0
            assert (self.now - record.slot > self.limits.lease_ms) is late
            record.given_up = True
            self.park(record.request_id)
        if self.end_to_start:
            self._drive(token)
        else:
            self.at(self.now + self.choose("hand-on delay"), "drive", token=token)

    def _on_written(self, token: str, index: int) -> None:
        record = self.slots[index]
        record.sent = self.now
        late = record.sent > record.started
        hand_on_delay = None if self.end_to_start else self.choose("hand-on delay")
        if hand_on_delay == 0:  # as a placing task hands on: the late start noted in the same script call
            start = LateStart(record.request_id, record.started, record.sent, record.products) if late else None
            self._hand_on(token, index, start)
        elif late:
            self.throttle.note_sent(CREDENTIAL, record.request_id, record.started, record.sent, list(record.products),
                                    now_ms=self.now)  # fmt: skip
        duration, status, wait_ms = self.choose("answer")
        driver = token if self.end_to_start else None  # end-to-start: the call's own task drives on after it
        self.at(self.now + duration, "end", index, status, wait_ms, token=driver)
        if hand_on_delay:  # later: as a task whose hand-on failed drives after its call, or as a drive task would
            self.at(self.now + hand_on_delay, "drive", token=token)

    def _hand_on(self, token: str, index: int, late: LateStart | None) -> None:
        if late is None:
            self._drive(token)
            return
        moved, decision = self.throttle.note_sent_and_schedule_next(CREDENTIAL, self.limits, token, late,
                                                                    now_ms=self.now)  # fmt: skip
        if index == len(self.slots) - 1:  # no slot was handed out after this one: the start is this call's
            assert moved, "a late start not noted while its slot was the last"
        self._decided(decision)

    def _on_end(self, token: str | None, index: int, status: int, wait_ms: int) -> None:
        record = self.slots[index]
        record.ended = self.now
        age, products, cards = self.orders[record.request_id]
        self.calls.append(Call(CREDENTIAL, PLACE_ORDER, record.sent, record.request_id, products, cards, status,
                               ended_ms=self.now, seq=len(self.calls)))  # fmt: skip
        if status == 429:
            self._on_hold(None, wait_ms)
            self.park(record.request_id)
        if self.end_to_start:
            self.throttle.release(CREDENTIAL, now_ms=self.now)
            self._drive(token)

    def _on_hold(self, _token: None, wait_ms: int) -> None:
        self.hold_until = self.throttle.hold(CREDENTIAL, wait_ms, now_ms=self.now)
        assert self.hold_until >= self.now + wait_ms

    def _on_get(self, _token: None, retries: int) -> None:
        lim = self.limits
        answer = self.throttle.reserve_get(CREDENTIAL, lim, now_ms=self.now)
        room = room_from(self.gets, self.now, lim.get_limit, lim.get_window_ms + lim.margin_ms)
        if isinstance(answer, Deferral):
            assert answer.wait_ms == room - self.now > 0, "a Get Order deferred other than until its window has room"
            if retries:
                self.at(self.now + answer.wait_ms, "get", retries - 1)
            return
        assert room == answer.at_ms == self.now, "a Get Order reserved while the rule forbids it"
        self.gets.append(self.now)
        self.calls.append(Call(CREDENTIAL, GET_ORDER, self.now, status=200, seq=len(self.calls)))
