"""Order intake: validate a producer's order, store it once per RequestId, enqueue its placing.

The HTTP API, the `giftq.submit_order` task and `giftq submit` all come through `Intake.submit`, so an
order meets the same rules whichever way it came. The steps, and why in this order:

1. The order's shape (no provider data needed) and its RequestId. Without a usable RequestId nothing
   can be stored; with one, a refusal is stored as `rejected` with its reason.
2. An order already stored under that RequestId is answered from the store: the same order for the same
   body and producer, a conflict otherwise. A producer's retry is answered even while the catalog is out.
3. What Notify asks for, against what the operator allows this producer (`notify_rules.py`): a callback
   secret, a callback host that resolves only to addresses giftq may call, a configured task and queue.
4. The catalog rules (account, products, stock, face value), against the cached catalog; if there is no
   catalog at all, CatalogUnavailable, and nothing is stored: the producer may simply try again.
5. SET NX of the record, then the enqueue; of racing submits exactly one creates and enqueues.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar

from marshmallow import ValidationError

from config.settings import BAMBOO, SettingsError
from schemas.order import DERIVED_UUID_VERSION, OrderIdentitySchema, reason_of
from schemas.provider_orders import ORDER_SCHEMAS, UnknownProvider, provider_of
from worker.errors import GiftqError, OrderRejected
from worker.orders import states
from worker.orders.catalog import CatalogCache, CatalogSnapshot
from worker.orders.notify_rules import NotifyRules
from worker.orders.store import OrderRecord, OrderStore

# RequestId of an order given by IdempotencyKey: uuid5(IDEMPOTENCY_NAMESPACE, "<producer>:<key>").
# Fixed forever: changing it would make a producer's retry a second order.
IDEMPOTENCY_NAMESPACE = uuid.UUID("5d8c6f4e-2b1a-4e8f-9c3d-7a6b5e4f3a21")
ORDER_ALREADY_EXISTS = "OrderAlreadyExists"
INVALID_PRODUCER = "InvalidProducer"
ACCOUNT_NOT_ALLOWED = "AccountNotAllowed"  # the operator did not let this producer charge this account
NO_CREDENTIAL = "NoCredential"  # no credential of the order's provider is configured
_PRODUCER_NAME = re.compile(r"^[A-Za-z0-9_.-]{0,64}\Z")  # no ':', so "<producer>:<key>" reads one way only

T = TypeVar("T")


class IdempotencyConflict(GiftqError):
    """Raised when a RequestId is submitted again with a different body, or by another producer."""

    reason = ORDER_ALREADY_EXISTS

    def __init__(self, request_id: str):
        super().__init__(f"RequestId {request_id} was already submitted with a different body")
        self.request_id = request_id


@dataclass(frozen=True)
class Submission:
    """The outcome of a submit: the order as stored, and whether this call created it."""

    order: OrderRecord
    created: bool


def request_id_for(producer: str, idempotency_key: str) -> str:
    """The RequestId giftq derives from a producer's idempotency key: the same key, the same order."""
    return str(uuid.uuid5(IDEMPOTENCY_NAMESPACE, f"{producer}:{idempotency_key}"))


