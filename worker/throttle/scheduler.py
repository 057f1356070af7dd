"""The throttle: a Redis-backed scheduler of one credential's Place Order and Get Order calls.

It keeps every provider limit across all workers and hosts (spacing between Place Order
starts, orders per product per rolling window, cards per order, Get Order calls per window)
while using the allowed rate fully: a deferred order is parked in Redis, not bounced through
the broker, and the next free slot goes to the oldest parked order that every limit allows,
so a hot product waiting for its window never blocks the others. Each operation is one Lua
script (worker/throttle/lua/); times are Redis's clock unless a test passes `now_ms`.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import redis

from config.settings import END_TO_START, START_TO_START, Limits
from worker.errors import OrderRejected
from worker.keys import Keys
from worker.scripts import load_scripts

LUA_DIR = Path(__file__).parent / "lua"


@dataclass(frozen=True)
class Go:
    """The order `request_id` owns the Place Order slot at `slot_ms`; `token` drives the schedule on.

    `now_ms` is Redis's clock when the decision was made: a countdown to the slot needs no clock read of its own.
    """

    request_id: str
    slot_ms: int
    token: str
    now_ms: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Wait:
    """Nothing may go yet: the holder of `token` looks at the schedule again at `due_ms` (`now_ms`: as for Go)."""

    due_ms: int
    token: str
    now_ms: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Parked:
    """The order waits in Redis; another driver of the schedule is alive and will give it a slot."""


@dataclass(frozen=True)
class Idle:
    """Nothing is parked for the credential."""


Decision = Go | Wait | Parked | Idle
__all__ = [
    "END_TO_START",
    "START_TO_START",
    "Limits",
    "Throttle",
    "Go",
    "Wait",
    "Parked",
    "Idle",
    "ScheduleView",
    "Pack",
    "Packing",
]


@dataclass(frozen=True)
class Claim:
    """The outcome of claiming a reserved slot, and how many ms early or late the claim came."""

    outcome: str  # "call" now; "early": come back in `ms`; "late" (past the lease) or "held" (429): park again;
    # "missing": no such slot
    ms: int = 0


@dataclass(frozen=True)
class LateStart:
    """A claimed call whose request left at `sent_ms`, after its claim's start `started_ms` (`note_sent`)."""

    request_id: str
    started_ms: int
    sent_ms: int
    product_ids: tuple[int | str, ...]

    def as_args(self) -> list:
        return [self.request_id, self.started_ms, self.sent_ms, [str(product) for product in self.product_ids]]


@dataclass(frozen=True)
class ScheduleView:
    """What an operator sees of one credential's schedule at `now_ms`: orders parked (in all and per product),
    slots reserved and not yet claimed, calls started in the last minute, and how long a 429 hold still lasts."""

    parked: int
    parked_by_product: dict[str, int]
    reserved: int
    started_last_minute: int
    hold_ms: int


@dataclass(frozen=True)
class Packing:
    """What the scheduler needs of an order to pack it with others: its account and its lines (each a dict of
    ProductId, Value, Quantity: the stored request's own)."""

    account_id: int | str
    lines: list[dict]


@dataclass(frozen=True)
class Pack:
    """Producer orders packed into one provider order (coalescing): its provider RequestId `pack_id`, made once
    by the scheduler; its lines merged by product and value; its members oldest first, each with its own lines.
    A part of one order too big for one provider order is a pack of that order alone, with a share of its lines."""

    pack_id: str
    account_id: int | str
    lines: tuple[dict, ...]
    members: tuple[tuple[str, tuple[dict, ...]], ...]
    age_ms: int
    part_of: str = ""  # a part of one producer order too big for one provider order: its RequestId

    @property
    def member_ids(self) -> list[str]:
        return [member for member, _ in self.members]


@dataclass(frozen=True)
class Slot:
    """A reserved Get Order call: call now. `entry` names it in the credential's Get Order log (`note_get_sent`)."""

    at_ms: int
    entry: str = field(default="", compare=False)  # a name, not part of what the reservation says


@dataclass(frozen=True)
class Deferral:
    """No Get Order call now; ask again after `wait_ms`."""

    wait_ms: int


