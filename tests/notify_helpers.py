"""Helpers for notification tests run in the test's own process: a final order asking for a notification, and a
Notifier over the test's runtime with settings and a resolver of the test's choosing."""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import uuid
from collections.abc import Callable

from worker.orders import states
from worker.orders.destinations import Resolver, system_resolver
from worker.orders.notifications import Notifier
from worker.orders.store import OrderRecord, OrderStore
from worker.runtime import Runtime

CALLBACK_SECRET = "shop-callback-secret-0123456789"
LOOPBACK_ONLY = (ipaddress.ip_network("127.0.0.1/32"),)


def final_order(rt: Runtime, notify: dict, *, producer: str = "shop") -> OrderRecord:
    """A fulfilled order asking for `notify`, moved final by a store without the on-final hook (no task is sent)."""
    request_id = str(uuid.uuid4())
    fields = {"producer": producer, "credential": "giftq-demo", "notify": json.dumps(notify, sort_keys=True)}
    OrderStore(rt.redis, rt.keys).create(request_id, {"RequestId": request_id}, **fields)
    return made_final(rt, request_id)


def made_final(rt: Runtime, request_id: str) -> OrderRecord:
    """The accepted order moved to fulfilled, as its placing and polling would, by a store without the on-final hook."""
    silent = OrderStore(rt.redis, rt.keys)
    for target in (states.SUBMITTING, states.PLACED, states.FULFILLED):
        assert silent.transition(request_id, target)
    record = rt.store.get(request_id)
    assert record is not None
    return record


def notifier_for(rt: Runtime, *, resolve: Resolver = system_resolver, send_task: Callable[..., object] | None = None,
                 **notify_settings: object) -> Notifier:  # fmt: skip
    """A Notifier of the test's runtime, its NotifySettings changed by `notify_settings`, with `resolve`."""
    settings = dataclasses.replace(rt.settings.notify, **notify_settings)
    return Notifier(rt.store, rt.vault, settings, send_task=send_task or _no_task, now_ms=rt.now_ms, resolve=resolve)


def _no_task(*_: object, **__: object) -> None:
    raise AssertionError("no task was to be sent")