class Intake:
    """Validates, stores and enqueues orders, each for the credential that charges its account."""

    def __init__(self, *, store: OrderStore, catalog_for: Callable[[str], CatalogCache],
                 credential_for: Callable[[str, int | str | None], str], sandbox_mode_for: Callable[[str], bool],
                 enqueue: Callable[[str], object], notify_rules: NotifyRules | None = None,
                 producer_accounts: Mapping[str, frozenset[str]] | None = None):  # fmt: skip
        """`credential_for(provider, account)`: the credential that places an order; `sandbox_mode_for(provider)`:
        whether that provider's credentials are sandbox ones. `notify_rules`: what each producer may ask for in
        Notify; without them, no Notify is accepted. `producer_accounts`: the accounts each producer may charge
        (GIFTQ_PRODUCER_ACCOUNTS, as account_token() names them); None: any account.
        """
        self._notify_rules = notify_rules or NotifyRules()
        self._producer_accounts = producer_accounts
        self._store = store
        self._catalog_for = catalog_for
        self._credential_for = credential_for
        self._sandbox_mode_for = sandbox_mode_for
        self._enqueue = enqueue

    def submit(self, order: object, *, producer: str = "") -> Submission:
        """Validate, store (once per RequestId) and enqueue an order; see the module's docstring.

        Raises OrderRejected (stored as `rejected` when it has a RequestId), IdempotencyConflict or
        CatalogUnavailable.
        """
        if not _PRODUCER_NAME.match(producer):
            raise OrderRejected(INVALID_PRODUCER, "a producer name is up to 64 letters, digits, '_', '.' or '-'")
        provider = self._refused_as_stored(lambda: _provider(order, producer), order, producer,
                                           storable=body_digest(order))  # fmt: skip
        shape = ORDER_SCHEMAS[provider]
        request = self._validate(order, _plain_schema(shape), producer, storable=body_digest(order))
        request_id = request["RequestId"]
        existing = self._store.get(request_id)
        if existing:
            return Submission(_same_order(existing, request, producer), created=False)
        digest = body_digest(_without_key(request))
        self._refused_as_stored(lambda: self._check_account(request, producer), order, producer, storable=digest)
        notify_rules = self._notify_rules
        self._refused_as_stored(lambda: notify_rules.check(request.get("Notify", {}), producer, request_id),
                                order, producer, storable=digest)  # fmt: skip
        try:
            credential = self._credential_for(provider, request.get("AccountId"))
        except SettingsError as missing:  # the operator's to fix: nothing stored, the same order may come again
            raise OrderRejected(NO_CREDENTIAL, str(missing), request_id) from None
        full = _catalog_schema(shape, credential, self._catalog_for(credential).snapshot(),
                               self._sandbox_mode_for(provider))  # fmt: skip
        self._validate(order, full, producer, storable=digest)
        fields = self._fields(request_id, order, producer)
        if "Notify" in request:
            fields["notify"] = json.dumps(request["Notify"], sort_keys=True)
        created = self._store.create_record(request_id, _without_key(request), **fields)
        if created is None:  # another submit of the same RequestId stored it first
            return Submission(_same_order(self._store.get(request_id), request, producer), created=False)
        self._enqueue(request_id)
        return Submission(created, created=True)

    def _validate(self, order: object, schema: OrderIdentitySchema, producer: str, *, storable: dict) -> dict:
        """The canonical order, or OrderRejected, stored as `rejected` (with `storable`) if it has a RequestId."""
        return self._refused_as_stored(lambda: canonical(order, schema, producer), order, producer, storable=storable)

    def _refused_as_stored(self, rule: Callable[[], T], order: object, producer: str, *, storable: dict) -> T:
        """What `rule()` returns; an OrderRejected it raises is stored as `rejected` first, if it has a RequestId.

        A refused order keeps its reason, identity and the digest of its body (`storable`), never the body: a
        producer cannot fill the store with what giftq refused.
        """
        try:
            return rule()
        except OrderRejected as rejected:
            if rejected.request_id:
                fields = self._fields(rejected.request_id, order, producer)
                self._store.create_rejected(rejected.request_id, storable, rejected.reason, **fields)
            raise

    def _check_account(self, request: dict, producer: str) -> None:
        """Refuse an order charging an account the operator did not give its producer."""
        account = account_token(request.get("Provider", BAMBOO), request.get("AccountId"))
        if self._producer_accounts is None or account in self._producer_accounts.get(producer, ()):
            return
        detail = f"producer {producer!r} may not charge account {account} (GIFTQ_PRODUCER_ACCOUNTS)"
        raise OrderRejected(ACCOUNT_NOT_ALLOWED, detail, request["RequestId"])

    def _fields(self, request_id: str, order: object, producer: str) -> dict[str, str]:
        """What the record keeps besides the request: who sent it, for which credential, under which key."""
        try:
            provider = provider_of(order)
        except UnknownProvider:
            provider = BAMBOO
        account = order.get("AccountId") if isinstance(order, dict) else None
        usable = isinstance(account, int) if provider == BAMBOO else account is None or isinstance(account, str)
        try:
            credential = self._credential_for(provider, account) if usable else ""
        except SettingsError:  # no credential of that provider: the order is refused, under no credential
            credential = ""
        fields = {"provider": provider, "credential": credential, "producer": producer,
                  "provider_request_id": request_id}  # fmt: skip
        key = order.get("IdempotencyKey") if isinstance(order, dict) else None
        if isinstance(key, str):
            fields["idempotency_key"] = key
        return fields


def account_token(provider: str, account: int | str | None) -> str:
    """An account as GIFTQ_PRODUCER_ACCOUNTS names it: Bamboo's by number (`555`), BHN's as `bhn/<account>`
    (`bhn/default` for an order naming none: the credential's own account)."""
    if provider == BAMBOO:
        return str(account)
    return f"{provider}/{account or 'default'}"


