"""Everything the BHN sandbox remembers, behind one lock.

Handlers call these methods and never touch the fields themselves; nothing here sleeps, so the lock is never held
while a fault, a wait-time header or a delay runs.
"""

import random
import secrets
import threading
import time
from collections import deque
from typing import Any

from sandbox.bhn import audit
from sandbox.bhn.orders import COMPLETED, Order, OrderLine, line_fates
from sandbox.bhn.rules import Reading
from sandbox.bhn.seed import CLIENTS_BY_ID
from sandbox.bhn.settings import Settings
from sandbox.bhn.tokens import Tokens
from sandbox.common.calllog import CallRecord
from sandbox.common.faults import Fault, FaultSchedule

ORDER_FATES = ("completed", "rejected", "cancelled", "partial")


class SandboxState:
    """Tokens, revoked clients, orders by key and by id, the charges, the call log, limits, faults, next fates."""

    def __init__(self, settings: Settings) -> None:
        self._lock = threading.Lock()
        self.settings = settings
        with self._lock:
            self._clear()

    def _clear(self) -> None:
        self.tokens = Tokens()
        self.revoked: set[str] = set()
        self.orders: dict[tuple[str, str], Order] = {}  # (client id, idempotency key) -> order
        self.orders_by_id: dict[str, Order] = {}
        self.egift_pages: dict[str, tuple[Order, OrderLine]] = {}
        self.charges: list[Order] = []
        self.calls: list[CallRecord] = []
        self.faults = FaultSchedule()
        self.next_fates: deque[str] = deque()
        self.last_create: dict[str, float] = {}
        self.get_arrivals: dict[str, deque[float]] = {}
        self.rng = random.Random(self.settings.seed)
        self.next_order_number = 1

    def reset(self) -> None:
        """Forget tokens, revocations, calls, orders, charges, faults and queued fates; reseed (settings kept)."""
        with self._lock:
            self._clear()

    def configure(self, changes: dict[str, Any]) -> Settings:
        """Apply run-time setting changes (ValueError if one is bad) and return the new settings."""
        with self._lock:
            self.settings = self.settings.updated(changes)
            return self.settings

    def issue_token(self, client_id: str, secret: str) -> str | None:
        """Return a new token for a known, unrevoked client with the right secret; None otherwise."""
        client = CLIENTS_BY_ID.get(client_id)
        if client is None or not secrets.compare_digest(secret.encode(), client.secret.encode()):
            return None
        with self._lock:
            if client_id in self.revoked:
                return None
            return self.tokens.issue(client_id, time.time(), self.settings.token_lifetime_s)

    def authenticate(self, authorization: str | None) -> tuple[str | None, str]:
        """Return the client of a ``Bearer`` header and "", or None and the error code of the 401."""
        scheme, _, value = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            return None, "token.missing"
        with self._lock:
            client_id, problem = self.tokens.check(value.strip(), time.time())
            if client_id in self.revoked:
                return None, "token.revoked"
            return client_id, problem

    def expire_tokens(self) -> int:
        """Expire every token issued so far; return how many."""
        with self._lock:
            return self.tokens.expire_all(time.time())

    def set_revoked(self, client_id: str, revoked: bool) -> None:
        """Revoke a client (its tokens and token requests get 401) or restore it; ValueError if unknown."""
        if client_id not in CLIENTS_BY_ID:
            raise ValueError(f"no client {client_id!r}")
        with self._lock:
            (self.revoked.add if revoked else self.revoked.discard)(client_id)

    def is_revoked(self, client_id: str) -> bool:
        with self._lock:
            return client_id in self.revoked

    def arrive(self, details: dict[str, Any], client_id: str | None) -> tuple[CallRecord, float]:
        """Log a call's arrival and apply the optional limits; return the record and the seconds to wait (0: none)."""
        with self._lock:
            record = CallRecord(seq=len(self.calls) + 1, at=time.time(), client=client_id, **details)
            self.calls.append(record)
            if client_id is None:
                return record, 0.0
            if record.endpoint == "place_order":
                return record, self._spacing_wait(client_id, record.at)
            if record.endpoint == "get_order":
                return record, self._get_wait(client_id, record.at)
            return record, 0.0

    def _spacing_wait(self, client_id: str, at: float) -> float:
        previous, self.last_create[client_id] = self.last_create.get(client_id), at
        spacing_s = self.settings.spacing_ms / 1000
        return 0.0 if previous is None or at - previous >= spacing_s else previous + spacing_s - at

    def _get_wait(self, client_id: str, at: float) -> float:
        limit, window_s = self.settings.get_limit, self.settings.get_window_ms / 1000
        arrivals = self.get_arrivals.setdefault(client_id, deque())
        while arrivals and arrivals[0] <= at - window_s:
            arrivals.popleft()
        wait = arrivals[-limit] + window_s - at if limit and len(arrivals) >= limit else 0.0
        arrivals.append(at)
        return wait

    def answered(self, record: CallRecord, status: int | None, reason: str | None = None) -> None:
        """Note what a call was answered (status None: no answer was sent)."""
        with self._lock:
            record.status, record.reason = status, reason

    def take_fault(self, endpoint: str, moment: str) -> Fault | None:
        """Return the fault a call gets at ``moment``, if any (see ``sandbox.common.faults``)."""
        with self._lock:
            return self.faults.take(endpoint, moment, self.rng)

    def find_by_key(self, client_id: str, key: str) -> Order | None:
        """Return the client's order with this idempotency key, if any."""
        with self._lock:
            return self.orders.get((client_id, key))

    def create(self, client_id: str, reading: Reading, base_url: str) -> tuple[Order, bool]:
        """Store and charge a valid order, unless its key was taken meanwhile; return the order and whether it is
        new (False: the original order of the key, nothing charged again)."""
        with self._lock:
            key = f"{reading.external_id}:{reading.purchase_order_number}"
            existing = self.orders.get((client_id, key))
            if existing is not None:
                return existing, False
            order = self._new_order(client_id, reading, base_url)
            self.orders[(client_id, key)] = order
            self.orders_by_id[order.order_id] = order
            self.charges.append(order)
            for line in order.lines:
                self.egift_pages[line.egift_token] = (order, line)
            return order, True

    def _new_order(self, client_id: str, reading: Reading, base_url: str) -> Order:
        number, self.next_order_number = self.next_order_number, self.next_order_number + 1
        order_id = f"BHN{number:06d}{self.rng.randrange(16**6):06X}"
        fates = line_fates(len(reading.lines), self._draw_fate())
        lines = [
            OrderLine(f"{order_id}-{index + 1}", line, fate, secrets.token_urlsafe(18))
            for index, (line, fate) in enumerate(zip(reading.lines, fates, strict=True))
        ]
        now = time.time()
        delay_s = 0.0 if reading.synchronous else self.settings.fulfil_delay_ms / 1000
        return Order(order_id, client_id, reading.external_id, reading.purchase_order_number, lines,
                     reading.meta_data, created_at=now, final_at=now + delay_s, base_url=base_url)  # fmt: skip

    def _draw_fate(self) -> str:
        if self.next_fates:
            return self.next_fates.popleft()
        draw, settings = self.rng.random(), self.settings
        for fate, probability in (("rejected", settings.reject_probability),
                                  ("cancelled", settings.cancel_probability),
                                  ("partial", settings.partial_probability)):  # fmt: skip
            if draw < probability:
                return fate
            draw -= probability
        return "completed"

    def queue_fate(self, fate: str) -> None:
        """Make the next accepted order end with ``fate`` (one of ORDER_FATES); ValueError otherwise."""
        if fate not in ORDER_FATES:
            raise ValueError(f"fate must be one of {list(ORDER_FATES)}")
        with self._lock:
            self.next_fates.append(fate)

    def get_order(self, client_id: str | None, order_id: str) -> Order | None:
        """Return an order by BHN id if it is the client's (any client's when ``client_id`` is None)."""
        with self._lock:
            order = self.orders_by_id.get(order_id)
            return order if order is not None and client_id in (None, order.client_id) else None

    def list_orders(self, client_id: str, external_id: str, purchase_order_number: str | None) -> list[Order]:
        """Return the client's orders with this external_id (and PO, when given), oldest first."""
        with self._lock:
            return [order for (owner, _), order in self.orders.items() if owner == client_id
                    and order.external_id == external_id
                    and purchase_order_number in (None, order.purchase_order_number)]  # fmt: skip

    def egift(self, token: str) -> tuple[Order, OrderLine] | None:
        """Return the order line an e-gift page token names, if it exists and the line is COMPLETED now."""
        with self._lock:
            found = self.egift_pages.get(token)
        if found is None or found[1].fate != COMPLETED or found[0].status_at(time.time()) != COMPLETED:
            return None
        return found

    def schedule_fault(self, fault: Fault) -> None:
        with self._lock:
            self.faults.add(fault)

    def clear_faults(self) -> None:
        with self._lock:
            self.faults.clear()

    def faults_json(self) -> list[dict[str, Any]]:
        with self._lock:
            return self.faults.as_json()

    def calls_json(self) -> list[dict[str, Any]]:
        with self._lock:
            return [record.as_json() for record in self.calls]

    def ledger_json(self) -> list[dict[str, Any]]:
        with self._lock:
            return audit.ledger(list(self.charges), time.time())

    def findings_json(self) -> dict[str, Any]:
        with self._lock:
            return audit.findings(list(self.calls), list(self.charges), self.settings)
