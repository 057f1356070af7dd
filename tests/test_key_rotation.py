"""Card keys: `giftq keys rotate` re-encrypts every stored token under the newest key; a wrong key fails at start."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid

import pytest

from config.settings import load_settings
from tests.waiting import cards_of
from worker.orders import states
from worker.orders.crypto import CardCipher, CipherError, new_key
from worker.runtime import Runtime, build_runtime


def giftq(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "worker.cli", *args], env=env, capture_output=True, text=True, timeout=60
    )


def a_fulfilled_order(rt: Runtime, cipher: CardCipher, code: str) -> str:
    """An order record moved through every state to fulfilled, its one card encrypted with `cipher`."""
    request_id = str(uuid.uuid4())
    rt.store.create(request_id, {"RequestId": request_id, "AccountId": 555, "Products": []}, producer="shop")
    for state in (states.SUBMITTING, states.PLACED):
        rt.store.transition(request_id, state)
    cards = [{"product_id": 1, "serial_number": "S", "status": "Sold", "expiration": "", "code": code, "pin": "1"}]
    rt.store.transition(
        request_id,
        states.FULFILLED,
        cards=cipher.encrypt(cards, {"request_id": request_id, "producer": "shop"}),
        summary=json.dumps({}),
    )
    return request_id


def runtime_with_keys(monkeypatch: pytest.MonkeyPatch, *keys: str) -> Runtime:
    monkeypatch.setenv("GIFTQ_FERNET_KEYS", ",".join(keys))
    return build_runtime(load_settings())


def test_results_written_under_a_rotated_to_b_then_decrypt_with_b_alone(
    rt: Runtime, giftq_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given three orders whose cards were written under key A
    key_a, key_b = giftq_env["GIFTQ_FERNET_KEYS"], new_key()
    codes = {a_fulfilled_order(rt, rt.cipher, f"CODE-{n}"): f"CODE-{n}" for n in range(3)}

    # When the operator puts B first and rotates
    rotated = giftq({**giftq_env, "GIFTQ_FERNET_KEYS": f"{key_b},{key_a}"}, "keys", "rotate")

    # Then every token was rewritten, and with B alone a giftq process starts and every card decrypts
    assert rotated.returncode == 0, rotated.stderr
    assert "rotated the cards of 3 orders" in rotated.stdout
    only_b = runtime_with_keys(monkeypatch, key_b)
    for request_id, code in codes.items():
        assert cards_of(only_b, request_id)[0]["code"] == code
    with pytest.raises(CipherError):
        cards_of(only_b, next(iter(codes)), CardCipher([key_a]))


def test_a_key_that_cannot_decrypt_the_stored_cards_is_an_error_at_start(
    rt: Runtime, giftq_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given cards written under key A
    request_id = a_fulfilled_order(rt, rt.cipher, "CODE-X")

    # When a process starts with only a new key B (A dropped before rotating), it refuses, naming the order
    with pytest.raises(CipherError, match=f"cannot decrypt the stored cards of order {request_id}"):
        runtime_with_keys(monkeypatch, new_key())

    # And the command line says so too, without any card data
    refused = giftq({**giftq_env, "GIFTQ_FERNET_KEYS": new_key()}, "status", request_id)
    assert refused.returncode == 1
    assert "GIFTQ_FERNET_KEYS cannot decrypt" in refused.stderr and "CODE-X" not in refused.stderr


def test_rotation_reports_a_token_no_key_decrypts_rotates_the_rest_and_exits_non_zero(
    rt: Runtime, giftq_env: dict[str, str]
) -> None:
    # Given two orders under key A and one under a key nobody configured
    key_a, key_b = giftq_env["GIFTQ_FERNET_KEYS"], new_key()
    good = [a_fulfilled_order(rt, rt.cipher, f"CODE-{n}") for n in range(2)]
    stranger = a_fulfilled_order(rt, CardCipher([new_key()]), "CODE-LOST")

    # When rotating to [B, A]
    rotated = giftq({**giftq_env, "GIFTQ_FERNET_KEYS": f"{key_b},{key_a}"}, "keys", "rotate")

    # Then it rotated the two, names the third, leaves it as it was and exits non-zero
    assert rotated.returncode == 1
    assert "rotated the cards of 2 orders" in rotated.stdout
    assert stranger in rotated.stderr
    assert all(cards_of(rt, request_id, CardCipher([key_b])) for request_id in good)


def test_a_rotation_never_loses_a_token_written_while_it_ran(rt: Runtime) -> None:
    # Given an order whose cards token is replaced between the rotation's read and its write
    request_id = a_fulfilled_order(rt, rt.cipher, "CODE-OLD")
    newer = rt.cipher.encrypt([{"code": "CODE-NEW"}], rt.store.get(request_id).cards_context)
    seen = []

    def plan(record):  # noqa: ANN001, ANN202 - the vault's plan shape
        seen.append(record.cards_token)
        if len(seen) == 1:  # a concurrent writer gets in after our read
            rt.redis.hset(rt.keys.order(request_id), "cards", newer)
        return lambda pipe: pipe.hset(rt.keys.order(request_id), "cards", rt.cipher.rotate(record.cards_token))

    # When the amendment runs
    rt.store.amend(request_id, plan)

    # Then it ran again on the newer token, so the concurrent write is what got rotated
    assert seen[1] == newer
    assert cards_of(rt, request_id) == [{"code": "CODE-NEW"}]
