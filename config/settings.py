"""Settings from the environment (12-factor).

Every variable is listed with a comment in `.env.example`. Nothing secret has a default:
a missing secret is an error at start, not at first use.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from functools import cached_property
from unittest import mock

from environs import Env, EnvError
from marshmallow.validate import OneOf

from config.notify import IpNetwork, parse_allow_hosts, parse_allow_networks, parse_notify_tasks

START_TO_START, END_TO_START = "start", "end"
MIN_MARGIN_MS = 10  # below this a placing task could hardly ever send its request in time
# What an API key may do: submit and follow orders ("orders"), read the decrypted cards of its orders ("cards").
SCOPE_ORDERS, SCOPE_CARDS = "orders", "cards"
API_SCOPES = (SCOPE_ORDERS, SCOPE_CARDS)
DEFAULT_SCOPES = (SCOPE_ORDERS,)  # an entry without a scope list: orders only, never cards
# Queues: giftq's own, and one intake queue per producer that sends orders by task name (its only door).
SCHEDULE_QUEUE = "giftq.schedule"  # the following of placed orders; a slot's task, a look, where orders pack
SCHEDULE_TURN_AFTER = 4  # messages of a worker's other queues served before the schedule queue's next (celery.py)
SLOTS_QUEUE = "giftq.slots"  # a slot's task, a look, where orders never pack: served before any other queue
OWN_QUEUES = ("giftq", SCHEDULE_QUEUE, SLOTS_QUEUE, "giftq.notify")
INTAKE_QUEUE_PREFIX = "giftq.intake."
_NAME = r"[A-Za-z0-9_.-]{1,64}"  # a producer's name (API keys, callback secrets, intake queues)


def intake_queue(producer: str) -> str:
    """The broker queue a producer sends `giftq.submit_order` to: `giftq.intake.<producer>`."""
    return f"{INTAKE_QUEUE_PREFIX}{producer}"


class SettingsError(RuntimeError):
    """Raised when the environment does not describe a usable giftq."""


@dataclass(frozen=True, kw_only=True)
class Limits:
    """The provider limits giftq keeps for one credential. Times in milliseconds."""

    spacing_ms: int = 500  # between two Place Order calls of the credential
    margin_ms: int = 25  # added to spacing and windows; half of it is a placing task's time from claim to send
    spacing_mode: str = START_TO_START  # spacing from the previous call's start, or from its end
    product_limit: int = 6  # orders containing one product per window
    product_window_ms: int = 60_000
    max_cards: int = 500  # cards per order
    get_limit: int = 120  # Get Order calls per window
    get_window_ms: int = 60_000
    lease_ms: int = 30_000  # a schedule driver or a call silent this long is presumed dead
    max_wait_ms: int = 2_000  # longest countdown before a waiting schedule is looked at again
    lead_ms: int = 30  # a placing task starts this early and aligns itself to its slot
    coalesce: int = 1  # 1: pack parked orders into one provider order at a slot, where the provider can; 0: not
    coalesce_hold_ms: int = 1_000  # a bottleneck product's pack that is not full waits this long for more orders


BAMBOO, BHN = "bamboo", "bhn"
PROVIDERS = (BAMBOO, BHN)
PROVIDER_TITLES = {BAMBOO: "Bamboo", BHN: "Blackhawk Network"}


@dataclass(frozen=True, kw_only=True)
class Credential:
    """One client credential of a provider, and its limits."""

    client_id: str
    client_secret: str
    limits: Limits
    provider: str = BAMBOO

    @property
    def key(self) -> str:
        """The credential's name inside giftq (order records, throttle keys): the client id, `bhn:`-prefixed for BHN,
        so two providers' client ids never meet."""
        return self.client_id if self.provider == BAMBOO else f"{self.provider}:{self.client_id}"

    def __repr__(self) -> str:
        return (f"Credential(provider={self.provider!r}, client_id={self.client_id!r}, client_secret='***', "
                f"limits={self.limits!r})")  # fmt: skip


