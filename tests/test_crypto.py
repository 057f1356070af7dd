"""Card data encryption: MultiFernet, clear errors for missing or wrong keys."""

from __future__ import annotations

import pytest

from worker.orders.crypto import CardCipher, CipherError, new_key
from worker.providers.base import Card

ORDER = {"request_id": "9b2f3c4d-0000-4000-8000-000000000001", "producer": "shop"}


def test_cards_round_trip_and_the_token_shows_no_code() -> None:
    cipher = CardCipher([new_key()])
    token = cipher.encrypt([{"code": "CODE-1234-5678", "pin": "9876"}], ORDER)
    assert "CODE-1234" not in token and "9876" not in token
    assert cipher.decrypt(token, ORDER) == [{"code": "CODE-1234-5678", "pin": "9876"}]


def test_a_token_written_under_an_old_key_decrypts_and_rotates_to_the_new_one() -> None:
    old, new = new_key(), new_key()
    token = CardCipher([old]).encrypt({"code": "X"}, ORDER)
    rotated = CardCipher([new, old]).rotate(token)
    assert CardCipher([new]).decrypt(rotated, ORDER) == {"code": "X"}


@pytest.mark.parametrize(
    "elsewhere",
    [{**ORDER, "request_id": "9b2f3c4d-0000-4000-8000-000000000002"}, {**ORDER, "producer": "evil"}, {}],
    ids=["another order", "another producer", "no context"],
)
def test_a_token_moved_to_another_order_or_producer_does_not_decrypt(elsewhere: dict) -> None:
    # Given cards encrypted for one order of one producer
    cipher = CardCipher([new_key()])
    token = cipher.encrypt([{"code": "CODE-1234-5678", "pin": "9876"}], ORDER)
    # When they are decrypted for any other order or producer, Then they are refused, showing no data
    with pytest.raises(CipherError, match="another order or producer") as error:
        cipher.decrypt(token, elsewhere)
    assert "CODE-1234" not in str(error.value)


def test_a_rotated_token_stays_bound_to_its_order() -> None:
    old, new = new_key(), new_key()
    rotated = CardCipher([new, old]).rotate(CardCipher([old]).encrypt({"code": "X"}, ORDER))
    with pytest.raises(CipherError):
        CardCipher([new]).decrypt(rotated, {**ORDER, "producer": "evil"})


def test_no_key_is_a_clear_error() -> None:
    with pytest.raises(CipherError, match="GIFTQ_FERNET_KEYS"):
        CardCipher([])


def test_a_malformed_key_is_a_clear_error() -> None:
    with pytest.raises(CipherError, match="not a valid Fernet key"):
        CardCipher(["not-a-key"])


def test_a_token_under_an_unknown_key_is_an_error_without_the_data() -> None:
    token = CardCipher([new_key()]).encrypt({"code": "SECRET-CODE"}, ORDER)
    with pytest.raises(CipherError) as error:
        CardCipher([new_key()]).decrypt(token, ORDER)
    assert "SECRET-CODE" not in str(error.value)


def test_a_card_repr_never_shows_its_code_or_pin() -> None:
    card = Card(product_id=1, serial_number="S1", status="Sold", code="CODE-SECRET", pin="PIN-SECRET")
    assert "CODE-SECRET" not in repr(card) and "PIN-SECRET" not in repr(card)
