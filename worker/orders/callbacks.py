"""Signed HTTP callbacks to producers: HMAC-SHA256 over "<timestamp>.<body>", as the webhooks producers know.

A callback goes only to a destination giftq may call (`worker.orders.destinations`), over a connection pinned
to the address that was checked, and within one deadline for the whole exchange (`worker.orders.pinned_http`).
It is acknowledged by a 2xx answer and by nothing else (a redirect is not followed, no proxy is used).

What giftq keeps of a failed one is a coarse class, `timeout`, `refused` or `non-2xx`: never the status, the
answer's body or an exception's name, so a producer reading `last_error` learns nothing about what listens
where (callbacks cannot be used to scan ports).
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import ssl

from schemas.callback_url import BadCallbackUrl, CallbackTarget, parse_callback_url
from worker.errors import GiftqError
from worker.orders.destinations import CallbackDestinations, DestinationRefused
from worker.orders.pinned_http import Deadline, PinnedConnection, PinnedTLSConnection

TIMESTAMP_HEADER = "X-Giftq-Timestamp"  # unix seconds when the callback was signed
SIGNATURE_HEADER = "X-Giftq-Signature"  # "sha256=" + hex HMAC-SHA256(secret, f"{timestamp}.{body}")
# What a failed callback is recorded as, and nothing finer.
TIMEOUT = "timeout"  # no answer within GIFTQ_CALLBACK_TIMEOUT_S, from resolving to the end of the headers
REFUSED = "refused"  # a destination giftq does not call, or one that did not take the connection or speak HTTP
NON_2XX = "non-2xx"  # an HTTP answer other than 2xx
FAILURE_KINDS = (TIMEOUT, REFUSED, NON_2XX)


class CallbackFailed(GiftqError):
    """Raised when a callback was not acknowledged with a 2xx; `kind` is one of FAILURE_KINDS, and is the message."""

    def __init__(self, kind: str):
        super().__init__(kind)
        self.kind = kind


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The X-Giftq-Signature value of a body sent at `timestamp` (unix seconds)."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


class CallbackSender:
    """POSTs signed callbacks to allowed destinations, each within `timeout_s` from start to answer."""

    def __init__(self, *, timeout_s: float, destinations: CallbackDestinations,
                 tls_context: ssl.SSLContext | None = None):  # fmt: skip
        self._timeout_s = timeout_s
        self._destinations = destinations
        self._tls_context = tls_context

    def post(self, url: str, body: bytes, *, secret: str, timestamp: int) -> None:
        """Send one callback; returns when it was acknowledged, raises CallbackFailed otherwise."""
        headers = {
            "Content-Type": "application/json",
            TIMESTAMP_HEADER: str(timestamp),
            SIGNATURE_HEADER: signature(secret, timestamp, body),
        }
        with Deadline(self._timeout_s) as deadline:
            try:
                target = parse_callback_url(url)
                status = self._exchange(target, self._destinations.check(target), deadline, body, headers)
            except (BadCallbackUrl, DestinationRefused):
                raise CallbackFailed(REFUSED) from None
            except (OSError, http.client.HTTPException) as error:
                timed_out = deadline.expired or isinstance(error, TimeoutError)
                raise CallbackFailed(TIMEOUT if timed_out else REFUSED) from None
        if not 200 <= status < 300:
            raise CallbackFailed(NON_2XX)

    def _exchange(self, target: CallbackTarget, address: str, deadline: Deadline, body: bytes,
                  headers: dict[str, str]) -> int:  # fmt: skip
        """POST to the checked `address` and return the answer's status; the body of the answer is never read."""
        if target.scheme == "https":
            connection: PinnedConnection = PinnedTLSConnection(
                target.host, target.port, address=address, deadline=deadline, context=self._tls_context
            )
        else:
            connection = PinnedConnection(target.host, target.port, address=address, deadline=deadline)
        try:
            connection.request("POST", target.path, body=body, headers=headers)
            return connection.getresponse().status
        finally:
            connection.close()