@dataclass(frozen=True, kw_only=True)
class ProviderSettings:
    """One provider's API: where it is, the credentials giftq uses, and which accounts each one charges.

    Read from GIFTQ_BAMBOO_* and GIFTQ_BHN_*; a provider without a credential is not used.
    """

    name: str  # "bamboo" or "bhn"
    base_url: str
    timeout_s: float  # connect and read timeout of one HTTP call
    credentials: tuple[Credential, ...]  # the first is the default
    account_clients: dict[int | str, str]  # account -> client id, for accounts not of the default credential
    sandbox_mode: bool  # True: the credentials are sandbox ones, so only sandbox accounts may be charged
    webhook_secret: str = field(repr=False)  # what the provider's webhooks carry; "" refuses every webhook
    identity_url: str = ""  # BHN: the OAuth 2 token endpoint's base URL
    purchase_order_number: str = ""  # BHN: sent with every order not naming its own (part of the idempotency key)
    wait_time_ms: int = 0  # BHN: how long Create order may hold its answer for a final status
    source_configuration: str = "default"  # BHN: the source configuration header
    synchronous: bool = False  # BHN: ask for a synchronous order when it is a single quantity-1 e-gift line

    @property
    def title(self) -> str:
        return PROVIDER_TITLES[self.name]

    def credential(self, client_id: str) -> Credential:
        try:
            return self._by_client_id[client_id]
        except KeyError:
            raise SettingsError(f"no {self.title} credential {client_id!r} is configured") from None

    @cached_property
    def _by_client_id(self) -> dict[str, Credential]:
        """The credentials by client id: an order's credential is looked up a few times, among many credentials."""
        return {credential.client_id: credential for credential in reversed(self.credentials)}

    def client_for_account(self, account_id: int | str | None) -> str:
        """The client id whose credential places orders charging `account_id` (None: the default credential)."""
        if not self.credentials:
            prefix = f"GIFTQ_{self.name.upper()}_"
            raise SettingsError(f"no {self.title} credential: set {prefix}CLIENT_ID and {prefix}CLIENT_SECRET")
        return self.account_clients.get(account_id, self.credentials[0].client_id)

    def key_for_account(self, account_id: int | str | None) -> str:
        """The credential key (Credential.key) that places orders charging `account_id`."""
        return self.credential(self.client_for_account(account_id)).key


@dataclass(frozen=True, kw_only=True)
class ApiSettings:
    """The producers' HTTP API: where it listens, who may call it, how much it accepts."""

    bind: str  # host:port gunicorn listens on
    workers: int  # gunicorn worker processes
    threads: int  # threads per worker process (gthread)
    keys: tuple[tuple[str, str, tuple[str, ...]], ...]  # (producer name, sha256 hex of its API key, scopes)
    max_body_bytes: int  # larger request bodies are refused with 413
    rate_limit_requests: int  # requests one API key may make per rate_limit_window_s (429 beyond); 0: no limit
    rate_limit_window_s: int  # the rate limit's window, seconds
    swagger_ui: bool  # serve Swagger UI at /swagger-ui, from the assets giftq ships (never a CDN)


@dataclass(frozen=True, kw_only=True)
class NotifySettings:
    """Telling producers their order is final: a Celery task of theirs and/or a signed HTTP callback."""

    callback_secrets: dict[str, str] = field(repr=False)  # producer -> HMAC secret of its callbacks
    callback_timeout_s: float  # deadline of one whole callback: resolve, connect, send and read the answer
    # Callbacks go to public addresses only, unless the operator allows a network or a host name here.
    callback_allow_networks: tuple[IpNetwork, ...] = ()
    callback_allow_hosts: frozenset[str] = frozenset()  # names allowed whatever address they resolve to
    # producer -> the (task name, queue) pairs its orders may name in Notify; no giftq or Celery name ever
    notify_tasks: dict[str, frozenset[tuple[str, str]]] = field(default_factory=dict)
    backoff_ms: int  # wait before the second attempt; doubles with each attempt, up to max_backoff_s
    max_backoff_s: int  # longest wait between two attempts (a broker countdown: kept under the visibility timeout)
    deadline_s: int  # a notification not acknowledged this long after the order became final is abandoned


