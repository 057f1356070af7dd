"""The identity endpoint's tokens: opaque random strings, each bound to a client and an expiry.

A token is refused (401) once it expired, when it is unknown, or when its client was revoked; a revoked client
gets no new token either. Not thread safe: the sandbox state holds the lock.
"""

import secrets
from dataclasses import dataclass


@dataclass(frozen=True)
class Token:
    """An issued access token."""

    client_id: str
    expires_at: float


class Tokens:
    """Tokens issued since the last reset."""

    def __init__(self) -> None:
        self._tokens: dict[str, Token] = {}

    def issue(self, client_id: str, now: float, lifetime_s: int) -> str:
        """Return a new token for ``client_id`` valid ``lifetime_s`` seconds from ``now``."""
        value = secrets.token_urlsafe(32)
        self._tokens[value] = Token(client_id, now + lifetime_s)
        return value

    def check(self, value: str, now: float) -> tuple[str | None, str]:
        """Return the token's client and "" if it is valid at ``now``, else None and why not."""
        token = self._tokens.get(value)
        if token is None:
            return None, "token.invalid"
        if now >= token.expires_at:
            return None, "token.expired"
        return token.client_id, ""

    def expire_all(self, now: float) -> int:
        """Make every token expired at ``now`` (as an identity server's restart would); return how many."""
        for value, token in self._tokens.items():
            self._tokens[value] = Token(token.client_id, min(token.expires_at, now))
        return len(self._tokens)
