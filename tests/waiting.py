"""Waiting for a condition with a deadline, never a blind sleep; reading what an order ended with."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from worker.orders import states
from worker.orders.crypto import CardCipher
from worker.runtime import Runtime

T = TypeVar("T")


def wait_for(probe: Callable[[], T], *, timeout_s: float, what: str, every_s: float = 0.05) -> T:
    """Call `probe` until it returns something truthy, and return that; fail the test after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what} (last: {value!r})")
        time.sleep(every_s)


def final_state(rt: Runtime, request_id: str) -> str | None:
    """The order's state if it is final, else None: a probe for `wait_for`."""
    record = rt.store.get(request_id)
    return record.state if record and record.state in states.FINAL else None


def cards_of(rt: Runtime, request_id: str, cipher: CardCipher | None = None) -> object:
    """The decrypted cards of a stored order, as bound to it (with `cipher`, or the runtime's)."""
    record = rt.store.get(request_id)
    return (cipher or rt.cipher).decrypt(record.cards_token, record.cards_context)
