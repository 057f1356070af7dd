"""The "charged once" audit on ledgers made by hand: it sees each way money can go wrong, and passes a clean run."""

from __future__ import annotations

import uuid

from sandbox.ledger_audit import ProducerOrder, audit_ledger


def a_charge(request_id: str, cards: list[tuple[str, str, str]], *, ordered: int | None = None,
             client: str = "giftq-demo") -> dict:  # fmt: skip
    """A ledger entry as `GET /_sandbox/ledger` gives it, for `ordered` cards (all issued unless fewer are given)."""
    return {
        "client": client,
        "requestId": request_id,
        "cardsCharged": len(cards) if ordered is None else ordered,
        "issuedCards": [{"id": n, "serialNumber": s, "cardCode": c, "pin": p} for n, (s, c, p) in enumerate(cards)],
    }


def cards(n: int, tag: str = "A") -> list[tuple[str, str, str]]:
    return [(f"SN-{tag}{i}", f"CODE-{tag}{i}", f"{i:06d}") for i in range(n)]


def fulfilled(request_id: str, held: list[tuple[str, str, str]], ordered: int | None = None) -> ProducerOrder:
    return ProducerOrder(request_id, len(held) if ordered is None else ordered, "fulfilled", cards=frozenset(held))


def test_orders_each_charged_once_for_the_cards_they_hold_are_clean() -> None:
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    audit = audit_ledger([a_charge(first, cards(2)), a_charge(second, cards(1, "B"))],
                         {first: fulfilled(first, cards(2)), second: fulfilled(second, cards(1, "B"))})  # fmt: skip
    assert audit.clean and audit.extra_charges == 0
    assert audit.charges_per_order == {first: 1, second: 1}
    assert (audit.cards_charged, audit.cards_ordered, audit.cards_checked) == (3, 3, 2)
    assert dict(audit.rows())["orders holding the cards the provider issued"] == "2 / 2"


def test_a_request_id_accepted_twice_is_an_order_charged_twice_whose_cards_are_not_all_it_paid_for() -> None:
    request_id = str(uuid.uuid4())
    ledger = [a_charge(request_id, cards(1)), a_charge(request_id, cards(1, "B"))]
    audit = audit_ledger(ledger, {request_id: fulfilled(request_id, cards(1, "B"))})
    assert not audit.clean
    assert audit.charged_twice == (request_id,) and audit.extra_charges == 1
    assert audit.card_count_mismatches == (request_id,)  # 2 cards charged, 1 ordered
    assert audit.card_mismatches == (request_id,)
    assert dict(audit.rows())["orders charged twice"] == "1"


def test_a_charge_under_a_request_id_of_no_order_is_a_stray_unless_the_ledger_is_shared() -> None:
    ours, stray = str(uuid.uuid4()), str(uuid.uuid4())
    ledger = [a_charge(ours, cards(1)), a_charge(stray, cards(1, "B"))]
    orders = {ours: fulfilled(ours, cards(1))}
    assert audit_ledger(ledger, orders).stray_charges == (stray,)
    assert audit_ledger(ledger, orders).extra_charges == 1
    assert audit_ledger(ledger, orders, count_strays=False).clean


def test_an_order_holding_other_cards_than_the_provider_issued_is_a_card_mismatch() -> None:
    request_id = str(uuid.uuid4())
    swapped_pin = [(cards(1)[0][0], cards(1)[0][1], "999999")]
    audit = audit_ledger([a_charge(request_id, cards(1))], {request_id: fulfilled(request_id, swapped_pin)})
    assert audit.card_mismatches == (request_id,) and not audit.clean
    assert audit.extra_charges == 0


def test_a_rejected_order_that_was_charged_and_a_charge_for_fewer_cards_are_both_found() -> None:
    rejected, short = str(uuid.uuid4()), str(uuid.uuid4())
    orders = {
        rejected: ProducerOrder(rejected, 1, "rejected"),
        short: ProducerOrder(short, 3, "placed"),  # not final: cards not compared
    }
    audit = audit_ledger([a_charge(rejected, cards(1)), a_charge(short, cards(2, "B"))], orders)
    assert audit.charged_but_rejected == (rejected,)
    assert audit.card_count_mismatches == (short,)
    assert audit.cards_checked == 0 and not audit.clean


def test_an_uncharged_rejected_order_is_clean_and_a_charge_of_another_client_is_not_its_own() -> None:
    request_id = str(uuid.uuid4())
    orders = {request_id: ProducerOrder(request_id, 1, "rejected", credential="giftq-demo-2")}
    audit = audit_ledger([a_charge(request_id, cards(1), client="giftq-demo")], orders)
    assert audit.charges_per_order == {request_id: 0}
    assert audit.stray_charges == (request_id,)
    assert audit_ledger([], orders).clean


def packed(pack_id: str, held: list[tuple[str, str, str]], ordered: int | None = None) -> ProducerOrder:
    """A producer order that rode in the provider order `pack_id` with others (coalescing)."""
    return ProducerOrder(pack_id, len(held) if ordered is None else ordered, "fulfilled", cards=frozenset(held))


def test_orders_packed_into_one_provider_order_are_clean_when_they_hold_its_cards_between_them() -> None:
    pack, first, second = str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4())
    issued = cards(3)
    audit = audit_ledger([a_charge(pack, issued)], {first: packed(pack, issued[:2]), second: packed(pack, issued[2:])})
    assert audit.clean
    assert audit.charges_per_order == {first: 1, second: 1}
    assert (audit.cards_charged, audit.cards_ordered, audit.cards_checked) == (3, 3, 2)


def test_a_card_of_a_pack_held_twice_or_by_nobody_and_cards_charged_beyond_the_members_are_caught() -> None:
    pack, first, second = str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4())
    issued = cards(3)
    twice = audit_ledger(
        [a_charge(pack, issued)], {first: packed(pack, issued[:2], 1), second: packed(pack, issued[1:], 2)}
    )
    assert twice.card_mismatches == (first, second)
    nobody = audit_ledger(
        [a_charge(pack, issued)], {first: packed(pack, issued[:1]), second: packed(pack, issued[1:2])}
    )
    assert nobody.card_count_mismatches == (first, second)  # 3 cards charged for 2 ordered between them
    assert nobody.card_mismatches == (first, second)  # the third card is held by no member
    assert not twice.clean and not nobody.clean
