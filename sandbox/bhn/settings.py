"""Run-time settings of the BHN sandbox. Every item the provider's page leaves open (ours) is one of these.

Durations are in milliseconds unless the name says seconds. The same names serve the command line
(``--token-lifetime-s``) and ``POST /_sandbox/config`` (``token_lifetime_s`` or ``token-lifetime-s``).
"""

from dataclasses import asdict, dataclass, fields, replace
from typing import Any

DEFAULT_TOKEN_LIFETIME_S = 3600
DEFAULT_FULFIL_DELAY_MS = 3_000  # from acceptance of an asynchronous order until it is final
DEFAULT_MAX_WAIT_TIME_MS = 30_000  # the largest wait-time header the page allows

_PROBABILITIES = ("reject_probability", "cancel_probability", "partial_probability")
_READ_ONLY = ("seed",)


@dataclass(frozen=True)
class Settings:
    """Tokens, delays, fates, optional limits, header names and the webhook of one BHN sandbox process."""

    token_lifetime_s: int = DEFAULT_TOKEN_LIFETIME_S
    fulfil_delay_ms: int = DEFAULT_FULFIL_DELAY_MS
    reject_probability: float = 0.0  # chance an order ends REJECTED (every line REJECTED)
    cancel_probability: float = 0.0  # chance an order ends CANCELLED (every line CANCELLED)
    partial_probability: float = 0.0  # chance some lines end REJECTED, the others COMPLETED
    spacing_ms: int = 0  # min gap between create-order arrivals of one client; 0: off (BHN publishes none)
    get_limit: int = 0  # max get/list calls of one client per window; 0: off
    get_window_ms: int = 60_000
    max_wait_time_ms: int = DEFAULT_MAX_WAIT_TIME_MS
    default_purchase_order_number: str = "default-po"  # the account configuration's PO
    source_configurations: str = "default"  # comma-separated names the source-configuration header may take
    source_header: str = "X-Source-Configuration"
    wait_time_header: str = "X-Wait-Time-Ms"
    synchronous_header: str = "X-Synchronous"
    timestamp_header: str = "X-Client-Timestamp"
    webhook_url: str = ""  # where final orders are announced; empty: no webhook
    webhook_secret: str = "bhn-webhook-secret"
    webhook_secret_header: str = "X-BHN-Webhook-Secret"
    webhook_timeout_ms: int = 2_000
    seed: int | None = None

    def as_json(self) -> dict[str, Any]:
        """Return the settings as ``GET /_sandbox/config`` shows them (the webhook secret included: loopback only)."""
        return asdict(self)

    @property
    def known_sources(self) -> frozenset[str]:
        """Return the source configurations the sandbox knows."""
        return frozenset(name.strip() for name in self.source_configurations.split(",") if name.strip())

    def updated(self, changes: dict[str, Any]) -> "Settings":
        """Return a copy with ``changes`` applied; raise ValueError naming the first bad setting."""
        normalised = {str(name).replace("-", "_"): value for name, value in changes.items()}
        for name, value in normalised.items():
            _check(name, value)
        merged = replace(self, **normalised)
        if merged.reject_probability + merged.cancel_probability + merged.partial_probability > 1:
            raise ValueError("reject_probability + cancel_probability + partial_probability must not exceed 1")
        return merged


def _check(name: str, value: Any) -> None:
    """Refuse unknown names, read-only names and values of the wrong type or range."""
    kinds = {field.name: field.type for field in fields(Settings)}
    if name not in kinds or name in _READ_ONLY:
        raise ValueError(f"{name} cannot be changed at run time")
    if name in _PROBABILITIES:
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
            raise ValueError(f"{name} must be a number between 0 and 1")
    elif kinds[name] in (str, "str"):
        if not isinstance(value, str):
            raise ValueError(f"{name} must be a string")
    elif isinstance(value, bool) or not isinstance(value, int) or value < (1 if name == "get_window_ms" else 0):
        raise ValueError(f"{name} must be an integer >= {1 if name == 'get_window_ms' else 0}")
