"""A callback server that never finishes answering: it sends one byte of a 200 answer every `every_s` seconds.

Each read of its client gets a byte well within any per-read timeout, so only a deadline on the whole exchange
ends it. It keeps, per connection, when it was accepted and when the client closed it (seen at once: the
server waits for the client's side to become readable between bytes, so a close is noticed without delay).
"""

from __future__ import annotations

import select
import socket
import threading
import time
from dataclasses import dataclass

STATUS_LINE_THEN_A_HEADER = b"HTTP/1.1 200 OK\r\nX-Trickle: "  # then "a" forever: the headers never end


@dataclass
class Trickle:
    """One connection: when it was accepted and when its client closed it (monotonic seconds), bytes sent."""

    accepted_at: float
    closed_at: float | None = None
    sent: int = 0


class TricklingServer:
    """Listens on a free loopback port; `url` is its callback URL; `stop()` closes everything."""

    def __init__(self, *, every_s: float = 2.0):
        self._every_s = every_s
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}/giftq-callback"
        self.trickles: list[Trickle] = []
        self._stopped = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def stop(self) -> None:
        self._stopped.set()
        self._listener.close()

    def _accept(self) -> None:
        while not self._stopped.is_set():
            try:
                connection, _ = self._listener.accept()
            except OSError:
                return
            trickle = Trickle(accepted_at=time.monotonic())
            self.trickles.append(trickle)
            threading.Thread(target=self._trickle, args=(connection, trickle), daemon=True).start()

    def _trickle(self, connection: socket.socket, trickle: Trickle) -> None:
        with connection:
            while not self._stopped.is_set():
                readable, _, _ = select.select([connection], [], [], self._every_s)
                try:
                    if readable and not connection.recv(65536):
                        break  # the client closed its side
                    if not readable:
                        connection.sendall(_byte(trickle.sent))
                        trickle.sent += 1
                except OSError:
                    break
            trickle.closed_at = time.monotonic()


def _byte(index: int) -> bytes:
    """Byte `index` of the answer: a 200 status line, then a header line that never ends."""
    return STATUS_LINE_THEN_A_HEADER[index : index + 1] or b"a"
