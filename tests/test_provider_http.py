"""worker/providers/http.py: a provider session reads the environment's proxies and CA bundle once per host, and
still honours them as requests itself does."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator

import pytest
import requests

from worker.cli.redis_server import free_port
from worker.providers import http as provider_http

URLS = (
    "http://bamboo.example/api/integration/v1.0/orders/checkout",
    "http://bamboo.example/api/integration/v1.0/orders/8f0c",  # the same host again: the kept answer
    "https://bhn.example/v1/orders",
    "http://internal.example/v1/orders",  # NO_PROXY
)


# What requests reads of the environment besides the variables a test sets: cleared so that the machine's own
# (lower-case ones win in urllib) cannot change the answer.
OTHER_SETTINGS = ("http_proxy", "https_proxy", "no_proxy", "all_proxy", "ALL_PROXY", "NO_PROXY", "CURL_CA_BUNDLE",
                  "REQUESTS_CA_BUNDLE")  # fmt: skip


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in OTHER_SETTINGS:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def proxy() -> Iterator[tuple[str, list[str]]]:
    """An HTTP proxy on loopback that answers every request itself: yields its URL and the request lines it saw."""
    seen: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
            seen.append(self.requestline)
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *_: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", seen
    finally:
        server.shutdown()
        server.server_close()


def test_the_settings_for_each_url_are_the_ones_requests_reads_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("HTTPS_PROXY", "http://tls-proxy.example:3128")
    monkeypatch.setenv("NO_PROXY", "internal.example")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/giftq/providers-ca.pem")
    ours, theirs = provider_http.session(), requests.Session()
    for url in URLS * 2:
        assert ours.merge_environment_settings(url, {}, None, None, None) == theirs.merge_environment_settings(
            url, {}, None, None, None
        ), url
    assert ours.merge_environment_settings(URLS[0], {}, None, None, None)["proxies"]["http"] == (
        "http://proxy.example:3128"
    )
    # A caller's own settings are not kept in place of the environment's
    assert ours.merge_environment_settings(URLS[0], {}, None, False, None)["verify"] is False
    assert ours.merge_environment_settings(URLS[0], {}, None, None, None)["verify"] == "/etc/giftq/providers-ca.pem"


def test_a_request_goes_through_the_environments_proxy_every_time(
    monkeypatch: pytest.MonkeyPatch, proxy: tuple[str, list[str]]
) -> None:
    url, seen = proxy
    monkeypatch.setenv("HTTP_PROXY", url)
    session = provider_http.session()
    for path in ("checkout", "orders/8f0c"):
        prepared = session.prepare_request(requests.Request("GET", f"http://bamboo.example/{path}"))
        settings = session.merge_environment_settings(prepared.url, {}, None, None, None)
        assert session.send(prepared, timeout=5, **settings).text == "ok"
    assert seen == [f"GET http://bamboo.example/{path} HTTP/1.1" for path in ("checkout", "orders/8f0c")]


def test_the_environment_is_read_once_per_host(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.example:3128")
    session = provider_http.session()
    first = session.merge_environment_settings(URLS[0], {}, None, None, None)
    monkeypatch.setenv("HTTP_PROXY", "http://another-proxy.example:3128")
    # The same host: the answer kept from the first request (a process's environment does not change as it runs)
    assert session.merge_environment_settings(URLS[1], {}, None, None, None) == first
    # Another host, or a new session: read now
    assert session.merge_environment_settings("http://other.example/", {}, None, None, None)["proxies"] == {
        "http": "http://another-proxy.example:3128"
    }
    assert provider_http.session().merge_environment_settings(URLS[0], {}, None, None, None)["proxies"] == {
        "http": "http://another-proxy.example:3128"
    }
