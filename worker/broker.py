"""The broker's walls: kombu's Redis transport that trusts a message's queue, never its body.

A producer may push to its own intake queue and nowhere else (a Redis ACL user, `producer_acl_rules`). What a
message says of itself cannot widen that: kombu takes a message's `delivery_info` (exchange, routing key) from
the body the producer wrote, and puts an unacknowledged message back wherever the exchange's binding set (which
the producer may write to) routes it. This transport stamps each message with the queue it was really read
from, and routes a queue's own exchange to that queue alone. Tasks then know their door (`worker.delivery`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from time import time

import redis
from kombu.transport import redis as kombu_redis
from kombu.transport import virtual
from kombu.utils.json import dumps
from kombu.utils.scheduling import round_robin_cycle

REDIS_PRIORITY_SEPARATOR = "\x06\x16"  # kombu's separator between a queue and its priority level's list
DELIVERY_HEADER = "giftq_deliveries"  # the header a delivered task message carries its delivery count in
DELIVERY_COUNTER = "giftq.delivery.{id}.{retries}"  # the broker's key counting the deliveries of one task message
DELIVERY_COUNT_TTL_S = 86400  # how long a counter is kept after the message's latest delivery


class QoS(kombu_redis.QoS):
    """kombu's acknowledgement emulation, which also counts each delivery of a task message, in the same write.

    kombu records a delivered message as unacknowledged (its ZADD and HSET, in one MULTI) before the worker sees
    it. The count of the message's deliveries (by task id and retry) goes into that transaction, and its value into
    the message's `giftq_deliveries` header, overwriting whatever the sender put there: the task then knows how
    often it was delivered without a round trip of its own (worker/delivery.py), and no sender can say otherwise.
    """

    def append(self, message, delivery_tag) -> None:  # type: ignore[no-untyped-def]
        headers = message.headers if isinstance(message.headers, dict) else {}
        headers.pop(DELIVERY_HEADER, None)  # a count the sender wrote is never believed
        task_id = headers.get("id")
        if task_id is None:  # not a task message (Celery's protocol 2): kombu's own bookkeeping only
            super().append(message, delivery_tag)
            return
        delivery = message.delivery_info
        record = dumps([message._raw, delivery["exchange"], delivery["routing_key"]])
        # kombu's client prefixes the keys of the commands it knows (ZADD, HSET), not those of INCR and EXPIRE.
        retries = headers.get("retries") or 0
        counter = self.channel.global_keyprefix + DELIVERY_COUNTER.format(id=task_id, retries=retries)
        with self.pipe_or_acquire() as pipe:
            pipe.zadd(self.unacked_index_key, {delivery_tag: time()}).hset(self.unacked_key, delivery_tag, record)
            _, _, count, _ = pipe.incr(counter).expire(counter, DELIVERY_COUNT_TTL_S).execute()
        headers[DELIVERY_HEADER] = count
        virtual.QoS.append(self, message, delivery_tag)


class Channel(kombu_redis.Channel):
    """kombu's Redis channel, routing a queue's own exchange to that queue alone, with one client for its commands,
    and a queue that may be given turns less often than the others (`PatientCycle`).

    kombu builds a new Redis client object (with the global key prefix: a `PrefixedStrictRedis`) for every
    command it sends outside its own polling: each publish, each task event, each acknowledgement. The object
    holds no connection of its own (it borrows one from the channel's pool per command), so one per channel
    serves them all, built again only when the channel's pool is.
    """

    # Transport options of giftq's own (config/celery.py): the queue that waits, and after how many messages of the
    # others it is given its turn. Without them the queues take turns as in kombu.
    from_transport_options = (*kombu_redis.Channel.from_transport_options, "patient_queue", "patient_turn_after")
    patient_queue: str | None = None
    patient_turn_after: int = 0

    QoS = QoS
    _shared_client: redis.Redis | None = None

    def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        if self.patient_queue and self.patient_turn_after > 0:  # filled as kombu's is, at each basic_consume
            self._queue_cycle = PatientCycle(self.patient_queue, self.patient_turn_after)

    @contextmanager
    def conn_or_acquire(self, client: redis.Redis | None = None) -> Iterator[redis.Redis]:
        if client:
            yield client
            return
        shared = self._shared_client
        if shared is None or shared.connection_pool is not self.pool:
            shared = self._shared_client = self._create_client()
        yield shared

    def _lookup(self, exchange: str, routing_key: str, default: object = None) -> list[str]:
        """A queue's own exchange (Celery's `Queue(name)`: exchange and routing key are its name) routes to that
        queue only, whatever its binding set says: a producer may write to the binding set of its queue.

        This covers a message put back after a lost worker and a task's retry, both routed by the stamp below.
        """
        if exchange and exchange == routing_key:
            return [routing_key]
        return super()._lookup(exchange, routing_key, default)


class PatientCycle(round_robin_cycle):
    """kombu's round robin between a channel's queues, except that `patient` is served once after every `after`
    messages of the others, while they have any (when they have none, it is served at once).

    A channel asks Redis for its next message with one BRPOP over its queues, in the order `consume` gives: the
    first that holds a message is served. kombu's round robin moves the queue just served to the end. Here the
    patient queue goes last until the others have been served `after` times since its last turn, and then first,
    however many of the others have messages; the others take turns among themselves as in kombu.
    """

    def __init__(self, patient: str, after: int) -> None:
        super().__init__()
        self.patient, self.after = patient, after
        self._others_served = 0  # messages of the other queues since the patient queue's last

    def consume(self, n: int) -> list[str]:
        queues = self.items[:n]
        if self.patient in queues:
            queues.remove(self.patient)
            queues.insert(len(queues) if self._others_served < self.after else 0, self.patient)
        return queues

    def rotate(self, last_used: str) -> str:
        self._others_served = 0 if last_used == self.patient else self._others_served + 1
        return super().rotate(last_used)


class Transport(kombu_redis.Transport):
    """kombu's Redis transport whose messages carry the queue they were read from as exchange and routing key.

    Every queue giftq consumes is declared with an exchange and routing key of its own name (Celery's
    `Queue(name)`), so for an honest message the stamp changes nothing.
    """

    Channel = Channel

    def _deliver(self, message: dict, queue: str) -> None:
        if queue and not any(queue in channel._fanout_queues for channel in self.channels):
            properties = message.setdefault("properties", {})
            info = properties.get("delivery_info")
            info = info if isinstance(info, dict) else {}
            properties["delivery_info"] = {**info, "exchange": queue, "routing_key": queue}
        super()._deliver(message, queue)


def producer_acl_rules(queue: str, *, key_prefix: str = "") -> list[str]:
    """The Redis ACL rules of a producer allowed to send tasks to `queue` and nowhere else.

    Its keys are the queue (and its priority lists) and the queue's two binding sets, which a Celery producer
    declares before it publishes; its commands only what publishing needs. `key_prefix` is the broker's
    `global_keyprefix` (GIFTQ_BROKER_KEY_PREFIX). Pass them after `ACL SETUSER <name> on ><password>`.
    """
    own = _glob_escaped(key_prefix + queue)
    bindings = [_glob_escaped(f"{key_prefix}_kombu.{kind}.{queue}") for kind in ("binding", "binding_permanent")]
    keys = [own, f"{own}{REDIS_PRIORITY_SEPARATOR}*", *bindings]
    commands = ["lpush", "llen", "sadd", "smembers", "multi", "exec", "discard", "ping", "hello", "auth", "select",
                "client|setname"]  # fmt: skip
    return ["resetkeys", "resetchannels", *(f"~{key}" for key in keys), "-@all", *(f"+{c}" for c in commands)]


def _glob_escaped(text: str) -> str:
    """`text` as a Redis glob pattern matching only itself."""
    return re.sub(r"([*?\[\]\\])", r"\\\1", text)


GIFTQ_ACL_RULES = ["~*", "&*", "+@all"]  # giftq's own processes: every key of its store, throttle and broker
