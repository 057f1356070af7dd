"""What a Notify.CallbackUrl may be, parsed once, the same way for the order's check and for the connection.

Only http and https, a host, no user or password, no spaces, control characters or backslashes (the
characters on which URL parsers disagree about where the host is). Whether the host is a destination giftq
may call (what it resolves to) is decided in `worker.orders.destinations`, on the host this parser found.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

INVALID_CALLBACK_URL = "InvalidCallbackUrl"
DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True)
class CallbackTarget:
    """Where a callback goes: the host as the URL names it (IDNA, lower case, no brackets), port, request path."""

    scheme: str
    host: str
    port: int
    path: str  # the path and query of the request line; a fragment is never sent


class BadCallbackUrl(ValueError):
    """Raised when a CallbackUrl is not one giftq will call, whatever its host resolves to."""


def parse_callback_url(url: str) -> CallbackTarget:
    """The target of a CallbackUrl; raises BadCallbackUrl saying what is wrong with it."""
    if any(char.isspace() or ord(char) < 32 or ord(char) == 127 or char == "\\" for char in url):
        raise BadCallbackUrl("CallbackUrl has a space, a control character or a backslash")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise BadCallbackUrl("CallbackUrl has a malformed host or port") from None
    if parts.scheme not in DEFAULT_PORTS:
        raise BadCallbackUrl("CallbackUrl is an http or https URL")
    if "@" in parts.netloc:
        raise BadCallbackUrl("CallbackUrl carries no user name or password")
    if not parts.hostname or port == 0:
        raise BadCallbackUrl("CallbackUrl names a host (and a port of 1 to 65535, if any)")
    try:
        host = parts.hostname.encode("idna").decode("ascii")
    except UnicodeError:
        raise BadCallbackUrl("CallbackUrl's host is not a valid host name") from None
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return CallbackTarget(scheme=parts.scheme, host=host, port=port or DEFAULT_PORTS[parts.scheme], path=path)