@dataclass(frozen=True, kw_only=True)
class MetricsSettings:
    """giftq's Prometheus metrics (worker/metrics.py): where forked processes share them, and where they are served."""

    dir: str = ""  # GIFTQ_METRICS_DIR: the process tree's shared metrics files ("" : each process its own)
    token: str = field(default="", repr=False)  # bearer token of the API's /metrics ("": /metrics answers 404)
    worker_port: int = 0  # a worker's own metrics port (0: none)
    worker_addr: str = "127.0.0.1"  # the address a worker's metrics port listens on


def metrics_dir() -> str:
    """GIFTQ_METRICS_DIR, read before prometheus_client is imported (worker/metrics.py), so before the settings."""
    return Env(expand_vars=False).str("GIFTQ_METRICS_DIR", "")


@dataclass(frozen=True, kw_only=True)
class Settings:
    """Everything a giftq process needs, read once from the environment."""

    redis_url: str | None  # broker, throttle and store unless overridden below
    broker_url: str | None
    store_url: str | None
    key_prefix: str  # prefix of every Redis key giftq writes (store and throttle)
    broker_key_prefix: str  # prefix of the broker's keys; "" keeps Celery's plain names for producers
    allow_volatile_store: bool  # start even if the store Redis may evict or forget
    allow_appendfsync: str  # an appendfsync other than "always" the operator accepts for the store ("" none)
    fernet_keys: tuple[str, ...] = field(repr=False)  # newest first; card data is encrypted with the first
    bamboo: ProviderSettings
    bhn: ProviderSettings
    poll_interval_ms: int  # first wait before Get Order; doubles up to poll_max_interval_ms
    poll_max_interval_ms: int
    poll_deadline_s: int  # an order not final this long after placing needs attention
    order_retention_s: int  # how long final order records are kept
    visibility_timeout_s: int  # an unacknowledged broker message is delivered again after this long
    reconcile_interval_s: int  # how often beat looks for stuck orders
    stuck_after_s: int  # an accepted or submitting order untouched this long is stuck
    attention_interval_s: int  # how often an order that needs attention is looked at again
    max_deliveries: int  # a task message delivered more often than this is parked as a dead letter
    task_events: bool  # workers send Celery's task events (what Flower shows of tasks)
    catalog_refresh_s: int  # the cached catalog and accounts are fetched again when older than this
    catalog_retry_s: int  # after a failed fetch, no process tries again for this long (also the fetch lock TTL)
    api: ApiSettings
    notify: NotifySettings
    card_retention_s: int  # cards of a delivered order (notified or read) are erased this long after delivery
    producer_accounts: dict[str, frozenset[str]] | None = None  # producer -> accounts it may charge; None: any
    webhook_poll_interval_s: int = 30  # a provider webhook makes at most one extra Get Order per order this often
    intake_producers: tuple[str, ...] = ()  # producers sending by task name, each to its own intake queue
    metrics: MetricsSettings = field(default_factory=MetricsSettings)

    def provider(self, name: str) -> ProviderSettings:
        """The settings of provider `name` (SettingsError for an unknown or unconfigured one)."""
        if name not in PROVIDERS:
            raise SettingsError(f"unknown provider {name!r} (known: {', '.join(PROVIDERS)})")
        return self.bamboo if name == BAMBOO else self.bhn

    def credentials(self) -> tuple[Credential, ...]:
        """Every configured credential of every provider."""
        return self.bamboo.credentials + self.bhn.credentials

    def credential(self, key: str) -> Credential:
        """The credential whose Credential.key is `key`."""
        try:
            return self._by_key[key]
        except KeyError:
            raise SettingsError(f"no credential {key!r} is configured") from None

    @cached_property
    def _by_key(self) -> dict[str, Credential]:
        return {credential.key: credential for credential in reversed(self.credentials())}

    def producer_of_queue(self, queue: str | None) -> str | None:
        """The producer whose intake queue `queue` is, or None for any other queue (giftq's own, or unknown)."""
        if queue and queue.startswith(INTAKE_QUEUE_PREFIX):
            producer = queue[len(INTAKE_QUEUE_PREFIX) :]
            return producer if producer in self.intake_producers else None
        return None

    def is_own_queue(self, queue: str | None) -> bool:
        """Whether `queue` is one of giftq's own, which only giftq's processes may write to."""
        return queue in OWN_QUEUES

    def store_redis_url(self) -> str:
        """The Redis URL of the order store and throttle."""
        url = self.store_url or self.redis_url
        if not url:
            raise SettingsError("GIFTQ_REDIS_URL (or GIFTQ_STORE_URL) is not set")
        return url

    def broker_redis_url(self) -> str:
        """The Redis URL of the Celery broker."""
        url = self.broker_url or self.redis_url
        if not url:
            raise SettingsError("GIFTQ_REDIS_URL (or GIFTQ_BROKER_URL) is not set")
        return url


