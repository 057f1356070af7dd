"""HTTP sessions for provider clients that know the moment a request has left the process.

A Place Order's start, for the provider, is when the request arrives. A claim in the throttle is taken a moment
before the send; a process descheduled between the two sends later than it claimed. A `requests.Session` from
`session()` calls a hook with `time.monotonic()` right after the request's last byte was written to the socket,
before the answer is read, so the caller can tell the throttle when the call really began (and hand the schedule
on without competing with its own send). Requests through a proxy do not call the hook.
"""

from __future__ import annotations

import contextlib
import logging
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from urllib.parse import urlsplit

import requests
import urllib3.exceptions
from requests.adapters import HTTPAdapter
from requests.utils import select_proxy
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

logger = logging.getLogger(__name__)

SentHook = Callable[[float], None]
_pending = threading.local()  # the hook of the request this thread is sending, if any


@contextlib.contextmanager
def when_written(hook: SentHook | None) -> Iterator[None]:
    """Call `hook(time.monotonic())` once, when the request sent inside this block has been written."""
    _pending.hook = hook
    try:
        yield
    finally:
        _pending.hook = None


def session() -> requests.Session:
    """A Session whose http and https connections call the `when_written` hook of the thread that sends."""
    new = _Session()
    adapter = _Adapter()
    new.mount("http://", adapter)
    new.mount("https://", adapter)
    return new


def open_connection(session: requests.Session, url: str, *, timeout_s: float) -> None:
    """Have an open connection to `url` in `session`'s pool now (TCP, and TLS for https), so the next call does not
    pay for the handshake: the pooled one if it is still open, else one opened here within `timeout_s` (the provider
    closed the last after its answer, or while it was idle). The connection goes back to the pool requests takes it
    from for `url`, closed if opening it failed part-way (a TLS handshake refused: never half a connection for the
    call to send on). A failure (the provider unreachable, a bad URL) is left to the call to meet. Through a proxy
    nothing is opened: the tunnel is set up by the call."""
    try:
        pool = _direct_pool(session, url)
        if pool is None:
            return
        connection = pool._get_conn()  # a pooled connection the provider closed comes back closed
        try:
            if not connection.is_connected:
                connection.timeout = timeout_s
                connection.connect()
        except BaseException:
            connection.close()
            raise
        finally:
            pool._put_conn(connection)
    except (OSError, ValueError, urllib3.exceptions.HTTPError):
        pass


def _direct_pool(session: requests.Session, url: str) -> HTTPConnectionPool | None:
    """The pool `session` sends a request for `url` through, None if it goes through a proxy. The pool's key holds
    the TLS settings requests takes from the environment (CA bundle, client certificate), so it is asked of the
    adapter as requests asks it, with a request holding the URL only: all the adapter reads of it (a whole one
    from the session, with its auth and cookies, cost more than half of a warm)."""
    request = requests.PreparedRequest()
    request.prepare_url(url, None)
    settings = session.merge_environment_settings(url, {}, None, None, None)
    if select_proxy(url, settings["proxies"]):
        return None
    return session.get_adapter(url).get_connection_with_tls_context(request, settings["verify"], None,
                                                                    settings["cert"])  # fmt: skip


def _written() -> None:
    hook = getattr(_pending, "hook", None)
    if hook is None:
        return
    _pending.hook = None
    try:
        hook(time.monotonic())
    except Exception:  # noqa: BLE001 - the request is sent: a failing hook must not turn it into a failed call
        logger.exception("the hook after a request was written failed")


class _Session(requests.Session):
    """A Session that reads the environment's settings for a host once, not on every request.

    requests asks the environment for each request's proxies (HTTP(S)_PROXY, NO_PROXY, ALL_PROXY) and CA bundle
    (REQUESTS_CA_BUNDLE, CURL_CA_BUNDLE): a scan of every variable, and a profile's largest share of a provider
    call's own work. A process's environment does not change while it runs, and what it says depends only on the
    scheme and host of the URL, so the answer is kept per scheme and host.
    """

    def __init__(self) -> None:
        super().__init__()
        self._environment: dict[tuple[str, str], dict] = {}

    def merge_environment_settings(self, url, proxies, stream, verify, cert):  # type: ignore[no-untyped-def]
        if proxies or stream is not None or verify is not None or cert is not None:
            return super().merge_environment_settings(url, proxies, stream, verify, cert)
        where = urlsplit(url)[:2]
        settings = self._environment.get(where)
        if settings is None:
            settings = self._environment[where] = super().merge_environment_settings(url, {}, None, None, None)
        return {**settings, "proxies": dict(settings["proxies"])}


class _Connection(HTTPConnection):
    def request(self, *args, **kwargs) -> None:  # type: ignore[override]
        super().request(*args, **kwargs)
        _written()


class _TLSConnection(HTTPSConnection):
    def request(self, *args, **kwargs) -> None:  # type: ignore[override]
        super().request(*args, **kwargs)
        _written()

    @property
    def is_connected(self) -> bool:
        """urllib3 takes a readable idle socket for one the server closed. A TLS 1.3 server sends its session tickets
        just after the handshake, so a connection opened ahead of a call is readable with nothing to read: the
        records are read here (TLS's own, they leave nothing), and it is closed only if the server closed it or
        sent what nobody asked for."""
        connected = super().is_connected
        if connected or not isinstance(self.sock, ssl.SSLSocket):
            return connected
        return _holds_only_tls_records(self.sock)


def _holds_only_tls_records(sock: ssl.SSLSocket) -> bool:
    """Whether a readable TLS socket had only TLS's own records to read (no data, no end)."""
    timeout = sock.gettimeout()
    sock.setblocking(False)
    try:
        sock.recv(1)  # b"": the server closed it; a byte: data no request asked for
    except ssl.SSLWantReadError:
        return True
    except OSError:
        return False
    finally:
        sock.settimeout(timeout)
    return False


class _Pool(HTTPConnectionPool):
    ConnectionCls = _Connection


class _TLSPool(HTTPSConnectionPool):
    ConnectionCls = _TLSConnection


class _Adapter(HTTPAdapter):
    def init_poolmanager(self, *args, **kwargs) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _Pool, "https": _TLSPool}
