"""Signed HTTP callbacks to producers: HMAC-SHA256 over "<timestamp>.<body>", as the webhooks producers know.

A callback is acknowledged by a 2xx answer and by nothing else (a redirect is not followed). What giftq keeps
of a failed one is its status or the kind of error, never the answer's body.
"""

from __future__ import annotations

import hashlib
import hmac

import requests

from worker.errors import GiftqError

TIMESTAMP_HEADER = "X-Giftq-Timestamp"  # unix seconds when the callback was signed
SIGNATURE_HEADER = "X-Giftq-Signature"  # "sha256=" + hex HMAC-SHA256(secret, f"{timestamp}.{body}")


class CallbackFailed(GiftqError):
    """Raised when a callback was not acknowledged with a 2xx; the message says why (a status or an error kind)."""


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The X-Giftq-Signature value of a body sent at `timestamp` (unix seconds)."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


class CallbackSender:
    """POSTs signed callbacks with one HTTP session and an explicit timeout."""

    def __init__(self, *, timeout_s: float):
        self._timeout_s = timeout_s
        self._session = requests.Session()

    def post(self, url: str, body: bytes, *, secret: str, timestamp: int) -> None:
        """Send one callback; returns when it was acknowledged, raises CallbackFailed otherwise."""
        headers = {
            "Content-Type": "application/json",
            TIMESTAMP_HEADER: str(timestamp),
            SIGNATURE_HEADER: signature(secret, timestamp, body),
        }
        try:
            response = self._session.post(url, data=body, headers=headers, timeout=self._timeout_s,
                                          allow_redirects=False)  # fmt: skip
        except requests.RequestException as error:
            raise CallbackFailed(f"callback not delivered: {type(error).__name__}") from None
        response.close()
        if not 200 <= response.status_code < 300:
            raise CallbackFailed(f"callback answered {response.status_code}")