LOG_FORMATS = ("text", "json")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


@dataclass(frozen=True, kw_only=True)
class LogSettings:
    """How every giftq process logs: one JSON object a line (for a collector) or text (for a terminal)."""

    format: str = "text"  # GIFTQ_LOG_FORMAT: "text" or "json"
    level: str = "INFO"  # GIFTQ_LOG_LEVEL: the lowest level written
    task_lines: bool = True  # GIFTQ_LOG_TASK_LINES: Celery's INFO lines of each task (received, succeeded, retry)

    def _checked(self) -> LogSettings:
        if self.level not in LOG_LEVELS:
            raise SettingsError(f"GIFTQ_LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}, not {self.level!r}")
        return self


def load_log_settings() -> LogSettings:
    """GIFTQ_LOG_FORMAT, GIFTQ_LOG_LEVEL and GIFTQ_LOG_TASK_LINES only, so a process can log why its other
    settings are wrong."""
    env = Env(expand_vars=False)
    try:
        with env.prefixed("GIFTQ_"):
            return LogSettings(
                format=env.str("LOG_FORMAT", "text", validate=OneOf(LOG_FORMATS)).strip(),
                level=env.str("LOG_LEVEL", "INFO").strip().upper(),
                task_lines=env.bool("LOG_TASK_LINES", True),
            )._checked()
    except (EnvError, ValueError) as error:
        raise SettingsError(str(error)) from None


def load_settings() -> Settings:
    """Read the settings from the process environment."""
    env = Env(expand_vars=False)
    try:
        return _read(env)
    except (EnvError, ValueError) as error:
        raise SettingsError(str(error)) from None


def settings_from(environ: Mapping[str, str]) -> Settings:
    """The settings a process whose whole environment is `environ` reads (for the demo and benchmarks)."""
    with mock.patch.dict(os.environ, environ, clear=True):
        return load_settings()


