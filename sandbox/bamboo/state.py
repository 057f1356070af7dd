"""Everything the Bamboo sandbox remembers, behind one lock.

Handlers call these methods and never touch the fields themselves; each method takes the lock for the
few microseconds it needs. Nothing here sleeps, so the lock is never held while a fault or a delay runs.
"""

import random
import threading
import time
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sandbox.bamboo import checkout, seed
from sandbox.bamboo.audit import CallRecord, Charge, findings, ledger
from sandbox.bamboo.auth import ACCESS, GRANTED
from sandbox.bamboo.limits import Limiter
from sandbox.bamboo.orders import CardIssuer, Item, Order
from sandbox.bamboo.seed import CLIENTS_BY_ID, PRODUCTS, Client
from sandbox.bamboo.settings import Settings
from sandbox.common.faults import Fault, FaultSchedule

FIRST_ORDER_ID = 1_000_001


@dataclass(frozen=True)
class Registration:
    """A client's webhook registration, as sent to the notification endpoint."""

    notification_url: str | None
    notification_url_sandbox: str | None
    secret_key: str


class SandboxState:
    """Balances, stock, orders, the ledger of charges, webhook registrations, access, the call log, limits, faults."""

    def __init__(self, settings: Settings) -> None:
        self._lock = threading.Lock()
        self.settings = settings
        with self._lock:
            self._clear()

    def _clear(self) -> None:
        self.balances: dict[int, Decimal] = {account.id: account.balance for account in seed.ACCOUNTS}
        self.stock: dict[int, int | None] = {product.id: product.count for product in PRODUCTS}
        self.orders: dict[tuple[str, str], Order] = {}
        self.charges: list[Charge] = []
        self.registrations: dict[str, Registration] = {}
        self.access: dict[str, str] = {}  # client id -> auth.REVOKED or FORBIDDEN; absent: GRANTED
        self.calls: list[CallRecord] = []
        self.limiter = Limiter()
        self.faults = FaultSchedule()
        self.rng = random.Random(self.settings.seed)
        self.card_issuer = CardIssuer(self.rng, seeded=self.settings.seed is not None)
        self.next_order_id = FIRST_ORDER_ID

    def reset(self) -> None:
        """Forget calls, orders, faults, registrations and access changes; restore balances and stock; reseed."""
        with self._lock:
            self._clear()

    def configure(self, changes: dict[str, Any]) -> Settings:
        """Apply run-time setting changes (ValueError if one is bad) and return the new settings."""
        with self._lock:
            self.settings = self.settings.updated(changes)
            return self.settings

    def arrive(self, call: dict[str, Any], client: Client | None, product_ids: list[int]) -> tuple[CallRecord, float]:
        """Log a call's arrival and run the limiter; return the record and the seconds to wait (0 if none)."""
        with self._lock:
            record = CallRecord(seq=len(self.calls) + 1, at=time.time(), client=client and client.client_id, **call)
            self.calls.append(record)
            if client is None:
                return record, 0.0
            if record.endpoint == "place_order":
                return record, self.limiter.admit_place_order(client.client_id, product_ids, record.at, self.settings)
            if record.endpoint == "get_order":
                return record, self.limiter.admit_get_order(client.client_id, record.at, self.settings)
            return record, 0.0

    def answered(self, record: CallRecord, status: int | None, reason: str | None = None) -> None:
        """Note what a call was answered (status None: no answer was sent)."""
        with self._lock:
            record.status, record.reason = status, reason

    def take_fault(self, endpoint: str, moment: str) -> Fault | None:
        """Return the fault a call gets at ``moment``, if any (see ``faults``)."""
        with self._lock:
            return self.faults.take(endpoint, moment, self.rng)

    def has_order(self, client_id: str, request_id: str) -> bool:
        """Tell whether the client already used this RequestId (caller holds the lock)."""
        return (client_id, request_id) in self.orders

    def place_order(self, client: Client, body: Any) -> Order:
        """Apply Place Order's rules and, if they pass, charge the account and store the order.

        Raise ``checkout.Refused`` with the reason code otherwise; nothing is stored or charged then.
        """
        with self._lock:
            request = checkout.read_request(body)
            account, lines = checkout.check(client, request, self)
            now = time.time()
            items = [Item(line.product, line.value, line.quantity) for line in lines]
            settings = self.settings
            self.card_issuer.issue(items, now, settings.fail_probability, settings.partial_probability)
            total = sum((line.charge for line in lines), Decimal(0))
            order = Order(
                self.next_order_id,
                request.request_id,
                client.client_id,
                account,
                total,
                items,
                created_at=now,
                final_at=now + settings.fulfil_delay_ms / 1000,
            )
            self._commit(order)
            return order

    def _commit(self, order: Order) -> None:
        self.next_order_id += 1
        self.orders[(order.client_id, order.request_id.lower())] = order
        self.balances[order.account.id] -= order.total
        self.charges.append(Charge(order.client_id, order.request_id, order.account, order.total, order))
        for item in order.items:
            if self.stock[item.product.id] is not None:
                self.stock[item.product.id] -= item.quantity

    def find_order(self, client_id: str | None, request_id: str) -> Order | None:
        """Return a client's order by RequestId (any client's when ``client_id`` is None)."""
        with self._lock:
            if client_id is not None:
                return self.orders.get((client_id, request_id.lower()))
            return next((order for (_, rid), order in self.orders.items() if rid == request_id.lower()), None)

    def forget_order(self, client_id: str | None, request_id: str) -> Order | None:
        """Forget that a RequestId was used (a provider that lost an order): Get Order no longer finds it and
        Place Order accepts it again. Its charge stays in the ledger. Return the forgotten order, if any."""
        with self._lock:
            key = next((key for key in self.orders if key[1] == request_id.lower() and client_id in (None, key[0])),
                       None)  # fmt: skip
            return self.orders.pop(key) if key else None

    def set_access(self, client_id: str, access: str) -> None:
        """Grant, revoke (401) or forbid (403) a client's calls; ValueError for an unknown client or access."""
        if client_id not in CLIENTS_BY_ID:
            raise ValueError(f"no client {client_id!r}")
        if access not in ACCESS:
            raise ValueError(f"access must be one of {list(ACCESS)}")
        with self._lock:
            self.access[client_id] = access

    def access_of(self, client_id: str) -> str:
        """Return a client's access: auth.GRANTED unless it was revoked or forbidden."""
        with self._lock:
            return self.access.get(client_id, GRANTED)

    def register(self, client_id: str, registration: Registration) -> None:
        """Remember where a client wants its webhooks."""
        with self._lock:
            self.registrations[client_id] = registration

    def registration(self, client_id: str) -> Registration | None:
        """Return a client's webhook registration, if it made one."""
        with self._lock:
            return self.registrations.get(client_id)

    def balance(self, account_id: int) -> Decimal:
        """Return an account's current balance."""
        with self._lock:
            return self.balances[account_id]

    def schedule_fault(self, fault: Fault) -> None:
        """Queue a fault for the calls to come."""
        with self._lock:
            self.faults.add(fault)

    def clear_faults(self) -> None:
        """Drop every scheduled fault."""
        with self._lock:
            self.faults.clear()

    def faults_json(self) -> list[dict[str, Any]]:
        """Return the waiting faults."""
        with self._lock:
            return self.faults.as_json()

    def calls_json(self) -> list[dict[str, Any]]:
        """Return the call log."""
        with self._lock:
            return [record.as_json() for record in self.calls]

    def ledger_json(self) -> list[dict[str, Any]]:
        """Return every charge with its order's cards, forgotten orders included."""
        with self._lock:
            return ledger(list(self.charges))

    def findings_json(self) -> dict[str, Any]:
        """Return the findings drawn from the call log and the charge ledger."""
        with self._lock:
            return findings(list(self.calls), list(self.charges), self.settings)
