"""The OAuth 2 client-credentials token cache against an identity endpoint that answers junk: every such answer is
giftq's ProviderError naming the status only, never a token a request could not carry (or would echo)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from worker.errors import ProviderError
from worker.providers.oauth import ClientCredentialsToken

pytestmark = pytest.mark.timeout(30)
SECRET = "client-secret-never-shown"


@pytest.fixture
def identity() -> Iterator[tuple[str, list]]:
    """A loopback token endpoint answering the JSON body at the head of its list."""
    answers: list = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            data = json.dumps(answers[0]).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/token", answers
    server.shutdown()
    server.server_close()


def a_token(url: str) -> ClientCredentialsToken:
    return ClientCredentialsToken(requests.Session(), url, "cid", SECRET, timeout_s=2, provider="BHN")


def test_a_well_formed_token_is_cached(identity) -> None:
    url, answers = identity
    answers.append({"access_token": "eyJ.abc-_~+/==", "expires_in": 3600})
    assert a_token(url).bearer() == "eyJ.abc-_~+/=="


@pytest.mark.parametrize(
    "token",
    ["tok-LEAKED\r\nX-Injected: 1", "tok-LEAKED\n", " tok-LEAKED", "tok LEAKED", {"nested": "tok-LEAKED"}, ""],
)
def test_a_token_no_authorization_header_can_carry_is_refused_without_its_text(identity, token: object) -> None:
    # A bearer header requests refuses (CR, LF, leading space) raised InvalidHeader, whose text held the token
    url, answers = identity
    answers.append({"access_token": token, "expires_in": 3600})
    with pytest.raises(ProviderError) as refused:
        a_token(url).bearer()
    assert "LEAKED" not in f"{refused.value} {refused.value!r}" and SECRET not in str(refused.value)