def _read(env: Env) -> Settings:
    with env.prefixed("GIFTQ_"):
        api = ApiSettings(
            bind=env.str("API_BIND", "127.0.0.1:8000"),
            workers=env.int("API_WORKERS", 2),
            threads=env.int("API_THREADS", 8),
            keys=_api_keys(env.list("API_KEYS", [])),
            max_body_bytes=env.int("API_MAX_BODY_BYTES", 64 * 1024),
            rate_limit_requests=_int_at_least(env, "API_RATE_LIMIT_REQUESTS", 100, minimum=0),
            rate_limit_window_s=_int_at_least(env, "API_RATE_LIMIT_WINDOW_S", 1, minimum=1),
            swagger_ui=env.bool("API_SWAGGER_UI", False),
        )
        return Settings(
            redis_url=env.str("REDIS_URL", None),
            broker_url=env.str("BROKER_URL", None),
            store_url=env.str("STORE_URL", None),
            key_prefix=env.str("KEY_PREFIX", "giftq"),
            broker_key_prefix=env.str("BROKER_KEY_PREFIX", ""),
            allow_volatile_store=env.bool("ALLOW_VOLATILE_STORE", False),
            allow_appendfsync=env.str("ALLOW_APPENDFSYNC", "", validate=OneOf(["", "everysec", "no"])),
            fernet_keys=tuple(env.list("FERNET_KEYS", [])),
            bamboo=_read_provider(env, BAMBOO),
            bhn=_read_provider(env, BHN),
            poll_interval_ms=env.int("POLL_INTERVAL_MS", 1000),
            poll_max_interval_ms=env.int("POLL_MAX_INTERVAL_MS", 30000),
            poll_deadline_s=env.int("POLL_DEADLINE_S", 3600),
            order_retention_s=env.int("ORDER_RETENTION_S", 30 * 86400),
            visibility_timeout_s=env.int("VISIBILITY_TIMEOUT_S", 300),
            reconcile_interval_s=env.int("RECONCILE_INTERVAL_S", 30),
            stuck_after_s=env.int("STUCK_AFTER_S", 60),
            attention_interval_s=env.int("ATTENTION_INTERVAL_S", 600),
            max_deliveries=env.int("MAX_DELIVERIES", 10),
            task_events=env.bool("TASK_EVENTS", False),
            catalog_refresh_s=env.int("CATALOG_REFRESH_S", 900),
            catalog_retry_s=env.int("CATALOG_RETRY_S", 30),
            api=api,
            notify=_read_notify(env),
            card_retention_s=env.int("CARD_RETENTION_S", 7 * 86400),
            producer_accounts=_producer_accounts(env.list("PRODUCER_ACCOUNTS", [])),
            webhook_poll_interval_s=env.int("WEBHOOK_POLL_INTERVAL_S", 30),
            intake_producers=_intake_producers(env.list("INTAKE_PRODUCERS", [])),
            metrics=_read_metrics(env),
        )


def _read_metrics(env: Env) -> MetricsSettings:
    metrics = MetricsSettings(
        dir=env.str("METRICS_DIR", ""),
        token=env.str("METRICS_TOKEN", ""),
        worker_port=_bounded(env.int("WORKER_METRICS_PORT", 0), 0, 65535, "GIFTQ_WORKER_METRICS_PORT"),
        worker_addr=env.str("WORKER_METRICS_ADDR", "127.0.0.1"),
    )
    if metrics.worker_port and not metrics.dir:  # the pool's processes would count where no scrape reads
        raise SettingsError("GIFTQ_WORKER_METRICS_PORT needs GIFTQ_METRICS_DIR (the pool's processes share metrics "
                            "there)")  # fmt: skip
    if metrics.token and len(metrics.token) < 16:
        raise SettingsError("GIFTQ_METRICS_TOKEN must be 16 characters or more")
    return metrics


