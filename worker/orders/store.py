"""The order store: one Redis hash per producer order, moved by compare-and-set only."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import redis
from redis.client import Pipeline

from schemas.order import BAMBOO, BHN
from worker.errors import StoreError
from worker.keys import Keys
from worker.orders import states
from worker.orders.continuity import Continuity
from worker.scripts import load_scripts

LUA_DIR = Path(__file__).parent / "lua"

CONFIG_CHECKED = ("maxmemory-policy", "appendonly", "appendfsync", "maxmemory")
MEMORY_HEADROOM_WARN = 0.8  # a store Redis past this share of its maxmemory is warned about at start
SCAN_BUDGET = 1000  # index entries one page may read when it filters by producer
AMEND_ATTEMPTS = 20  # an amendment whose record keeps changing under it gives up after this many tries
PROVIDERS = (BAMBOO, BHN)  # each has its own index of every state (orders by state and provider)
# The records of packs (provider orders of several producer orders, tasks/packs.py) are indexed apart from the
# producer orders of their provider (the record's `index_as`): counts by state are of producer orders.
PACKS = "packs"
INDEXED = (*PROVIDERS, PACKS)
INDEX_BATCH = 500  # orders `index_by_provider` hands one script call
# How a notification went, stored as notify_<name> fields of the order hash.
NOTIFICATION_FIELDS = ("state", "attempts", "last_error", "delivered_ms", "task_sent_ms", "callback_ms")

# An amendment's plan: given the record as it stands, the writes to queue in one MULTI (or None: nothing to do).
Plan = Callable[["OrderRecord"], Callable[[Pipeline], object] | None]


@dataclass(frozen=True)
class OrderRecord:
    """A producer order as stored. `cards_token` is encrypted; nothing here is card data in clear."""

    request_id: str
    state: str
    created_ms: int
    updated_ms: int
    request: dict
    provider: str = "bamboo"
    credential: str = ""
    producer: str = ""  # who submitted it: an API key's name, or what a task producer said
    idempotency_key: str = ""  # the producer's own key, when it gave one instead of a RequestId
    provider_request_id: str = ""
    reason: str = ""
    cards_token: str = ""
    summary: dict = field(default_factory=dict)
    notify: dict = field(default_factory=dict)  # the producer's choice at submit: Task and Queue, CallbackUrl
    notification: dict = field(default_factory=dict)  # how telling it went: state, attempts, last_error, ...
    cards_reads: int = 0  # how many times the producer read the decrypted cards
    cards_erased_ms: int = 0  # when retention erased the cards (0: not erased)
    pack: str = ""  # a producer order riding in a pack: the provider order's RequestId (coalescing)
    members: tuple[str, ...] = ()  # a pack's own record (a provider order of several producer orders): who rides
    split: dict = field(default_factory=dict)  # a refused pack's plan: its refused members, the packs made of the rest
    parts: tuple[dict, ...] = ()  # an order of more cards than one provider order takes: its parts [{id, lines}]
    part_of: str = ""  # a part's own record: the producer order it is a part of

    @property
    def is_pack(self) -> bool:
        return bool(self.members)

    @property
    def cards_context(self) -> dict[str, str]:
        """What this order's cards are bound to when encrypted (worker/orders/crypto.py): its RequestId and producer."""
        return {"request_id": self.request_id, "producer": self.producer}

    @classmethod
    def from_hash(cls, raw: dict[bytes, bytes]) -> OrderRecord:
        values = {key.decode(): value.decode() for key, value in raw.items()}
        return cls(
            request_id=values["request_id"],
            state=values["state"],
            created_ms=int(values["created_ms"]),
            updated_ms=int(values["updated_ms"]),
            request=json.loads(values.get("request", "{}")),
            provider=values.get("provider", "bamboo"),
            credential=values.get("credential", ""),
            producer=values.get("producer", ""),
            idempotency_key=values.get("idempotency_key", ""),
            provider_request_id=values.get("provider_request_id", ""),
            reason=values.get("reason", ""),
            cards_token=values.get("cards", ""),
            summary=json.loads(values.get("summary") or "{}"),
            notify=json.loads(values.get("notify") or "{}"),
            notification={name: values[f"notify_{name}"] for name in NOTIFICATION_FIELDS if f"notify_{name}" in values},
            cards_reads=int(values.get("cards_reads") or 0),
            cards_erased_ms=int(values.get("cards_erased_ms") or 0),
            pack=values.get("pack", ""),
            members=tuple(json.loads(values.get("members") or "[]")),
            split=json.loads(values.get("split") or "{}"),
            parts=tuple(json.loads(values.get("parts") or "[]")),
            part_of=values.get("part_of", ""),
        )


