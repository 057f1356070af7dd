"""The formats of the notification settings an operator writes: callback networks and hosts, Notify targets.

`config.settings` reads the variables and builds `NotifySettings` from these parsers; a malformed entry raises
ValueError, which `load_settings` turns into a SettingsError naming the variable. giftq's own task names and
queues are refused here, at start, so no configuration can let a producer's notification run one of giftq's
tasks or land on one of giftq's queues.
"""

from __future__ import annotations

import ipaddress
import re

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

CELERY_NAME = re.compile(r"^[A-Za-z0-9_.:-]{1,200}\Z")  # a task or queue name, as the order schema accepts it
_PRODUCER = re.compile(r"^[A-Za-z0-9_.-]{1,64}\Z")
_HOST_NAME = re.compile(r"^[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)*\Z")
# giftq's tasks and Celery's built-in ones: a notification must never run them.
RESERVED_TASK_PREFIXES = ("giftq.", "celery.")
# giftq's queues, Celery's default and event queues, kombu's own keys on a Redis broker.
RESERVED_QUEUE_PREFIXES = ("giftq.", "giftq:", "celery.", "celeryev", "_kombu", "unacked")
RESERVED_NAMES = ("giftq", "celery")


def reserved_task(name: str) -> bool:
    """True for a task name that is giftq's or Celery's own."""
    return name in RESERVED_NAMES or name.startswith(RESERVED_TASK_PREFIXES)


def reserved_queue(name: str, key_prefix: str = "") -> bool:
    """True for a queue giftq, Celery or kombu uses, or one named like a key of the store (`key_prefix`)."""
    in_store = bool(key_prefix) and (name == key_prefix or name.startswith(key_prefix + ":"))
    return name in RESERVED_NAMES or name.startswith(RESERVED_QUEUE_PREFIXES) or in_store


def parse_allow_networks(entries: list[str]) -> tuple[IpNetwork, ...]:
    """GIFTQ_CALLBACK_ALLOW_NETWORKS: CIDR networks (`10.0.0.0/8`, `127.0.0.1/32`, `fd00::/8`) callbacks may reach."""
    networks = []
    for entry in (entry.strip() for entry in entries):
        try:
            networks.append(ipaddress.ip_network(entry, strict=True))
        except ValueError:
            raise ValueError(
                f"GIFTQ_CALLBACK_ALLOW_NETWORKS: {entry!r} is not a network such as 10.0.0.0/8 (host bits zero)"
            ) from None
    return tuple(networks)


def parse_allow_hosts(entries: list[str]) -> frozenset[str]:
    """GIFTQ_CALLBACK_ALLOW_HOSTS: host names callbacks may reach whatever address they resolve to."""
    hosts = set()
    for entry in (entry.strip().lower().rstrip(".") for entry in entries):
        if _is_ip_address(entry):
            raise ValueError(f"GIFTQ_CALLBACK_ALLOW_HOSTS: {entry!r} is an address; allow it in "
                             "GIFTQ_CALLBACK_ALLOW_NETWORKS (e.g. 127.0.0.1/32)")  # fmt: skip
        if not _HOST_NAME.match(entry):
            raise ValueError(f"GIFTQ_CALLBACK_ALLOW_HOSTS: {entry!r} is not a host name such as hooks.shop.internal")
        hosts.add(entry)
    return frozenset(hosts)


def parse_notify_tasks(entries: list[str], *, key_prefix: str) -> dict[str, frozenset[tuple[str, str]]]:
    """GIFTQ_NOTIFY_TASKS: `producer:task.name@queue` entries, the only (task, queue) pairs a producer may name."""
    targets: dict[str, set[tuple[str, str]]] = {}
    for entry in (entry.strip() for entry in entries):
        producer, _, target = entry.partition(":")
        task, _, queue = target.rpartition("@")
        if not (_PRODUCER.match(producer) and CELERY_NAME.match(task) and CELERY_NAME.match(queue)):
            raise ValueError(f"GIFTQ_NOTIFY_TASKS: {entry!r} is not producer:task.name@queue")
        if reserved_task(task) or reserved_queue(queue, key_prefix):
            raise ValueError(
                f"GIFTQ_NOTIFY_TASKS: {entry!r} names a task or queue of giftq's own (giftq.*, celery, or the "
                "store's key prefix); a producer's notification goes to a task and queue of its own"
            )
        targets.setdefault(producer, set()).add((task, queue))
    return {producer: frozenset(pairs) for producer, pairs in targets.items()}


def _is_ip_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True
