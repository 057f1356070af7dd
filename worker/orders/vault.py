"""The cards of order records: read by their producer (each read recorded), re-encrypted, erased after retention.

Card codes and PINs live in Redis only as the Fernet token in an order's `cards` field. They are in clear
only in the memory of the process answering `GET /orders/{request_id}/cards`, and only for that answer.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import redis
from redis.client import Pipeline

from worker.errors import GiftqError
from worker.keys import Keys
from worker.orders import states
from worker.orders.crypto import CardCipher, CipherError
from worker.orders.store import OrderRecord, OrderStore

logger = logging.getLogger(__name__)

CARDS_FIELD = "cards"
CARDS_ERASED = "cards erased after retention"  # the history note of an erasure
KEY_CHECK_SAMPLE = 10  # newest final orders looked at for a token to check the keys with, per state
ERASE_BATCH = 500  # orders erased per retention run


class CardsErased(GiftqError):
    """Raised when an order's cards were erased after retention: the record stays, the cards are gone."""

    reason = "CardsErased"


@dataclass
class RotationReport:
    """What `giftq keys rotate` did: tokens rewritten under the newest key, and orders it could not decrypt."""

    rotated: int = 0
    undecryptable: list[str] = field(default_factory=list)


class CardVault:
    """Every use of an order's encrypted cards goes through here; nothing else decrypts them."""

    def __init__(self, client: redis.Redis, keys: Keys, store: OrderStore, cipher: CardCipher):
        self._redis = client
        self._keys = keys
        self._store = store
        self._cipher = cipher

    def read(self, record: OrderRecord, *, producer: str, key_id: str) -> list[dict]:
        """The order's decrypted cards, for its producer; the read is recorded (who, which key, when) first.

        Raises CardsErased after retention, CipherError if no configured key decrypts them.
        """
        if record.cards_erased_ms:
            raise CardsErased(f"the cards of order {record.request_id} were erased after retention")
        try:
            cards = self._cipher.decrypt(record.cards_token, record.cards_context) if record.cards_token else []
        except CipherError as error:
            logger.error("cards of order %s refused (%s): %s", record.request_id, error.reason, error)
            raise
        now_ms = self._now_ms()
        reads_key = self._keys.cards_reads(record.request_id)

        def record_read(_: OrderRecord) -> Callable[[Pipeline], object]:
            def writes(pipe: Pipeline) -> None:
                pipe.rpush(reads_key, json.dumps({"producer": producer, "key_id": key_id, "at_ms": now_ms}))
                pipe.hincrby(self._keys.order(record.request_id), "cards_reads", 1)
                pipe.zadd(self._keys.cards_delivered(), {record.request_id: now_ms}, nx=True)

            return writes

        if not self._store.amend(record.request_id, record_read):
            raise CardsErased(f"order {record.request_id} expired")
        self._keep_as_long_as_the_order(record.request_id, reads_key)
        return cards

    def reads(self, request_id: str) -> list[dict]:
        """Every recorded read of the order's cards, oldest first: {producer, key_id, at_ms}."""
        return [json.loads(entry) for entry in self._redis.lrange(self._keys.cards_reads(request_id), 0, -1)]

    def mark_delivered(self, request_id: str, at_ms: int) -> None:
        """The order's producer was told it is final: its cards' retention starts now (if not already)."""
        self._redis.zadd(self._keys.cards_delivered(), {request_id: at_ms}, nx=True)

    def erase_delivered(self, *, retention_s: int, limit: int = ERASE_BATCH) -> int:
        """Erase the cards of orders delivered more than `retention_s` ago; records and history stay."""
        now_ms = self._now_ms()
        due = self._redis.zrangebyscore(self._keys.cards_delivered(), "-inf", now_ms - retention_s * 1000, 0, limit)
        erased = 0
        for request_id in (member.decode() for member in due):
            if self._erase(request_id, now_ms):
                erased += 1
            self._redis.zrem(self._keys.cards_delivered(), request_id)
        return erased

    def rotate_all(self) -> RotationReport:
        """Re-encrypt every stored cards token under the newest key, one record at a time, atomically each.

        A token no configured key decrypts is left as it is and reported; the others are still rotated.
        """
        report = RotationReport()
        for key in self._redis.scan_iter(match=self._keys.order_pattern(), count=1000, _type="hash"):
            request_id = (self._redis.hget(key, "request_id") or b"").decode()
            if not request_id:
                continue
            try:
                report.rotated += self._rewrite(request_id, lambda record: self._cipher.rotate(record.cards_token))
            except CipherError:
                report.undecryptable.append(request_id)
        return report

    def check_keys(self) -> None:
        """Refuse to start with keys that cannot decrypt the newest stored cards (a key dropped too early).

        Decrypts one token of the newest fulfilled or partially fulfilled orders, if there is one.
        """
        for state in (states.FULFILLED, states.PARTIALLY_FULFILLED):
            for request_id in self._redis.zrevrange(self._keys.state_index(state), 0, KEY_CHECK_SAMPLE - 1):
                record = self._store.get(request_id.decode())
                if record and record.cards_token:
                    self._check_token(record)
                    return

    def _check_token(self, record: OrderRecord) -> None:
        try:
            self._cipher.decrypt(record.cards_token, record.cards_context)
        except CipherError:
            raise CipherError(
                f"GIFTQ_FERNET_KEYS cannot decrypt the stored cards of order {record.request_id}: keep the old key "
                "after the new one until `giftq keys rotate` has run"
            ) from None

    def _rewrite(self, request_id: str, new_token: Callable[[OrderRecord], str]) -> int:
        """Replace the order's cards token by `new_token(record)` in one transaction; 1 if it was replaced."""
        wrote = [False]

        def plan(record: OrderRecord) -> Callable[[Pipeline], object] | None:
            wrote[0] = bool(record.cards_token)
            if not wrote[0]:
                return None
            token = new_token(record)
            return lambda pipe: pipe.hset(self._keys.order(request_id), CARDS_FIELD, token)

        self._store.amend(request_id, plan)
        return int(wrote[0])

    def _erase(self, request_id: str, now_ms: int) -> bool:
        """Erase the order's cards, with a history note, in one transaction; True if there were cards."""
        erased = [False]

        def plan(record: OrderRecord) -> Callable[[Pipeline], object] | None:
            erased[0] = bool(record.cards_token)
            if not erased[0]:
                return None

            def writes(pipe: Pipeline) -> None:
                pipe.hdel(self._keys.order(request_id), CARDS_FIELD)
                pipe.hset(self._keys.order(request_id), "cards_erased_ms", now_ms)
                self._store.note(pipe, record, CARDS_ERASED, now_ms)

            return writes

        self._store.amend(request_id, plan)
        return erased[0]

    def _keep_as_long_as_the_order(self, request_id: str, key: str) -> None:
        ttl_ms = self._redis.pttl(self._keys.order(request_id))
        if ttl_ms > 0:
            self._redis.pexpire(key, ttl_ms)

    def _now_ms(self) -> int:
        seconds, micros = self._redis.time()
        return seconds * 1000 + micros // 1000