@dataclass(frozen=True)
class OrderPage:
    """One page of a state's orders and the cursor of the next page (None when this is the last)."""

    orders: list[OrderRecord]
    next_cursor: str | None


class OrderStore:
    """Creates order records once per RequestId and moves them through `worker.orders.states`."""

    def __init__(self, client: redis.Redis, keys: Keys, *, retention_s: int = 0,
                 on_final: Callable[[str], object] | None = None):  # fmt: skip
        """`on_final(request_id)` runs after a move into a final state of an order whose producer asked to be told."""
        self._redis = client
        self._keys = keys
        self._retention_s = retention_s
        self._on_final = on_final
        self._scripts = load_scripts(client, LUA_DIR)

    def create(self, request_id: str, request: dict, **fields: str) -> bool:
        """Store a new `accepted` order; False (and nothing written) if the RequestId already exists."""
        return self.create_record(request_id, request, **fields) is not None

    def create_record(self, request_id: str, request: dict, **fields: str) -> OrderRecord | None:
        """Store a new `accepted` order and return it as stored; None (and nothing written) if the RequestId
        already exists."""
        pairs = _flatten(
            {"request_id": request_id, "request": json.dumps(request, sort_keys=True, default=str), **fields}
        )
        keys = [
            self._keys.order(request_id),
            self._keys.history(request_id),
            self._keys.state_index(states.ACCEPTED),
            self._keys.provider_state_index(
                str(fields.get("index_as") or fields.get("provider", BAMBOO)), states.ACCEPTED
            ),
        ]
        created = self._scripts["create_order"](keys=keys, args=[states.ACCEPTED, request_id, *pairs])
        return OrderRecord.from_hash(dict(zip(created[::2], created[1::2], strict=True))) if created else None

    def create_rejected(self, request_id: str, request: dict, reason: str, **fields: str) -> bool:
        """Store an order refused before it reached the provider, so it can be looked up with its reason."""
        created = self.create(request_id, request, **fields)
        if created:
            self.transition(request_id, states.REJECTED, note=reason, reason=reason)
        return created

    def get(self, request_id: str) -> OrderRecord | None:
        """The order's record, or None if there is none."""
        raw = self._redis.hgetall(self._keys.order(request_id))
        return OrderRecord.from_hash(raw) if raw else None

    def get_with_clock(self, request_id: str, *, checked: Continuity | None = None) -> tuple[OrderRecord | None, int]:
        """The order's record (None if there is none) and Redis's clock in ms, read in one round trip; with
        `checked`, its check of the store runs first in the same round trip (raises StoreLost)."""
        with self._redis.pipeline(transaction=False) as pipe:
            take_check = checked.check_in(pipe) if checked else None
            *check, raw, clock = pipe.hgetall(self._keys.order(request_id)).time().execute(raise_on_error=False)
        if take_check:
            take_check(check[0])
        for reply in (raw, clock):
            if isinstance(reply, Exception):
                raise reply
        seconds, microseconds = clock
        return (OrderRecord.from_hash(raw) if raw else None), seconds * 1000 + microseconds // 1000

    def transition(self, request_id: str, target: str, *, note: str = "", **fields: str) -> bool:
        """Move the order to `target` if its current state allows it; True if this call made the move."""
        reply = self._transition_call(request_id, target, note, fields)  # {moved, state, notify if moved}
        moved = reply[0]
        if moved == -1:
            raise StoreError(f"no order {request_id}")
        if moved == 1 and target in states.FINAL and self._on_final and reply[2] == 1:  # its producer asked to be told
            self._on_final(request_id)
        return moved == 1

    def _transition_call(self, request_id: str, target: str, note: str, fields: dict, client=None):
        sources = states.sources_of(target)
        if not sources:
            raise StoreError(f"no state may move to {target!r}")
        keys = [self._keys.order(request_id), self._keys.history(request_id), self._keys.state_index(target)]
        keys += [self._keys.state_index(source) for source in sources]
        for provider in INDEXED:
            keys += [self._keys.provider_state_index(provider, state) for state in (target, *sources)]
        retention_s = self._retention_s if target in states.FINAL else 0
        args = [target, note, retention_s, len(sources), *sources, len(INDEXED), *INDEXED, *_flatten(fields)]
        return self._scripts["transition"](keys=keys, args=args, client=client)

    def transition_many(self, request_ids: Sequence[str], target: str, *, note: str = "", **fields: str) -> int:
        """`transition` of several orders into a state that is not final, in one round trip; how many moved."""
        if target in states.FINAL:
            raise StoreError("final moves go one by one: each may notify its producer")
        with self._redis.pipeline(transaction=False) as pipe:
            for request_id in request_ids:
                self._transition_call(request_id, target, note, fields, client=pipe)
            return sum(1 for moved, *_ in pipe.execute() if moved == 1)

    def amend(self, request_id: str, plan: Plan) -> bool:
        """Apply `plan`'s writes in one transaction, on the record as `plan` saw it; False if there is no record.

        The order hash is WATCHed: if anything writes it between the read and the MULTI, the plan runs again
        on the new record, so a concurrent write (a transition, a rotation, an erasure) is never lost.
        """
        key = self._keys.order(request_id)
        with self._redis.pipeline() as pipe:
            for _ in range(AMEND_ATTEMPTS):
                try:
                    pipe.watch(key)
                    raw = pipe.hgetall(key)
                    writes = plan(OrderRecord.from_hash(raw)) if raw else None
                    if writes is None:
                        pipe.unwatch()
                        return bool(raw)
                    pipe.multi()
                    writes(pipe)
                    pipe.execute()
                    return True
                except redis.WatchError:
                    continue
        raise StoreError(f"order {request_id} kept changing; amendment given up")

    def set_fields(self, request_id: str, fields: dict[str, str]) -> bool:
        """Write fields of an existing record (never creating a partial one); False if there is no record."""
        key = self._keys.order(request_id)
        return self.amend(request_id, lambda _: lambda pipe: pipe.hset(key, mapping=fields))

    def note(self, pipe: Pipeline, record: OrderRecord, note: str, at_ms: int) -> None:
        """Queue a history entry that records an event without a move (e.g. cards erased) on `pipe`."""
        entry = {"at_ms": at_ms, "from": record.state, "to": record.state, "note": note}
        pipe.rpush(self._keys.history(record.request_id), json.dumps(entry))

    def history(self, request_id: str) -> list[dict]:
        """The order's transitions, oldest first: each {at_ms, from, to, note}."""
        return [json.loads(entry) for entry in self._redis.lrange(self._keys.history(request_id), 0, -1)]

    def count_by_state(self) -> dict[str, int]:
        """How many producer orders are in each state right now (packs' own records are not counted)."""
        with self._redis.pipeline(transaction=False) as pipe:
            for state in states.ALL:
                pipe.zcard(self._keys.state_index(state))
                pipe.zcard(self._keys.provider_state_index(PACKS, state))
            counts = pipe.execute()
        return {state: counts[2 * i] - counts[2 * i + 1] for i, state in enumerate(states.ALL)}

    def count_by_state_and_provider(self) -> dict[tuple[str, str], int]:
        """How many orders of each provider are in each state right now: {(state, provider): count}."""
        pairs = [(state, provider) for state in states.ALL for provider in PROVIDERS]
        with self._redis.pipeline(transaction=False) as pipe:
            for state, provider in pairs:
                pipe.zcard(self._keys.provider_state_index(provider, state))
            return dict(zip(pairs, pipe.execute(), strict=True))

    def index_by_provider(self) -> int:
        """Add the orders stored before the per-provider indexes existed to them, once per store; returns how many.

        Later processes find it done (one EXISTS). An order that moves while this runs is indexed by its move, so
        nothing is missed; what it reads is the difference between each state's index and its providers'.
        """
        done_key = self._keys.provider_index_built()
        if self._redis.exists(done_key):
            return 0
        indexed = 0
        for state in states.ALL:
            indexes = self._provider_indexes(state)
            missing = [member.decode() for member in self._redis.zdiff([self._keys.state_index(state), *indexes])]
            for start in range(0, len(missing), INDEX_BATCH):
                batch = missing[start : start + INDEX_BATCH]
                keys = [self._keys.state_index(state), *indexes, *(self._keys.order(rid) for rid in batch)]
                args = [state, len(INDEXED), *INDEXED, *batch]
                indexed += self._scripts["index_by_provider"](keys=keys, args=args)
        self._redis.set(done_key, "1")
        return indexed

    def request_ids(self, state: str, limit: int = 100, *, before_ms: int | None = None) -> list[str]:
        """RequestIds in one state, oldest first; only those that entered it before `before_ms` if given."""
        top = "+inf" if before_ms is None else f"({before_ms}"
        members = self._redis.zrangebyscore(self._keys.state_index(state), "-inf", top, start=0, num=limit)
        return [member.decode() for member in members]

    def touch(self, request_id: str, state: str, at_ms: int) -> None:
        """Move an order to the back of its state's index (reconciliation looked at it at `at_ms`)."""
        with self._redis.pipeline(transaction=True) as pipe:
            for key in (self._keys.state_index(state), *self._provider_indexes(state)):
                pipe.zadd(key, {request_id: at_ms}, xx=True)
            pipe.execute()

    def begin_step(self, request_id: str, step: str, *, lease_s: int) -> bool:
        """Take one step of an order (e.g. poll attempt 3) unless another delivery of it runs or ran it.

        A delivery that dies mid-step loses the step after `lease_s`, so a later delivery can take it.
        """
        return bool(self._redis.set(self._keys.step(request_id, step), "running", nx=True, ex=lease_s))

    def claim_extra_poll(self, request_id: str, *, interval_s: int) -> bool:
        """True for the first call per order in `interval_s`: a webhook's poll now, at most one per interval."""
        return bool(self._redis.set(self._keys.extra_poll(request_id), "1", nx=True, ex=max(interval_s, 1)))

    def end_step(self, request_id: str, step: str, *, keep_s: int = 86400) -> None:
        """Mark a step done: every later delivery of it is skipped."""
        self._redis.set(self._keys.step(request_id, step), "done", ex=keep_s)

    def page(self, state: str, *, limit: int, after: str | None = None, producer: str | None = None) -> OrderPage:
        """Orders in one state, oldest first, `limit` at most, from just after the cursor `after`.

        The cursor is where the last page stopped in the state's index (time entered, RequestId), so orders
        moving out of the state meanwhile neither shift nor repeat a page. With `producer`, only its orders
        are returned; at most SCAN_BUDGET index entries are read per page, so a page may be short while
        `next_cursor` says there is more.
        """
        start_ms, start_id = _parse_cursor(after)
        key = self._keys.state_index(state)
        records: list[OrderRecord] = []
        cursor, offset, scanned = after, 0, 0
        while len(records) < limit and scanned < SCAN_BUDGET:
            batch = self._redis.zrangebyscore(key, start_ms, "+inf", start=offset, num=limit, withscores=True)
            if not batch:
                return OrderPage(records, None)
            offset += len(batch)
            batch = [(m.decode(), int(s)) for m, s in batch if not (int(s) == start_ms and m.decode() <= start_id)]
            for (request_id, entered_ms), record in zip(batch, self.get_many([m for m, _ in batch]), strict=True):
                scanned += 1
                cursor = f"{entered_ms}:{request_id}"
                if record and producer in (None, record.producer):
                    records.append(record)
                if len(records) == limit:
                    break
        return OrderPage(records, cursor)

    def purge_expired(self) -> int:
        """Drop index entries of final orders whose records expired (retention_s after they became final)."""
        if not self._retention_s:
            return 0
        seconds, microseconds = self._redis.time()
        cutoff_ms = seconds * 1000 + microseconds // 1000 - self._retention_s * 1000
        with self._redis.pipeline(transaction=False) as pipe:
            for state in sorted(states.FINAL):
                pipe.zremrangebyscore(self._keys.state_index(state), "-inf", cutoff_ms)
            for key in (key for state in sorted(states.FINAL) for key in self._provider_indexes(state)):
                pipe.zremrangebyscore(key, "-inf", cutoff_ms)  # the same entries, with the same scores
            return sum(pipe.execute()[: len(states.FINAL)])

    def _provider_indexes(self, state: str) -> list[str]:
        return [self._keys.provider_state_index(provider, state) for provider in INDEXED]

    def get_many(self, request_ids: list[str]) -> list[OrderRecord | None]:
        with self._redis.pipeline(transaction=False) as pipe:
            for request_id in request_ids:
                pipe.hgetall(self._keys.order(request_id))
            return [OrderRecord.from_hash(raw) if raw else None for raw in pipe.execute()]


