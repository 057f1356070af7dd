"""Producers' API keys: made by `giftq apikey NAME`, kept in the environment only as SHA-256 digests.

A key is 32 random bytes, so a plain SHA-256 is enough to keep the environment from holding usable keys
(there is no dictionary to try against a random key, which is what a slow password hash guards
against). Each presented key is compared with every stored digest in constant time.

An entry may list scopes (`producer:sha256hex:orders+cards`); without one it has the default scope,
orders only. Reading decrypted cards needs the `cards` scope.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

KEY_PREFIX = "gq_"  # lets a secret scanner recognise a leaked giftq key
KEY_BYTES = 32
KEY_ID_HEX = 12  # a key is named in audit records by this much of its digest: enough to tell keys apart, no more


def new_api_key() -> str:
    """A new random API key (shown once; only its digest is kept)."""
    return KEY_PREFIX + secrets.token_urlsafe(KEY_BYTES)


def key_digest(key: str) -> str:
    """The SHA-256 hex digest of a key, as GIFTQ_API_KEYS holds it."""
    return hashlib.sha256(key.encode()).hexdigest()


def key_entry(producer: str, key: str, scopes: tuple[str, ...]) -> str:
    """The GIFTQ_API_KEYS entry of a key: its producer, its digest and, unless the default, its scopes."""
    suffix = "" if not scopes or scopes == ("orders",) else ":" + "+".join(scopes)
    return f"{producer}:{key_digest(key)}{suffix}"


@dataclass(frozen=True)
class Caller:
    """Who presented a valid key: the producer, which of its keys (`key_id`) and what that key may do."""

    producer: str
    key_id: str
    scopes: tuple[str, ...]


class ApiKeys:
    """Tells which producer, key and scopes a presented key stands for."""

    def __init__(self, entries: tuple[tuple[str, str, tuple[str, ...]], ...]):
        self._entries = entries

    def __bool__(self) -> bool:
        return bool(self._entries)

    def caller_for(self, presented: str | None) -> Caller | None:
        """The caller whose key this is, or None; every entry is compared, so timing tells nothing."""
        if not presented:
            return None
        digest = key_digest(presented)
        found = None
        for producer, stored, scopes in self._entries:
            if hmac.compare_digest(digest, stored):
                found = Caller(producer=producer, key_id=stored[:KEY_ID_HEX], scopes=scopes)
        return found

    def producer_for(self, presented: str | None) -> str | None:
        """The producer whose key this is, or None."""
        caller = self.caller_for(presented)
        return caller.producer if caller else None