def _provider(order: object, producer: str) -> str:
    try:
        return provider_of(order)
    except UnknownProvider as unknown:
        raise OrderRejected(unknown.reason, str(unknown), _request_id_of(order, producer)) from None


def canonical(order: object, schema: OrderIdentitySchema | None = None, producer: str = "") -> dict:
    """Validate a producer's order into its canonical, JSON-safe form (with the schema of the provider it names,
    unless `schema` is given); raises OrderRejected."""
    schema = schema or _plain_schema(ORDER_SCHEMAS[_provider(order, producer)])
    try:
        data = schema.load(order)
    except ValidationError as error:
        reason = reason_of(error.messages)
        request_id = _request_id_of(order, producer)
        raise OrderRejected(reason, _describe(error.messages), request_id) from None
    request = {
        "RequestId": str(data.get("RequestId") or request_id_for(producer, data["IdempotencyKey"])),
        **schema.canonical_request(data),
    }
    if "IdempotencyKey" in data:
        request["IdempotencyKey"] = data["IdempotencyKey"]
    if "Notify" in data:
        request["Notify"] = dict(sorted(data["Notify"].items()))
    return request


# Schemas made once, not per order: making one copies each of its fields. A schema keeps nothing of what it loads.
_PLAIN_SCHEMAS: dict[type[OrderIdentitySchema], OrderIdentitySchema] = {}
_CATALOG_SCHEMAS: dict[tuple[type[OrderIdentitySchema], str, bool], tuple[CatalogSnapshot, OrderIdentitySchema]] = {}


def _plain_schema(shape: type[OrderIdentitySchema]) -> OrderIdentitySchema:
    """`shape` without provider data: the order's form and identity."""
    schema = _PLAIN_SCHEMAS.get(shape)
    if schema is None:
        schema = _PLAIN_SCHEMAS[shape] = shape()
    return schema


def _catalog_schema(shape: type[OrderIdentitySchema], credential: str, snapshot: CatalogSnapshot,
                    sandbox_mode: bool) -> OrderIdentitySchema:  # fmt: skip
    """`shape` checking against one credential's catalog snapshot, made again when the snapshot is a new one."""
    key = (shape, credential, sandbox_mode)
    kept = _CATALOG_SCHEMAS.get(key)
    if kept is None or kept[0] is not snapshot:
        kept = _CATALOG_SCHEMAS[key] = (snapshot, shape(catalog=snapshot, sandbox_mode=sandbox_mode))
    return kept[1]


def _same_order(existing: OrderRecord, request: dict, producer: str) -> OrderRecord:
    """The stored order if this submit is a retry of it; a refused one is refused again, with its reason."""
    # A refused order is stored without its Notify (it must never be notified) and with its body's digest only.
    refused = existing.state == states.REJECTED
    same_notify = existing.notify == request.get("Notify", {}) or refused
    stored = body_digest(_without_key(request)) if refused else _without_key(request)
    if existing.producer != producer or existing.request != stored or not same_notify:
        raise IdempotencyConflict(existing.request_id)
    if refused:
        raise OrderRejected(existing.reason, "this RequestId was refused before", existing.request_id)
    return existing


def _request_id_of(order: object, producer: str) -> str | None:
    """The order's RequestId if it has a usable one (a GUID, or derived from a well-formed IdempotencyKey)."""
    if not isinstance(order, dict) or ("RequestId" in order) == ("IdempotencyKey" in order):
        return None
    key = order.get("IdempotencyKey")
    if isinstance(key, str) and 1 <= len(key) <= 200:
        return request_id_for(producer, key)
    try:
        given = uuid.UUID(str(order["RequestId"]))
    except (TypeError, KeyError, ValueError, AttributeError):
        return None
    return None if given.version == DERIVED_UUID_VERSION else str(given)  # a derived one is never the sender's


def _without_key(request: object) -> dict:
    """The order as stored and compared: IdempotencyKey and Notify are kept on the record, not in the request."""
    if not isinstance(request, dict):
        return {}
    return {key: value for key, value in request.items() if key not in ("IdempotencyKey", "Notify")}


def body_digest(body: object) -> dict:
    """What a refused order keeps of its body: a SHA-256 of its canonical JSON (to tell a retry from another)."""
    canonical_json = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str, ensure_ascii=True)
    return {"digest": "sha256:" + hashlib.sha256(canonical_json.encode("utf-8", "replace")).hexdigest()}


def _describe(messages: object) -> str:
    if not isinstance(messages, dict):
        return str(messages)
    return "; ".join(
        f"{field}: {' '.join(map(str, errors)) if isinstance(errors, list) else errors}"
        for field, errors in messages.items()
    )
