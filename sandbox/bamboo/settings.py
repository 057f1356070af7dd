"""Run-time settings of the Bamboo sandbox: Bamboo's real limits by default, scalable for tests.

Every duration is in milliseconds. The same names serve the command line (``--spacing-ms``) and
``POST /_sandbox/config`` (``spacing_ms`` or ``spacing-ms``), so a test can run on a scaled clock.
"""

from dataclasses import asdict, dataclass, fields, replace
from typing import Any

DEFAULT_SPACING_MS = 500  # start-to-start gap between Place Order calls of one client
DEFAULT_PRODUCT_LIMIT = 6  # orders containing one product per rolling window, per client
DEFAULT_PRODUCT_WINDOW_MS = 60_000
DEFAULT_GET_ORDER_LIMIT = 120  # Get Order calls per rolling window, per client
DEFAULT_GET_ORDER_WINDOW_MS = 60_000
DEFAULT_FULFIL_DELAY_MS = 3_000  # from acceptance until the order is final
DEFAULT_WEBHOOK_TIMEOUT_MS = 2_000

_PROBABILITIES = ("fail_probability", "partial_probability")
_AT_LEAST_ONE = ("product_limit", "get_order_limit", "product_window_ms", "get_order_window_ms")
_READ_ONLY = ("seed",)


@dataclass(frozen=True)
class Settings:
    """Limits, delays and randomness of one sandbox process."""

    spacing_ms: int = DEFAULT_SPACING_MS
    product_limit: int = DEFAULT_PRODUCT_LIMIT
    product_window_ms: int = DEFAULT_PRODUCT_WINDOW_MS
    get_order_limit: int = DEFAULT_GET_ORDER_LIMIT
    get_order_window_ms: int = DEFAULT_GET_ORDER_WINDOW_MS
    fulfil_delay_ms: int = DEFAULT_FULFIL_DELAY_MS
    fail_probability: float = 0.0
    partial_probability: float = 0.0
    webhook_timeout_ms: int = DEFAULT_WEBHOOK_TIMEOUT_MS
    seed: int | None = None

    def as_json(self) -> dict[str, Any]:
        """Return the settings as ``GET /_sandbox/config`` shows them."""
        return asdict(self)

    def updated(self, changes: dict[str, Any]) -> "Settings":
        """Return a copy with ``changes`` applied; raise ValueError naming the first bad setting."""
        normalised = {str(name).replace("-", "_"): value for name, value in changes.items()}
        for name, value in normalised.items():
            _check(name, value)
        merged = replace(self, **normalised)
        if merged.fail_probability + merged.partial_probability > 1:
            raise ValueError("fail_probability + partial_probability must not exceed 1")
        return merged


def _check(name: str, value: Any) -> None:
    """Refuse unknown names, read-only names and values of the wrong type or range."""
    known = {field.name for field in fields(Settings)}
    if name not in known or name in _READ_ONLY:
        raise ValueError(f"{name} cannot be changed at run time")
    if name in _PROBABILITIES:
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
            raise ValueError(f"{name} must be a number between 0 and 1")
        return
    minimum = 1 if name in _AT_LEAST_ONE else 0
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}")
