"""Encryption of card data (codes, PINs) before it touches Redis, bound to the order it belongs to.

Fernet authenticates the whole token, so the binding travels inside it: the plaintext is
`{"context": {"request_id", "producer"}, "payload": ...}`, and every decrypt names the context it expects.
A token copied into another order, or an order whose producer field was changed, does not decrypt.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from worker.errors import GiftqError


class CipherError(GiftqError):
    """Raised when card data cannot be encrypted or decrypted with the configured keys."""

    reason = "CardsUndecryptable"


class CardsNotBound(CipherError):
    """Raised when card data decrypts but was bound to another order or producer (moved or re-assigned)."""

    reason = "CardsNotBound"


class CardCipher:
    """MultiFernet over the configured keys: encrypts with the first, decrypts with any."""

    def __init__(self, keys: Sequence[str]):
        if not keys:
            raise CipherError("no Fernet key configured: set GIFTQ_FERNET_KEYS (see .env.example)")
        try:
            self._fernet = MultiFernet([Fernet(key) for key in keys])
        except (ValueError, TypeError):
            raise CipherError("GIFTQ_FERNET_KEYS holds a key that is not a valid Fernet key") from None

    def encrypt(self, payload: object, context: Mapping[str, str]) -> str:
        """Encrypt a JSON-serialisable payload, bound to `context` (whose order it is), into a token safe to store."""
        return self._fernet.encrypt(json.dumps({"context": dict(context), "payload": payload}).encode()).decode()

    def decrypt(self, token: str, context: Mapping[str, str]) -> object:
        """Decrypt a token written by `encrypt` with any configured key; raises CipherError unless it was bound
        to exactly `context`."""
        try:
            sealed = json.loads(self._fernet.decrypt(token.encode()))
        except InvalidToken:
            raise CipherError("stored card data does not decrypt with any configured key") from None
        if not isinstance(sealed, dict) or sealed.get("context") != dict(context):
            raise CardsNotBound("stored card data belongs to another order or producer: refused") from None
        return sealed["payload"]

    def rotate(self, token: str) -> str:
        """Re-encrypt a token under the newest key."""
        try:
            return self._fernet.rotate(token.encode()).decode()
        except InvalidToken:
            raise CipherError("stored card data does not decrypt with any configured key") from None


def new_key() -> str:
    """A fresh Fernet key (for the demo and for operators generating one)."""
    return Fernet.generate_key().decode()
