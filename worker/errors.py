"""One exception tree for giftq. Exceptions carry ids and reason codes, never card data."""

from __future__ import annotations


class GiftqError(Exception):
    """Raised for any failure giftq itself recognises; the root of every giftq exception."""


class OrderRejected(GiftqError):
    """Raised when an order is refused, by giftq's validation or by the provider, for a known reason."""

    def __init__(self, reason: str, detail: str = "", request_id: str | None = None):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail
        self.request_id = request_id


class ProviderError(GiftqError):
    """Raised when a provider answers in a way giftq cannot use (bad credentials, unexpected body)."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


class RateLimited(ProviderError):
    """Raised when the provider answers 429; `wait_s` is the time it asked us to wait."""

    def __init__(self, wait_s: float):
        super().__init__(f"provider asked to wait {wait_s:g} s", status=429)
        self.wait_s = wait_s


class UnknownOutcome(ProviderError):
    """Raised when a call may or may not have taken effect (timeout, reset, 5xx): resolve, never retry blindly."""


class NotSent(ProviderError):
    """Raised when a call was given up before it was sent (its send deadline had passed): safe to make again."""


class ProviderRefused(ProviderError):
    """Raised when the provider refuses a call in a way no retry can change (4xx other than a reason code or 429):
    an operator must act. `reason` is giftq's code for it, kept on the order."""

    reason = "ProviderRefused"


class ProviderAuthFailed(ProviderRefused):
    """Raised when the provider refuses a credential (401 or 403); it names the client id, never the secret."""

    reason = "ProviderAuthFailed"

    def __init__(self, client_id: str, status: int, provider: str = "Bamboo"):
        super().__init__(f"{provider} refused credential {client_id!r} with {status}", status=status)
        self.client_id = client_id


class OrderNotFound(ProviderError):
    """Raised when the provider does not know an order's RequestId."""


class StoreError(GiftqError):
    """Raised when the order store refuses an operation or is unsafe to use."""


class CatalogUnavailable(GiftqError):
    """Raised when the provider's catalog and accounts cannot be fetched and none is cached to validate with."""

    reason = "CatalogUnavailable"