def check_durable(client: redis.Redis, *, accepted_fsync: str = "always") -> list[str]:
    """Refuse a store Redis that may evict keys or forget writes on restart (the store holds money).

    `appendfsync` must be `always` unless the operator accepted another value in so many words
    (GIFTQ_ALLOW_APPENDFSYNC). Returns warnings that are no reason to refuse (no memory ceiling, little headroom).
    """
    try:
        config = {name: client.config_get(name).get(name) for name in CONFIG_CHECKED}
        memory = client.info("memory")
    except redis.ResponseError as error:
        raise StoreError(
            f"cannot read the store Redis configuration ({error}); if it is durable by other means, "
            "set GIFTQ_ALLOW_VOLATILE_STORE=true"
        ) from None
    policy, appendonly, fsync = config["maxmemory-policy"], config["appendonly"], config["appendfsync"]
    if policy != "noeviction" or appendonly != "yes":
        raise StoreError(
            f"the store Redis may lose orders (maxmemory-policy={policy}, appendonly={appendonly}); "
            "run it with --appendonly yes --maxmemory-policy noeviction, "
            "or set GIFTQ_ALLOW_VOLATILE_STORE=true to accept that risk"
        )
    if fsync not in ("always", accepted_fsync):
        raise StoreError(
            f"the store Redis may forget the last writes of paid orders on a crash (appendfsync={fsync}); "
            f"run it with --appendfsync always, or set GIFTQ_ALLOW_APPENDFSYNC={fsync} to accept that risk"
        )
    return _memory_warnings(int(config["maxmemory"] or 0), int(memory.get("used_memory", 0)))


def _memory_warnings(maxmemory: int, used: int) -> list[str]:
    """A store without a memory ceiling, or near it: a full noeviction Redis refuses every write, paid orders too."""
    if not maxmemory:
        return ["the store Redis has no maxmemory: set one below the host's memory, and alarm on used_memory"]
    if used > maxmemory * MEMORY_HEADROOM_WARN:
        return [f"the store Redis uses {used * 100 // maxmemory}% of its maxmemory: once full it refuses every write"]
    return []


def _parse_cursor(cursor: str | None) -> tuple[int | str, str]:
    """(time entered in ms, RequestId) of a page cursor; raises StoreError for one giftq did not make."""
    if not cursor:
        return "-inf", ""
    entered_ms, _, request_id = cursor.partition(":")
    if not entered_ms.isdigit() or not request_id:
        raise StoreError("not a page cursor")
    return int(entered_ms), request_id


def _flatten(fields: dict[str, object]) -> list[str]:
    return [str(item) for pair in fields.items() for item in pair]
