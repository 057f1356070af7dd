"""Redaction: log lines and tracebacks mask card fields, task reprs show RequestIds only, and exceptions built
from a provider's answers never carry the card data in its body."""

from __future__ import annotations

import json
import logging
import threading
import traceback
from collections.abc import Iterator
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from config.settings import Credential, Limits
from worker.errors import GiftqError
from worker.providers.bamboo import BambooClient
from worker.providers.base import OrderLine, PlaceRequest
from worker.redaction import _SECRET_KEYS as SECRET_KEYS
from worker.redaction import install_redaction, redact, task_argsrepr, task_kwargsrepr

CODE, PIN = "ZX9Q-4KLM-77PA-Q1W2", "482913"
CARD_BODY = {"cardCode": CODE, "pin": PIN, "serialNumber": "SN1"}


def test_a_log_line_with_card_fields_shows_neither_code_nor_pin(caplog: pytest.LogCaptureFixture) -> None:
    # Given redaction installed in this process
    install_redaction()
    logger = logging.getLogger("giftq.test")

    # When a careless line logs a card, a token, an API key and a traceback holding a code
    with caplog.at_level(logging.INFO):
        logger.info("card %s and %s", CARD_BODY, json.dumps(CARD_BODY))
        logger.info("cards=gAAAAABnZXhhbXBsZXRva2VuMTIzNDU2Nzg5MA key gq_abcdefghijklmnopqrstuvwxyz")
        try:
            raise ValueError(f"provider said code={CODE}")
        except ValueError:
            logger.exception("failed")

    # Then the formatted output holds none of them, and says where something was masked
    text = "\n".join(logging.Formatter().format(record) for record in caplog.records)
    for secret in (CODE, PIN, "gAAAAABnZXhh", "gq_abcdefghij"):
        assert secret not in text
    assert "***" in text and "SN1" in text


def test_harmless_fields_that_merely_contain_a_secret_word_are_left_alone() -> None:
    assert redact("status_code=200 cards_issued=2 pin_length=6") == "status_code=200 cards_issued=2 pin_length=6"


@pytest.mark.parametrize("key", SECRET_KEYS.split("|"))
def test_every_secret_field_is_masked_past_the_fast_path(key: str) -> None:
    # A line is skipped unless it holds a clue (redact's fast path): no key may be left without one
    assert redact(f"sent {key}=Zq81x and {key!r}: 'Zq81y'") == f"sent {key}=*** and {key!r}: '***'"


@pytest.mark.parametrize("text", [
    "value gAAAAABnZXhhbXBsZXRva2VuMTIzNDU2Nzg5MA", "key gq_abcdefghijklmnopqrstuvwxyz",
    "Authorization: Bearer eyJhbGciOi.eyJzdWIi.c2lnbmF0dXJl", "Authorization: BASIC dXNlcjpwYXNzd29yZA==",
    "Authorization: Ba\u017fic dXNlcjpwYXNzd29yZA==",  # a long s, which the pattern takes for an s
])  # fmt: skip
def test_every_token_shape_is_masked(text: str) -> None:
    assert redact(text).endswith(" ***")


def test_a_task_repr_shows_an_order_by_its_identity_only() -> None:
    order = {"RequestId": "r-1", "AccountId": 555, "Notify": {"CallbackUrl": "https://shop/cb?token=t0ken"}}
    assert task_argsrepr([order]) == "[{'RequestId': 'r-1'}]"
    assert task_argsrepr(["r-1"]) == "['r-1']"
    assert task_kwargsrepr({"producer": "shop", "attempt": 2, "other": "x"}) == (
        "{'producer': 'shop', 'attempt': 2, 'other': '***'}"
    )


class _Provider(BaseHTTPRequestHandler):
    """A provider that answers every call with a body full of card data, in the shapes giftq must refuse."""

    answers: dict[str, tuple[int, bytes]] = {}

    def _answer(self) -> None:
        status, body = self.answers[self.command]
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer  # noqa: N815 - http.server's naming

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def provider_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Provider)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize(
    ("method", "status", "body"),
    [
        ("POST", 400, {"message": f"bad order, your card {CODE} pin {PIN}"}),
        ("POST", 500, {"cards": [CARD_BODY]}),
        ("POST", 403, {"message": json.dumps(CARD_BODY)}),
        ("GET", 200, {"status": "Weird", "items": [{"productId": 1, "cards": [CARD_BODY]}]}),
        ("GET", 200, {"status": "Succeeded", "items": [{"cards": [CARD_BODY]}]}),
        ("GET", 418, {"message": CODE, "items": [{"cards": [CARD_BODY]}]}),
    ],
)
def test_an_exception_from_a_provider_answer_never_carries_its_card_data(
    provider_url: str, method: str, status: int, body: dict
) -> None:
    # Given a provider whose answer holds card data in a shape giftq refuses
    _Provider.answers = {method: (status, json.dumps(body).encode())}
    credential = Credential(client_id="c", client_secret="s", limits=Limits())
    client = BambooClient(provider_url, credential, timeout_s=5)

    # When giftq calls it
    with pytest.raises(GiftqError) as raised:
        if method == "POST":
            client.place(PlaceRequest("r-1", 555, (OrderLine(1, 1, Decimal(10)),)))
        else:
            client.get("r-1")

    # Then neither the exception, its repr, nor its whole traceback shows the code or the PIN
    shown = "".join(traceback.format_exception(raised.value)) + repr(raised.value) + repr(vars(raised.value))
    assert CODE not in shown and PIN not in shown
