"""The broker's walls: kombu's Redis transport that trusts a message's queue, never its body.

A producer may push to its own intake queue and nowhere else (a Redis ACL user, `producer_acl_rules`). What a
message says of itself cannot widen that: kombu takes a message's `delivery_info` (exchange, routing key) from
the body the producer wrote, and puts an unacknowledged message back wherever the exchange's binding set (which
the producer may write to) routes it. This transport stamps each message with the queue it was really read
from, and routes a queue's own exchange to that queue alone. Tasks then know their door (`worker.delivery`).

It also counts each delivery of a task message where it records it as unacknowledged, for the task base class
to park a message delivered too often (`QoS`), and takes a message and records it in one command (`Channel`).
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from queue import Empty
from time import monotonic, time

import redis
from kombu.transport import redis as kombu_redis
from kombu.transport import virtual
from kombu.utils.encoding import bytes_to_str
from kombu.utils.json import dumps, loads
from kombu.utils.scheduling import round_robin_cycle

from worker.scripts import PRELUDE_DIR

REDIS_PRIORITY_SEPARATOR = "\x06\x16"  # kombu's separator between a queue and its priority level's list
DELIVERY_HEADER = "giftq_deliveries"  # the header a delivered task message carries its delivery count in
DELIVERY_COUNTER_PREFIX = "giftq.delivery:"  # + "<queue>:<task id>:<retries>": one message's deliveries, counted
DELIVERY_COUNT_TTL_S = 86400  # how long a counter is kept after the message's latest delivery
TAKE_MESSAGE = (PRELUDE_DIR / "take_message.lua").read_text()

logger = logging.getLogger(__name__)


class QoS(kombu_redis.QoS):
    """kombu's acknowledgement emulation, which also counts each delivery of a task message, in the same write.

    kombu records a delivered message as unacknowledged (its ZADD and HSET, in one MULTI) before the worker sees
    it. The count of the message's deliveries (by queue, task id and retry) goes into that transaction, and its
    value into the message's `giftq_deliveries` header, overwriting whatever the sender put there: the task then
    knows how often it was delivered without a round trip of its own (worker/delivery.py), and no sender can say
    otherwise.
    """

    def append(self, message, delivery_tag) -> None:  # type: ignore[no-untyped-def]
        headers = message.headers if isinstance(message.headers, dict) else {}
        headers.pop(DELIVERY_HEADER, None)  # a count the sender wrote is never believed
        taken = self.channel.taken
        if taken is not None and taken.recorded:  # take_message.lua recorded and counted it as it took it
            if taken.deliveries:
                headers[DELIVERY_HEADER] = taken.deliveries
            virtual.QoS.append(self, message, delivery_tag)
            return
        task_id = headers.get("id")
        if not isinstance(task_id, str):  # not a task message (Celery's protocol 2): kombu's bookkeeping only
            super().append(message, delivery_tag)
            return
        delivery = message.delivery_info
        record = dumps([message._raw, delivery["exchange"], delivery["routing_key"]])
        # kombu's client prefixes the keys of the commands it knows (ZADD, HSET), not those of INCR and EXPIRE.
        counter = delivery_counter(delivery["routing_key"], task_id, headers.get("retries"))
        counter = self.channel.global_keyprefix + counter
        with self.pipe_or_acquire() as pipe:
            pipe.zadd(self.unacked_index_key, {delivery_tag: time()}).hset(self.unacked_key, delivery_tag, record)
            _, _, count, _ = pipe.incr(counter).expire(counter, DELIVERY_COUNT_TTL_S).execute()
        headers[DELIVERY_HEADER] = count
        virtual.QoS.append(self, message, delivery_tag)

    def ack(self, delivery_tag) -> None:  # type: ignore[no-untyped-def]
        """Acknowledge: with the channel's next take, when one follows at once (see `Channel.defers_acks`)."""
        virtual.QoS.ack(self, delivery_tag)
        self.channel.acks_due.append(delivery_tag)
        if not (self.channel.defers_acks() and self.can_consume()):  # no take follows now: write it, and any due
            self.channel.flush_acks()

    def restore_by_tag(self, tag, client=None, leftmost=False) -> None:  # type: ignore[no-untyped-def]
        """kombu's, except that a record that cannot be read (a sender's malformed message, taken by a worker that
        died before it could refuse it) is dropped, not left to fail every sweep of every worker."""
        try:
            super().restore_by_tag(tag, client, leftmost)
        except ValueError:
            logger.error("an unacknowledged message (delivery tag %s) cannot be read: dropped", tag)
            with self.pipe_or_acquire(client=client) as pipe:
                self._remove_from_indices(tag, pipe).execute()


