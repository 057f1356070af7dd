"""An OAuth 2 client-credentials token, fetched on demand and cached until a little before it expires.

The token and the secret never appear in a repr, a log line or an exception: failures name the client id and
the HTTP status only.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass, field

import requests

from worker.errors import ProviderAuthFailed, ProviderError, UnknownOutcome

# RFC 6750's b64token: anything else cannot go in an Authorization header (requests would refuse it with an
# InvalidHeader whose text holds the whole header, token included)
_BEARER_TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
DEFAULT_REFRESH_MARGIN_S = 30.0  # refresh this long before expiry, or a tenth of the lifetime if that is shorter


@dataclass(frozen=True)
class _Token:
    value: str = field(repr=False)
    refresh_at: float  # time.monotonic()


class ClientCredentialsToken:
    """The bearer token of one client at one identity endpoint, shared by the threads of one process."""

    def __init__(
        self,
        session: requests.Session,
        token_url: str,
        client_id: str,
        client_secret: str,
        *,
        timeout_s: float,
        provider: str,
        scope: str = "openid",
        refresh_margin_s: float = DEFAULT_REFRESH_MARGIN_S,
    ):
        self.client_id = client_id
        self._session = session
        self._url = token_url
        self._form = {
            "grant_type": "client_credentials",
            "client_id": client_id,
            "client_secret": client_secret,
            "scope": scope,
        }
        self._timeout_s = timeout_s
        self._provider = provider
        self._margin_s = refresh_margin_s
        self._token: _Token | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"ClientCredentialsToken(url={self._url!r}, client_id={self.client_id!r})"

    def bearer(self) -> str:
        """Return a token that is not about to expire, fetching one if needed.

        Raises ProviderAuthFailed if the identity endpoint refuses the client, UnknownOutcome if it cannot be
        reached or answers 5xx, ProviderError for an answer without a token.
        """
        with self._lock:
            if self._token is None or time.monotonic() >= self._token.refresh_at:
                self._token = self._fetch()
            return self._token.value

    def invalidate(self, value: str) -> None:
        """Forget the token ``value`` (refused by the API), unless another thread already replaced it."""
        with self._lock:
            if self._token is not None and self._token.value == value:
                self._token = None

    def _fetch(self) -> _Token:
        asked_at = time.monotonic()
        try:
            response = self._session.post(self._url, data=self._form, timeout=self._timeout_s)
        except requests.RequestException as error:
            raise UnknownOutcome(f"{self._provider} identity endpoint: {type(error).__name__}") from None
        if response.status_code in (400, 401, 403):
            raise ProviderAuthFailed(self.client_id, response.status_code, provider=self._provider)
        if response.status_code >= 500:
            raise UnknownOutcome(
                f"{self._provider} identity endpoint answered {response.status_code}", status=response.status_code
            )
        try:
            body = response.json()
            value, lifetime_s = body["access_token"], float(body.get("expires_in") or 0)
        except (ValueError, KeyError, TypeError, AttributeError):
            raise ProviderError(
                f"{self._provider} identity endpoint answered {response.status_code} without a token",
                status=response.status_code,
            ) from None
        if response.status_code != 200 or not isinstance(value, str) or not _BEARER_TOKEN.fullmatch(value):
            raise ProviderError(
                f"{self._provider} identity endpoint answered {response.status_code} without a token",
                status=response.status_code,
            )
        margin_s = min(self._margin_s, lifetime_s / 10)
        return _Token(value, refresh_at=asked_at + lifetime_s - margin_s)
