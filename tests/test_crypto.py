"""Card data encryption: MultiFernet, clear errors for missing or wrong keys."""

from __future__ import annotations

import pytest

from worker.orders.crypto import CardCipher, CipherError, new_key
from worker.providers.base import Card


def test_cards_round_trip_and_the_token_shows_no_code() -> None:
    cipher = CardCipher([new_key()])
    token = cipher.encrypt([{"code": "CODE-1234-5678", "pin": "9876"}])
    assert "CODE-1234" not in token and "9876" not in token
    assert cipher.decrypt(token) == [{"code": "CODE-1234-5678", "pin": "9876"}]


def test_a_token_written_under_an_old_key_decrypts_and_rotates_to_the_new_one() -> None:
    old, new = new_key(), new_key()
    token = CardCipher([old]).encrypt({"code": "X"})
    rotated = CardCipher([new, old]).rotate(token)
    assert CardCipher([new]).decrypt(rotated) == {"code": "X"}


def test_no_key_is_a_clear_error() -> None:
    with pytest.raises(CipherError, match="GIFTQ_FERNET_KEYS"):
        CardCipher([])


def test_a_malformed_key_is_a_clear_error() -> None:
    with pytest.raises(CipherError, match="not a valid Fernet key"):
        CardCipher(["not-a-key"])


def test_a_token_under_an_unknown_key_is_an_error_without_the_data() -> None:
    token = CardCipher([new_key()]).encrypt({"code": "SECRET-CODE"})
    with pytest.raises(CipherError) as error:
        CardCipher([new_key()]).decrypt(token)
    assert "SECRET-CODE" not in str(error.value)


def test_a_card_repr_never_shows_its_code_or_pin() -> None:
    card = Card(product_id=1, serial_number="S1", status="Sold", code="CODE-SECRET", pin="PIN-SECRET")
    assert "CODE-SECRET" not in repr(card) and "PIN-SECRET" not in repr(card)
