"""A producer's callback endpoint for tests: a loopback HTTP server keeping each request's raw body and headers.

It can be started on a port chosen before it listens, so a test can send callbacks to an endpoint that is down
and bring it up later. Given a server-side TLS context, it answers https.
"""

from __future__ import annotations

import ssl
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from worker.cli.redis_server import free_port


@dataclass(frozen=True)
class Received:
    """One callback as it arrived."""

    path: str
    headers: dict[str, str]
    body: bytes


class CallbackReceiver:
    """Answers every POST with `status` and keeps it; `start()` and `stop()` bring it up and down."""

    def __init__(self, *, port: int | None = None, status: int = 204, tls: ssl.SSLContext | None = None):
        self.port = port or free_port()
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}/giftq-callback"
        self._tls = tls
        self.status = status
        self.received: list[Received] = []
        self._server: ThreadingHTTPServer | None = None

    def start(self) -> CallbackReceiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.received.append(Received(self.path, dict(self.headers.items()), body))
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        if self._tls:
            self._server.socket = self._tls.wrap_socket(self._server.socket, server_side=True)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
