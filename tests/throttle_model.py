"""The throttle's rules as a plain Python model, written from DESIGN.md, for tests to compare the Lua with.

It mirrors the Lua's decisions, so it is a second reading of the scripts, not a proof of the provider's rules
(tests/test_throttle_properties.py holds the Lua to those, through sandbox/judge.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from worker.throttle.scheduler import END_TO_START, Deferral, Go, Idle, Limits, Parked, Slot, Wait


@dataclass
class ModelThrottle:
    """One credential's schedule in memory: the same decisions the Lua scripts make."""

    limits: Limits
    parked: dict[str, tuple[int, tuple[str, ...]]] = field(default_factory=dict)  # rid -> (age, products)
    scheduled: dict[str, int] = field(default_factory=dict)  # rid -> slot
    slot_products: dict[str, tuple[str, ...]] = field(default_factory=dict)  # rid -> products of its slot
    windows: dict[str, list[int]] = field(default_factory=dict)  # product -> reserved slots
    last_start: int | None = None
    last_end: int | None = None
    hold_until: int = 0
    pump: tuple[int, str, str] | None = None  # (due, token, 'go' or 'wait')
    token_seq: int = 0
    get_log: list[int] = field(default_factory=list)

    def park_and_schedule(self, rid: str, age: int, products: list[int], cards: int, now: int):
        if cards > self.limits.max_cards:
            return "CardsLimitExceeded"
        if rid in self.scheduled and self.scheduled[rid] + self.limits.lease_ms < now:
            del self.scheduled[rid]  # a slot whose placing task never came
            self.slot_products.pop(rid, None)
        if rid not in self.parked and rid not in self.scheduled:
            self.parked[rid] = (age, tuple(sorted({str(p) for p in products})))
        return self._schedule("", now)

    def schedule_next(self, token: str, now: int):
        return self._schedule(token, now)

    def _schedule(self, caller: str, now: int):
        lim = self.limits
        outsider = self.pump is not None and now <= self.pump[0] + lim.lease_ms and caller != self.pump[1]
        if outsider and not (self.pump[2] == "wait" and now < self.pump[0]):
            return Parked()
        if not self.parked:
            self.pump = None
            return Idle()
        slot = self._earliest_slot(now)
        window = lim.product_window_ms + lim.margin_ms
        free = {p: self._free_at(p, slot, window) for _, products in self.parked.values() for p in products}
        ready = [
            (age, rid)
            for product in free
            if free[product] <= slot
            for age, rid in self._queue_heads(product)
            if all(free[p] <= slot for p in self.parked[rid][1])
        ]
        critical = self._critical_product(window)
        if ready and critical is not None and free[critical] <= slot:
            heads = [(age, rid) for age, rid in self._queue_heads(critical)
                     if all(free[p] <= slot for p in self.parked[rid][1])]  # fmt: skip
            ready = heads[:1] or ready
        held_far = slot > now + lim.max_wait_ms  # e.g. a long 429 hold: no slot handed out that far ahead
        if held_far:
            ready = []
        if not ready:
            earliest = slot if held_far else min(at for at in free.values() if at > slot)
            due = max(min(earliest, now + lim.max_wait_ms), now)
            if outsider and due >= self.pump[0]:
                return Parked()
            token = self._next_token()
            self.pump = (due, token, "wait")
            return Wait(due, token)
        token = self._next_token()
        _, rid = min(ready)
        self.slot_products[rid] = self.parked.pop(rid)[1]
        for product in self.slot_products[rid]:
            self.windows.setdefault(product, []).append(slot)
        self.last_start = slot
        self.scheduled[rid] = slot
        self.pump = (slot, token, "go")
        return Go(rid, slot, token)

    def _next_token(self) -> str:
        self.token_seq += 1
        return str(self.token_seq)

    def _critical_product(self, window: int) -> str | None:
        """The product whose windows alone need longer than spacing needs for every parked order, if any."""
        spacing = self.limits.spacing_ms + self.limits.margin_ms
        critical, critical_need = None, (len(self.parked) - 1) * spacing
        for product in sorted({p for _, products in self.parked.values() for p in products}):
            queued = sum(1 for _, products in self.parked.values() if product in products)
            need = (queued - 1) // self.limits.product_limit * window
            if need > critical_need:
                critical, critical_need = product, need
        return critical

    def _queue_heads(self, product: str, depth: int = 10) -> list[tuple[int, str]]:
        """The oldest parked orders containing `product`: the scheduler looks this deep into each queue."""
        return sorted((age, rid) for rid, (age, products) in self.parked.items() if product in products)[:depth]

    def _earliest_slot(self, now: int) -> int:
        lim = self.limits
        slot = now
        if self.last_start is not None:
            reference = self.last_start
            if lim.spacing_mode == END_TO_START:
                ended = self.last_end is not None and self.last_end >= self.last_start
                reference = self.last_end if ended else self.last_start + lim.lease_ms
            slot = max(slot, reference + lim.spacing_ms + lim.margin_ms)
        return max(slot, self.hold_until)

    def _free_at(self, product: str, slot: int, window: int) -> int:
        inside = sorted(t for t in self.windows.get(product, []) if t > slot - window)
        if len(inside) < self.limits.product_limit:
            return slot
        return inside[len(inside) - self.limits.product_limit] + window

    def claim(self, rid: str, slot: int, now: int) -> tuple[str, int]:
        if self.scheduled.get(rid) != slot:
            return ("missing", 0)
        if now < slot:
            return ("early", slot - now)
        del self.scheduled[rid]
        products = self.slot_products.pop(rid, ())
        if now - slot > self.limits.lease_ms:
            return self._give_up(slot, ("late", now - slot))
        if now < self.hold_until:  # a 429 came after the slot was reserved
            return self._give_up(slot, ("held", self.hold_until - now))
        if now > slot:  # a late call: the schedule moves to where the call really starts
            self.last_start = max(self.last_start, now)
            for product in products:
                times = self.windows[product]
                times[times.index(slot)] = now
        return ("call", now - slot)

    def _give_up(self, slot: int, outcome: tuple[str, int]) -> tuple[str, int]:
        """The credential's latest slot, given up, counts as a call that ended at its slot."""
        if self.last_start == slot and (self.last_end is None or self.last_end < slot):
            self.last_end = slot
        return outcome

    def release(self, now: int) -> int:
        self.last_end = max(self.last_end or -1, now)
        return now

    def hold(self, wait: int, now: int) -> int:
        self.hold_until = max(self.hold_until, now + wait)
        return self.hold_until

    def reserve_get(self, now: int):
        window = self.limits.get_window_ms + self.limits.margin_ms
        self.get_log = sorted(t for t in self.get_log if t > now - window)
        if len(self.get_log) >= self.limits.get_limit:
            return Deferral(self.get_log[len(self.get_log) - self.limits.get_limit] + window - now)
        self.get_log.append(now)
        return Slot(now)