def delivery_counter(queue: str, task_id: str, retries: object) -> str:
    """The broker's key (before its prefix) counting the deliveries of one retry of one task message from one
    queue, as take_message.lua builds it: a retries that is not a whole number below 2**53 counts as 0. The queue
    is part of it, so that no sender can count deliveries of a message of someone else's queue."""
    whole = isinstance(retries, int | float) and not isinstance(retries, bool) and math.isfinite(retries)
    number = int(retries) if whole and retries == int(retries) and abs(retries) < 2**53 else 0
    return f"{DELIVERY_COUNTER_PREFIX}{queue}:{task_id}:{number}"


@dataclass(frozen=True)
class Taken:
    """What take_message.lua did with the message being delivered: recorded it (and counted its deliveries)."""

    recorded: bool
    deliveries: int


class Channel(kombu_redis.Channel):
    """kombu's Redis channel, routing a queue's own exchange to that queue alone, with one client for its commands,
    a queue that may be given turns less often than the others and one served before them (`PatientCycle`), and
    messages taken and recorded as unacknowledged in one command (take_message.lua) while the queues have any.

    kombu's BRPOP takes a message, and the delivery's bookkeeping records it in a second command: a worker killed
    between the two loses the message, and each message costs two writes (with the store's `appendfsync always`,
    two waits for the disk). Once the queues are empty, kombu's BRPOP waits for the next message as before.

    kombu builds a new Redis client object (with the global key prefix: a `PrefixedStrictRedis`) for every
    command it sends outside its own polling: each publish, each task event, each acknowledgement. The object
    holds no connection of its own (it borrows one from the channel's pool per command), so one per channel
    serves them all, built again only when the channel's pool is.
    """

    # Transport options of giftq's own (config/celery.py): the queue that waits, and after how many messages of the
    # others it is given its turn; the queue served before all others. Without them the queues take turns as in kombu.
    from_transport_options = (*kombu_redis.Channel.from_transport_options, "patient_queue", "patient_turn_after",
                              "first_queue")  # fmt: skip
    patient_queue: str | None = None
    patient_turn_after: int = 0
    first_queue: str | None = None

    QoS = QoS
    _shared_client: redis.Redis | None = None

    taken: Taken | None = None  # while a message take_message.lua took is delivered: what it did (read by QoS)
    _acks_sent: list[str] = []  # acknowledgements sent with the take awaiting its reply (never mutated in place)
    _take_at_once = True  # False once take_message.lua found every queue empty: kombu's BRPOP then waits
    _taking: list[str] | None = None  # the queue of each list of the take_message.lua call awaiting its reply

    def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        self.acks_due: list[str] = []  # delivery tags acknowledged, to be dropped by the next take
        super().__init__(*args, **kwargs)
        if self.patient_queue or self.first_queue:  # filled as kombu's is, at each basic_consume
            self._queue_cycle = PatientCycle(self.patient_queue, self.patient_turn_after, first=self.first_queue)

    def defers_acks(self) -> bool:
        """Whether an acknowledgement may wait for the next take: while the queues have messages, a take follows
        as soon as the acknowledgement frees a prefetch slot. It is written before any BRPOP, and when consuming
        stops. Should the worker die first, the message is delivered again, as when it dies before acknowledging:
        giftq's tasks are made for a second delivery (config/celery.py)."""
        return self._take_at_once and not self._closing and bool(self.active_queues)

    def flush_acks(self) -> None:
        """Write the acknowledgements that were waiting for a take (those sent with a take whose reply never came
        too: dropping a record twice is harmless). They stay due if Redis cannot be reached."""
        due = self._acks_sent + self.acks_due
        if due:
            with self.conn_or_acquire() as client, client.pipeline() as pipe:
                for tag in due:
                    self.qos._remove_from_indices(tag, pipe)
                pipe.execute()
            self._acks_sent, self.acks_due = [], []

    def basic_cancel(self, consumer_tag):  # type: ignore[no-untyped-def]
        self.flush_acks()
        return super().basic_cancel(consumer_tag)

    def close(self) -> None:
        self._closing = True  # acknowledgements from here on are written at once
        try:
            if not self.closed:
                self.flush_acks()
        finally:
            super().close()

    def _brpop_start(self, timeout: int | None = None) -> None:
        """Ask for the next message: with take_message.lua while the queues have messages, which takes and records
        it in one command, and with kombu's BRPOP (which waits for one) once they had none."""
        if not self._take_at_once:
            self._taking = None
            self.flush_acks()
            super()._brpop_start(timeout)
            return
        queues = self._queue_cycle.consume(len(self.active_queues))
        if not queues:
            return
        lists = [(self._q_for_pri(queue, pri), queue) for pri in self.priority_steps for queue in queues]
        prefix = self.global_keyprefix
        keys = [*(prefix + key for key, _ in lists), prefix + self.unacked_index_key, prefix + self.unacked_key]
        self._taking = [queue for _, queue in lists]
        self._in_poll = self.client.connection
        self._brpop_sent_at = monotonic()
        # Acknowledgements ride with the take; until its reply is read they count as sent, not as written.
        self._acks_sent, self.acks_due = self._acks_sent + self.acks_due, []
        args = [time(), prefix + DELIVERY_COUNTER_PREFIX, DELIVERY_COUNT_TTL_S, *self._taking, *self._acks_sent]
        self.client.connection.send_command("EVAL", TAKE_MESSAGE, len(keys), *keys, *args)

    def _brpop_read(self, **options) -> bool:  # type: ignore[no-untyped-def]
        taking, self._taking = self._taking, None
        if taking is None:  # kombu's BRPOP: after it, take at once again
            self._take_at_once = True
            return super()._brpop_read(**options)
        try:
            try:
                reply = self.client.parse_response(self.client.connection, "EVAL", **options)
            except self.connection_errors:
                self.client.connection.disconnect()  # as kombu does: the next start connects again
                raise
        finally:
            self._in_poll = None
            self._flush_brpop_reauth()
        self._acks_sent = []  # the script ran: they are written
        if not reply:
            self._take_at_once = False
            raise Empty()
        index, item, recorded, deliveries, tag = reply
        queue = taking[index - 1]
        self._queue_cycle.rotate(queue)
        try:
            payload = loads(bytes_to_str(item))
        except ValueError:  # Redis's JSON parser is laxer than Python's: a sender's malformed message
            logger.error("a message of %d bytes from queue %s is not JSON: dropped", len(item), queue)
            if recorded:
                self.qos._remove_from_indices(tag).execute()
            raise Empty() from None
        self.taken = Taken(bool(recorded), deliveries)
        try:
            self.connection._deliver(payload, queue)
        finally:
            self.taken = None
        return True

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
    messages of the others, while they have any (when they have none, it is served at once), and `first` before
    every other queue whenever it holds a message.

    A channel asks Redis for its next message with one BRPOP over its queues, in the order `consume` gives: the
    first that holds a message is served. kombu's round robin moves the queue just served to the end. Here the
    patient queue goes last until the others have been served `after` times since its last turn, and then first,
    however many of the others have messages; the others take turns among themselves as in kombu (all of them, the
    patient one too, when `after` is 0). The first queue is always asked first, and a message of it counts as none
    of the others' turns.
    """

    def __init__(self, patient: str | None, after: int, *, first: str | None = None) -> None:
        super().__init__()
        self.patient, self.after, self.first = patient, after, first
        self._others_served = 0  # messages of the other queues since the patient queue's last

    def consume(self, n: int) -> list[str]:
        queues = self.items[:n]
        if self.after > 0 and self.patient in queues:
            queues.remove(self.patient)
            queues.insert(len(queues) if self._others_served < self.after else 0, self.patient)
        if self.first in queues:
            queues.remove(self.first)
            queues.insert(0, self.first)
        return queues

    def rotate(self, last_used: str) -> str:
        if last_used == self.first:
            return last_used
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
