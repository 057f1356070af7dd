"""Page cursors of `GET /orders`: opaque, and good only for the producer and state they were made for.

The store pages through one state's index of every producer's orders; where a page stops, its position
(time entered, RequestId) may be another producer's order (a page reads at most SCAN_BUDGET entries).
Handed out as it is, that position would name another producer's RequestId, and a made-up one would start
a listing anywhere. So the API hands out the position sealed: AES-GCM under a key derived from the card keys
(GIFTQ_FERNET_KEYS, HKDF with a label of its own, so the cursor key reveals nothing of the card keys), the
producer and state bound in as associated data. A cursor shows nothing, and one altered, made up, or made for
another producer or state does not open: the API answers 422 `InvalidCursor`.

Cursors sealed under a key that is later dropped from GIFTQ_FERNET_KEYS stop opening; the listing starts again.
"""

from __future__ import annotations

import base64
import binascii
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

INVALID_CURSOR = "InvalidCursor"
NONCE_BYTES = 12
_LABEL = b"giftq api page cursor v1"


class InvalidCursor(ValueError):
    """Raised when a cursor does not open: altered, made up, or made for another producer or state."""

    reason = INVALID_CURSOR


class PageCursors:
    """Seals store page positions into cursors, and opens them again for the same producer and state only."""

    def __init__(self, secrets: tuple[str, ...]):
        """`secrets`: the card keys, newest first; cursors are sealed under the first and opened under any."""
        if not secrets:
            raise ValueError("page cursors need a key (GIFTQ_FERNET_KEYS)")
        self._ciphers = [AESGCM(_derive(secret)) for secret in secrets]

    def seal(self, position: str, *, producer: str, state: str) -> str:
        """The opaque cursor of a store position, for `producer`'s listing of `state`."""
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._ciphers[0].encrypt(nonce, position.encode(), _bound_to(producer, state))
        return base64.urlsafe_b64encode(nonce + sealed).rstrip(b"=").decode()

    def open(self, cursor: str, *, producer: str, state: str) -> str:
        """The store position a cursor holds; raises InvalidCursor unless it was sealed for this producer and state."""
        try:
            raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        except (binascii.Error, ValueError):
            raise InvalidCursor("not a cursor of this listing") from None
        nonce, sealed = raw[:NONCE_BYTES], raw[NONCE_BYTES:]
        for cipher in self._ciphers:
            try:
                return cipher.decrypt(nonce, sealed, _bound_to(producer, state)).decode()
            except (InvalidTag, ValueError):
                continue
        raise InvalidCursor("not a cursor of this listing: pass back a next_cursor this API gave you for it")


def _derive(secret: str) -> bytes:
    material = base64.urlsafe_b64decode(secret.encode())
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_LABEL).derive(material)


def _bound_to(producer: str, state: str) -> bytes:
    return f"{producer}\n{state}".encode()