class Throttle:
    """The Python face of the scheduler scripts. Raises redis.RedisError when Redis is unreachable: no slot, no call."""

    def __init__(self, client: redis.Redis, keys: Keys):
        self._redis = client
        self._keys = keys
        self._scripts = load_scripts(client, LUA_DIR)

    def park_and_schedule(
        self,
        credential: str,
        limits: Limits,
        *,
        request_id: str,
        age_ms: int,
        product_ids: Sequence[int],
        cards: int,
        packing: Packing | None = None,
        now_ms: int | None = None,
    ) -> Decision:
        """Park an order (once), then drive the schedule if no other driver is alive.

        With `packing` (the order's account and lines), the order may ride in a pack with others (coalescing, when
        the credential packs); without, it always goes alone.
        """
        lines = "" if packing is None else json.dumps({"AccountId": packing.account_id, "Lines": packing.lines})
        order = [request_id, age_ms, cards, ",".join(str(p) for p in sorted(set(product_ids))), lines]
        return self._schedule(credential, limits, "", order, now_ms)[0]

    def schedule_next(self, credential: str, limits: Limits, token: str, *, now_ms: int | None = None) -> Decision:
        """Drive the schedule on as the holder of `token` (or as anyone if the driver is gone)."""
        return self._schedule(credential, limits, token, ["", 0, 0, "", ""], now_ms)[0]

    def note_sent_and_schedule_next(
        self,
        credential: str,
        limits: Limits,
        token: str,
        late_start: LateStart,
        *,
        now_ms: int | None = None,
    ) -> tuple[bool, Decision]:
        """`note_sent`, then `schedule_next`, in one script call: one round trip and one write to the disk where
        a placing task would spend two, and the next slot counts from when the request really left.

        Returns whether the start moved (False: a later slot was reserved already), and the decision.
        """
        decision, moved = self._schedule(credential, limits, token, ["", 0, 0, "", ""], now_ms, late_start)
        return moved, decision

    def pack(self, credential: str, pack_id: str) -> Pack | None:
        """The pack the scheduler made under `pack_id` (None if there is none, or it was forgotten)."""
        raw = self._redis.hgetall(f"{self._keys.schedule(credential)}:pack:{pack_id}")
        if not raw:
            return None
        values = {key.decode(): value.decode() for key, value in raw.items()}
        members = tuple((member["RequestId"], tuple(member["Lines"])) for member in json.loads(values["members"]))
        return Pack(pack_id=pack_id, account_id=json.loads(values["account"]), lines=tuple(json.loads(values["lines"])),
                    members=members, age_ms=int(float(values["age"])), part_of=values.get("part_of", ""))  # fmt: skip

    def make_parts(
        self, credential: str, request_id: str, age_ms: int, account_id: int | str, parts: list[dict]
    ) -> int:
        """Write the parts of a producer order too big for one provider order ([{"id", "lines"}]) as sealed packs of
        that order alone, once; how many were written now."""
        args = [request_id, age_ms, json.dumps(account_id), json.dumps(parts)]
        return int(self._run("make_parts", credential, None, args))

    def repack(self, credential: str, pack_id: str, plan: dict) -> int:
        """Split a refused pack by `plan` ({"refused": [...], "groups": [{"id", "members"}]}): its refused members
        leave it, each group is parked as a new sealed pack. Once; how many packs it made (0: made already)."""
        return int(self._run("repack", credential, None, [pack_id, json.dumps(plan)]))

    def forget_pack(self, credential: str, pack_id: str, member_ids: Sequence[str]) -> None:
        """The pack's provider order is final (or refused): its members are no longer held by it."""
        prefix = self._keys.schedule(credential)
        with self._redis.pipeline(transaction=True) as pipe:
            if member_ids:
                pipe.hdel(f"{prefix}:member_of", *member_ids)
            pipe.delete(f"{prefix}:pack:{pack_id}")
            pipe.execute()

    def claim(
        self, credential: str, limits: Limits, request_id: str, slot_ms: int, *, now_ms: int | None = None
    ) -> Claim:
        """Take the reserved slot just before calling; a late claim moves the schedule to the actual start.

        Call this before driving the schedule on, so the next slot counts from the real start.
        """
        result = self._run("claim_slot", credential, now_ms, [request_id, slot_ms, limits.lease_ms])
        outcome = {1: "call", 2: "early", 3: "late", 4: "held", 0: "missing"}[int(result[0])]
        return Claim(outcome, int(result[1]) if len(result) > 1 else 0)

    def give_back(
        self,
        credential: str,
        request_id: str,
        started_ms: int,
        product_ids: Sequence[int],
        *,
        now_ms: int | None = None,
    ) -> int:
        """A claimed call that was never sent: take its entries out of its products' windows, so the miss costs
        the credential one spacing and no product a window. `started_ms` is the claim's start (slot + late ms).

        Returns how many window entries were taken out.
        """
        return int(self._run("give_back_slot", credential, now_ms, [request_id, started_ms, *product_ids]))

    def note_sent(
        self,
        credential: str,
        request_id: str,
        started_ms: int,
        sent_ms: int,
        product_ids: Sequence[int],
        *,
        now_ms: int | None = None,
    ) -> bool:
        """A claimed call whose request left at `sent_ms`, after its claim's start `started_ms`: the call starts
        there, for the spacing and its products' windows. Call it before the schedule is handed on.

        Returns False if a later slot was reserved already (the next call's spacing counts from the claim).
        """
        moved, _entries = self._run("note_sent", credential, now_ms, [request_id, started_ms, sent_ms, *product_ids])
        return int(moved) == 1

    def release(self, credential: str, *, now_ms: int | None = None) -> int:
        """Record that a Place Order call ended (end-to-start spacing counts from here)."""
        return int(self._run("release_slot", credential, now_ms, []))

    def hold(self, credential: str, wait_ms: int, *, now_ms: int | None = None) -> int:
        """No Place Order slot of the credential before now + wait_ms (the provider answered 429)."""
        return int(self._run("hold_credential", credential, now_ms, [wait_ms]))

    def reserve_get(self, credential: str, limits: Limits, *, now_ms: int | None = None) -> Slot | Deferral:
        """Reserve one Get Order call under the credential's limit, or say how long to wait."""
        args = [limits.get_limit, limits.get_window_ms, limits.margin_ms]
        reserved, value, *entry = self._run("reserve_get", credential, now_ms, args)
        return Slot(int(value), _text(entry[0])) if reserved == 1 else Deferral(int(value))

    def note_get_sent(self, credential: str, limits: Limits, slot: Slot, sent_ms: int, *,
                      now_ms: int | None = None) -> bool:  # fmt: skip
        """A reserved Get Order whose request left at `sent_ms`, after `slot.at_ms`: the window counts the call from
        there. False if the log no longer holds it."""
        args = [slot.entry, sent_ms, limits.get_window_ms + limits.margin_ms]
        return int(self._run("note_get_sent", credential, now_ms, args)) == 1

    def view(self, credential: str, *, now_ms: int) -> ScheduleView:
        """A read-only look at the credential's schedule (`giftq top`); never changes it. Calls started in the last
        minute are those its product windows still hold: all of them while the window is a minute or longer
        (Bamboo's is), fewer on a shorter one."""
        prefix = self._keys.schedule(credential)
        products = sorted(p.decode() for p in self._redis.smembers(f"{prefix}:products"))
        with self._redis.pipeline(transaction=False) as pipe:
            pipe.hlen(self._keys.parked(credential))
            pipe.zcard(self._keys.scheduled(credential))
            pipe.get(f"{prefix}:hold_until")
            for product in products:
                pipe.zcard(f"{prefix}:queue:{product}")
            for product in products + self._windowed_products(prefix):
                pipe.zrangebyscore(f"{prefix}:window:{product}", now_ms - 60_000, "+inf")
            parked, reserved, hold_until, *rest = pipe.execute()
        queued, windows = rest[: len(products)], rest[len(products) :]
        started = {member for window in windows for member in window}  # "<rid>@<start>": a call, once per product
        return ScheduleView(
            parked=int(parked),
            parked_by_product=dict(zip(products, (int(n) for n in queued), strict=True)),
            reserved=int(reserved),
            started_last_minute=len(started),
            hold_ms=max(0, int(hold_until or 0) - now_ms),
        )

    def _windowed_products(self, prefix: str) -> list[str]:
        """The products with a window key (their orders may all be placed: no longer in the parked set)."""
        cut = len(f"{prefix}:window:")
        return [key.decode()[cut:] for key in self._redis.scan_iter(match=f"{prefix}:window:*", count=1000)]

    def holds(self, credential: str, limits: Limits, request_id: str, *, now_ms: int) -> bool:
        """Whether the schedule holds the order: parked, or owning a slot that its task may still claim.

        A slot more than lease_ms old was abandoned (its task was lost): parking the order again frees it.
        """
        pack_id = self._redis.hget(f"{self._keys.schedule(credential)}:member_of", request_id)
        if pack_id is not None:  # a member of a pack: held while its pack is
            request_id = pack_id.decode()
        if self._redis.hexists(self._keys.parked(credential), request_id):
            return True
        slot_ms = self._redis.zscore(self._keys.scheduled(credential), request_id)
        return slot_ms is not None and slot_ms + limits.lease_ms >= now_ms

    def parked_count(self, credential: str) -> int:
        """How many orders are parked in the credential's schedule, waiting for a slot."""
        return int(self._redis.hlen(self._keys.parked(credential)))

    def _schedule(self, credential: str, limits: Limits, token: str, order: list, now_ms: int | None,
                  late_start: LateStart | None = None) -> tuple[Decision, bool]:  # fmt: skip
        """The decision, and whether `late_start` (if given) moved the credential's last start."""
        *order, lines = order
        late = "" if late_start is None else json.dumps(late_start.as_args())
        args = [
            limits.spacing_ms, limits.margin_ms, limits.spacing_mode, limits.lease_ms, limits.product_limit,
            limits.product_window_ms, limits.max_cards, limits.max_wait_ms, token, *order,
            "1" if limits.coalesce else "", str(uuid.uuid4()), lines, limits.coalesce_hold_ms, late,
        ]  # fmt: skip
        result = self._run("schedule_next", credential, now_ms, args)
        moved = late_start is not None and int(result[-1]) == 1
        kind = int(result[0])
        if kind == 1:
            return Go(_text(result[1]), int(result[2]), _text(result[3]), int(result[4])), moved
        if kind == 2:
            return Wait(int(result[1]), _text(result[2]), int(result[3])), moved
        if kind == 3:
            return Parked(), moved
        if kind == 0:
            return Idle(), moved
        raise OrderRejected(_text(result[1]))

    def _run(self, script: str, credential: str, now_ms: int | None, args: list):
        keys = [self._keys.schedule(credential)]
        return self._scripts[script](keys=keys, args=["" if now_ms is None else now_ms, *args])


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