def _read_notify(env: Env) -> NotifySettings:
    return NotifySettings(
        callback_secrets=dict(_callback_secret(entry) for entry in env.list("CALLBACK_SECRETS", [])),
        callback_timeout_s=_positive(env.float("CALLBACK_TIMEOUT_S", 10.0), "GIFTQ_CALLBACK_TIMEOUT_S"),
        callback_allow_networks=parse_allow_networks(env.list("CALLBACK_ALLOW_NETWORKS", [])),
        callback_allow_hosts=parse_allow_hosts(env.list("CALLBACK_ALLOW_HOSTS", [])),
        notify_tasks=parse_notify_tasks(env.list("NOTIFY_TASKS", []), key_prefix=env.str("KEY_PREFIX", "giftq")),
        backoff_ms=env.int("NOTIFY_BACKOFF_MS", 1000),
        # A countdown must stay well under the broker's visibility timeout, or the message is delivered again.
        max_backoff_s=min(env.int("NOTIFY_MAX_BACKOFF_S", 120), env.int("VISIBILITY_TIMEOUT_S", 300) // 2),
        deadline_s=env.int("NOTIFY_DEADLINE_S", 3 * 86400),
    )


def _producer_accounts(entries: list[str]) -> dict[str, frozenset[str]] | None:
    """GIFTQ_PRODUCER_ACCOUNTS: `producer:account+account,...`, a Bamboo account by its number (`555`), a BHN one as
    `bhn/<account>` (`bhn/default`: orders naming no account); unset, any producer may charge any account."""
    if not entries:
        return None
    accounts: dict[str, frozenset[str]] = {}
    token = r"(?:\d+|bhn/[A-Za-z0-9_.-]{1,36})"
    for entry in entries:
        match = re.fullmatch(rf"({_NAME}):({token}(?:\+{token})*)", entry.strip())
        if not match:
            raise SettingsError(f"GIFTQ_PRODUCER_ACCOUNTS entries are producer:account+account (a Bamboo account "
                                f"number or bhn/<account>), not {entry!r}")  # fmt: skip
        producer, given = match.group(1), set(match.group(2).split("+"))
        accounts[producer] = accounts.get(producer, frozenset()) | given
    return accounts


def _intake_producers(names: list[str]) -> tuple[str, ...]:
    """GIFTQ_INTAKE_PRODUCERS: the producers whose intake queues the workers consume."""
    names = [name.strip() for name in names if name.strip()]
    for name in names:
        if not re.fullmatch(_NAME, name):
            raise SettingsError(f"GIFTQ_INTAKE_PRODUCERS: {name!r} is not a producer name (letters, digits, '_.-')")
    return tuple(dict.fromkeys(names))


def _positive(value: float, name: str) -> float:
    if not value > 0:
        raise SettingsError(f"{name} must be more than 0")
    return value


def _callback_secret(entry: str) -> tuple[str, str]:
    """A `producer:secret` entry of GIFTQ_CALLBACK_SECRETS; the secret is what the producer verifies with."""
    producer, _, secret = entry.strip().partition(":")
    if not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", producer) or len(secret) < 16:
        raise SettingsError("GIFTQ_CALLBACK_SECRETS entries are producer:secret, the secret 16 characters or more")
    return producer, secret


# Defaults per provider where they differ from Limits'. BHN publishes no rate limits: these are giftq's own, gentle
# on its API, and settings like every limit (GIFTQ_BHN_SPACING_MS, ...).
_PROVIDER_LIMITS = {BAMBOO: {}, BHN: {"spacing_ms": 100, "product_limit": 600, "get_limit": 600}}
_DEFAULT_URLS = {BAMBOO: "http://127.0.0.1:8080", BHN: "http://127.0.0.1:8090"}


def _read_provider(env: Env, name: str) -> ProviderSettings:
    title, prefix = PROVIDER_TITLES[name], f"GIFTQ_{name.upper()}_"
    with env.prefixed(f"{name.upper()}_"):
        limits = _read_limits(env, replace(Limits(), **_PROVIDER_LIMITS[name]), prefix)
        overrides = json.loads(env.str("CLIENT_LIMITS", "") or "{}")
        pairs = [(env.str("CLIENT_ID", ""), env.str("CLIENT_SECRET", ""))]
        pairs += [_client_pair(entry) for entry in env.list("EXTRA_CLIENTS", [])]
        credentials = tuple(
            Credential(
                client_id=cid, client_secret=secret, limits=replace(limits, **overrides.get(cid, {})), provider=name
            )  # fmt: skip
            for cid, secret in pairs
            if cid
        )
        if any(not credential.client_secret for credential in credentials):
            raise SettingsError(f"a {title} client id is set without its secret")
        for credential in credentials:
            if credential.limits.margin_ms < MIN_MARGIN_MS:
                raise SettingsError(f"{prefix}MARGIN_MS of {credential.client_id} must be at least "
                                    f"{MIN_MARGIN_MS}: half of it is the time a placing task has from claiming its "
                                    "slot to sending its request")  # fmt: skip
        routes = {_account(account, name): client for account, client in env.dict("ACCOUNT_CLIENTS", {}).items()}
        base_url = env.str("BASE_URL", _DEFAULT_URLS[name]).rstrip("/")
        return ProviderSettings(
            name=name,
            base_url=base_url,
            timeout_s=env.float("TIMEOUT_S", 10.0),
            credentials=credentials,
            account_clients=routes,
            sandbox_mode=env.bool("SANDBOX_MODE", True),
            webhook_secret=env.str("WEBHOOK_SECRET", ""),
            identity_url=env.str("IDENTITY_URL", base_url if name == BHN else "").rstrip("/"),
            purchase_order_number=env.str("PURCHASE_ORDER_NUMBER", "giftq" if name == BHN else ""),
            wait_time_ms=_bounded(env.int("WAIT_TIME_MS", 0), 0, 30_000, f"{prefix}WAIT_TIME_MS"),
            source_configuration=env.str("SOURCE_CONFIGURATION", "default"),
            synchronous=env.bool("SYNCHRONOUS", name == BHN),
        )


def _account(account: str, provider: str) -> int | str:
    """An account of GIFTQ_<PROVIDER>_ACCOUNT_CLIENTS: Bamboo's are numbers, BHN's strings."""
    if provider == BAMBOO:
        try:
            return int(account)
        except ValueError:
            raise SettingsError(f"GIFTQ_BAMBOO_ACCOUNT_CLIENTS: {account!r} is not an account number") from None
    return account


def _bounded(value: int, low: int, high: int, name: str) -> int:
    if not low <= value <= high:
        raise SettingsError(f"{name} must be within {low}..{high}")
    return value


def _read_limits(env: Env, defaults: Limits, prefix: str) -> Limits:
    values = {}
    for limit in fields(Limits):
        reader = env.str if limit.type == "str" else env.int
        values[limit.name] = reader(limit.name.upper(), getattr(defaults, limit.name))
    if values["spacing_mode"] not in (START_TO_START, END_TO_START):
        raise SettingsError(f"{prefix}SPACING_MODE must be 'start' or 'end'")
    return Limits(**values)


def _client_pair(entry: str) -> tuple[str, str]:
    client_id, _, secret = entry.partition(":")
    return client_id.strip(), secret.strip()


def _int_at_least(env: Env, name: str, default: int, *, minimum: int) -> int:
    """The integer setting GIFTQ_`name` (`env` is prefixed already), refused when below `minimum`."""
    value = env.int(name, default)
    if value < minimum:
        raise SettingsError(f"GIFTQ_{name} must be at least {minimum}")
    return value


_API_KEY_ENTRY = re.compile(r"^([A-Za-z0-9_.-]{1,64}):([0-9a-f]{64})(?::([a-z]+(?:\+[a-z]+)*))?\Z")


def _api_keys(entries: list[str]) -> tuple[tuple[str, str, tuple[str, ...]], ...]:
    """Parse `producer:sha256hex[:scope+scope]` entries (`giftq apikey NAME` prints one).

    The keys themselves are never stored. Without a scope list an entry has DEFAULT_SCOPES (orders only).
    """
    parsed = []
    for entry in entries:
        match = _API_KEY_ENTRY.match(entry.strip())
        if not match:
            raise SettingsError("GIFTQ_API_KEYS entries are producer:sha256hex[:scopes] (see `giftq apikey NAME`)")
        scopes = tuple(match.group(3).split("+")) if match.group(3) else DEFAULT_SCOPES
        unknown = sorted(set(scopes) - set(API_SCOPES))
        if unknown:
            raise SettingsError(f"GIFTQ_API_KEYS: unknown scope {unknown[0]!r} (known: {', '.join(API_SCOPES)})")
        parsed.append((match.group(1), match.group(2), scopes))
    return tuple(parsed)
