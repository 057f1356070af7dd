"""Producers' API keys: made by `giftq apikey NAME`, kept in the environment only as SHA-256 digests.

A key is 32 random bytes, so a plain SHA-256 is enough to keep the environment from holding usable keys
(there is no dictionary to try against a random key, which is what a slow password hash guards
against). Each presented key is compared with every stored digest in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

KEY_PREFIX = "gq_"  # lets a secret scanner recognise a leaked giftq key
KEY_BYTES = 32


def new_api_key() -> str:
    """A new random API key (shown once; only its digest is kept)."""
    return KEY_PREFIX + secrets.token_urlsafe(KEY_BYTES)


def key_digest(key: str) -> str:
    """The SHA-256 hex digest of a key, as GIFTQ_API_KEYS holds it."""
    return hashlib.sha256(key.encode()).hexdigest()


class ApiKeys:
    """Tells which producer a presented key belongs to."""

    def __init__(self, entries: tuple[tuple[str, str], ...]):
        self._entries = entries

    def __bool__(self) -> bool:
        return bool(self._entries)

    def producer_for(self, presented: str | None) -> str | None:
        """The producer whose key this is, or None; every entry is compared, so timing tells nothing."""
        if not presented:
            return None
        digest = key_digest(presented)
        found = None
        for producer, stored in self._entries:
            if hmac.compare_digest(digest, stored):
                found = producer
        return found
