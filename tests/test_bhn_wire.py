"""Reading BHN's order answers: what giftq would wrongly finish an order on is refused as an unexpected shape."""

from __future__ import annotations

import pytest

from worker.errors import ProviderError
from worker.providers.base import SUCCEEDED
from worker.providers.bhn_wire import parse_order

RID = "0b6f3a2e-6c1d-4f0e-9a57-3c8e2d41b7aa"


def answer(**line: object) -> dict:
    item = {"id": "L1", "product_id": "PRD-1", "quantity": 2, "status": "COMPLETED", "egift_url": "https://e/1"}
    return {"id": "O1", "external_id": RID, "status": "COMPLETED", "order_items": [{**item, **line}]}


def test_a_completed_order_is_one_card_per_line_standing_for_its_quantity() -> None:
    order = parse_order(RID, answer())
    assert order.status == SUCCEEDED
    (card,) = order.cards
    assert (card.egift_url, card.quantity, card.issued) == ("https://e/1", 2, True)


@pytest.mark.parametrize(
    "body",
    [
        answer(egift_url=""),  # completed, but no e-gift to hand over
        answer(egift_url=None),
        answer(quantity="2"),
        answer(quantity=2.9),
        answer(quantity=True),
        answer(quantity=0),
        {**answer(), "external_id": "another-order"},
        {**answer(), "status": "X" * 10_000},
    ],
    ids=[
        "no url",
        "null url",
        "quantity text",
        "quantity fraction",
        "quantity bool",
        "quantity 0",
        "another external_id",
        "unknown status",
    ],  # fmt: skip
)
def test_an_answer_giftq_could_not_hand_over_truly_is_refused_and_short(body: dict) -> None:
    with pytest.raises(ProviderError) as refused:
        parse_order(RID, body)
    assert len(str(refused.value)) < 200
