"""The HTTP server: a threaded werkzeug server that can also fail the way networks fail.

A handler asks for a connection-level fault by setting ``environ[CONNECTION_FAULT]`` before it returns:
``"drop"`` closes the connection without an answer (FIN), ``"reset"`` aborts it with a TCP RST
(SO_LINGER 0, then close). The wrapper below turns the flag into a ConnectionError subclass, which
werkzeug's ``run_wsgi`` hands to ``connection_dropped`` before writing a byte, so nothing is sent.
"""

import os
import signal
import socket
import struct
import threading
from collections.abc import Callable, Iterable
from typing import Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

CONNECTION_FAULT = "sandbox.connection_fault"
DROP, RESET = "drop", "reset"

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class DropConnection(ConnectionError):
    """Raised when a handler asked to close its connection without answering."""


class ResetConnection(ConnectionError):
    """Raised when a handler asked to abort its connection with a TCP reset."""


def with_connection_faults(app: WSGIApp) -> WSGIApp:
    """Wrap a WSGI app so that a handler's connection-fault flag ends the connection unanswered."""

    def wrapped(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        body = app(environ, start_response)
        fault = environ.get(CONNECTION_FAULT)
        if fault is None:
            return body
        if hasattr(body, "close"):
            body.close()
        raise ResetConnection() if fault == RESET else DropConnection()

    return wrapped


class _SandboxRequestHandler(WSGIRequestHandler):
    """Werkzeug's handler, quiet unless asked, closing or resetting connections on request."""

    access_log = False

    def connection_dropped(self, error: BaseException, environ: dict[str, Any] | None = None) -> None:
        self.close_connection = True
        if isinstance(error, ResetConnection):
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            # Detach, then close the descriptor ourselves: an abortive close sends RST and no FIN, and the
            # detached socket object can no longer touch a descriptor number the kernel may reuse.
            os.close(self.connection.detach())

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        if self.access_log:
            super().log_request(code, size)


def make_sandbox_server(host: str, port: int, app: WSGIApp, access_log: bool = False) -> BaseWSGIServer:
    """Return a threaded server for ``app`` bound to ``host:port`` (port 0 picks a free one)."""
    handler = type("SandboxRequestHandler", (_SandboxRequestHandler,), {"access_log": access_log})
    return make_server(host, port, with_connection_faults(app), threaded=True, request_handler=handler)


def serve_until_signalled(server: BaseWSGIServer, on_stop: Callable[[], None]) -> None:
    """Serve until SIGTERM or SIGINT (or until ``server.shutdown()``), then call ``on_stop`` and close."""
    stop = threading.Event()
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
    serving = threading.Thread(target=_serve, args=(server, stop), name="sandbox-serve", daemon=True)
    serving.start()
    while not stop.wait(0.2):
        pass
    server.shutdown()
    on_stop()
    server.server_close()


def _serve(server: BaseWSGIServer, stop: threading.Event) -> None:
    try:
        server.serve_forever(poll_interval=0.1)
    finally:
        stop.set()
