"""Encryption of card data (codes, PINs) before it touches Redis."""

from __future__ import annotations

import json
from collections.abc import Sequence

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from worker.errors import GiftqError


class CipherError(GiftqError):
    """Raised when card data cannot be encrypted or decrypted with the configured keys."""


class CardCipher:
    """MultiFernet over the configured keys: encrypts with the first, decrypts with any."""

    def __init__(self, keys: Sequence[str]):
        if not keys:
            raise CipherError("no Fernet key configured: set GIFTQ_FERNET_KEYS (see .env.example)")
        try:
            self._fernet = MultiFernet([Fernet(key) for key in keys])
        except (ValueError, TypeError):
            raise CipherError("GIFTQ_FERNET_KEYS holds a key that is not a valid Fernet key") from None

    def encrypt(self, payload: object) -> str:
        """Encrypt a JSON-serialisable payload into a token safe to store."""
        return self._fernet.encrypt(json.dumps(payload).encode()).decode()

    def decrypt(self, token: str) -> object:
        """Decrypt a token written by `encrypt` with any of the configured keys."""
        try:
            return json.loads(self._fernet.decrypt(token.encode()))
        except InvalidToken:
            raise CipherError("stored card data does not decrypt with any configured key") from None

    def rotate(self, token: str) -> str:
        """Re-encrypt a token under the newest key."""
        try:
            return self._fernet.rotate(token.encode()).decode()
        except InvalidToken:
            raise CipherError("stored card data does not decrypt with any configured key") from None


def new_key() -> str:
    """A fresh Fernet key (for the demo and for operators generating one)."""
    return Fernet.generate_key().decode()
