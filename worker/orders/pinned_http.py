"""HTTP connections pinned to a checked address, under one deadline for the whole exchange.

A callback's host is resolved and checked once (`worker.orders.destinations`); the connection then goes to
that address and no other, while the request still names the host (the Host header; for https, SNI and the
certificate's host name), so a name cannot resolve to another address between the check and the connect.

Socket timeouts bound each read, not the exchange: a server sending one byte a second would never trip them.
`Deadline` bounds the whole of it (connect, TLS handshake, send, status line and headers) with a watchdog
that shuts the socket down when the time is up, which makes any blocked read or write return at once.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import threading
import time


class Deadline:
    """One deadline, `seconds` from now, for an exchange on one socket; a context manager that stops its watchdog."""

    def __init__(self, seconds: float):
        self._ends = time.monotonic() + seconds
        self._lock = threading.Lock()
        self._watched: socket.socket | None = None
        self.expired = False
        self._watchdog = threading.Timer(seconds, self._expire)
        self._watchdog.daemon = True
        self._watchdog.start()

    def __enter__(self) -> Deadline:
        return self

    def __exit__(self, *_: object) -> None:
        self._watchdog.cancel()
        with self._lock:
            if self._watched is not None:
                self._watched.close()
                self._watched = None

    def remaining_s(self) -> float:
        """Seconds left; raises TimeoutError once none are."""
        left = self._ends - time.monotonic()
        if left <= 0 or self.expired:
            raise TimeoutError("the deadline of the exchange passed")
        return left

    def watch(self, sock: socket.socket) -> socket.socket:
        """Shut `sock` down when the deadline passes (through a duplicate: TLS may wrap and detach `sock`)."""
        with self._lock:
            if self.expired:
                sock.close()
                raise TimeoutError("the deadline of the exchange passed")
            self._watched = sock.dup()
        return sock

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            if self._watched is not None:
                try:
                    self._watched.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass  # already closed by its end


class PinnedConnection(http.client.HTTPConnection):
    """An HTTP connection to `address` for a URL naming `host`: the Host header keeps the name."""

    def __init__(self, host: str, port: int, *, address: str, deadline: Deadline):
        super().__init__(host, port, timeout=deadline.remaining_s())
        self._address = address
        self._deadline = deadline

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), timeout=self._deadline.remaining_s())
        self.sock = self._deadline.watch(sock)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class PinnedTLSConnection(PinnedConnection):
    """An HTTPS connection to `address`, verifying the certificate for `host` (also the SNI name)."""

    default_port = http.client.HTTPS_PORT

    def __init__(self, host: str, port: int, *, address: str, deadline: Deadline, context: ssl.SSLContext | None):
        super().__init__(host, port, address=address, deadline=deadline)
        self._context = context or ssl.create_default_context()

    def connect(self) -> None:
        super().connect()
        self.sock = self._context.wrap_socket(self.sock, server_hostname=self.host)
