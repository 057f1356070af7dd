"""The judge itself, on hand-made logs: each rule broken by 1 ms is caught; met exactly, it passes.

The rules are Bamboo's as its Place Order page states them; the logs are lists of arrivals, so these tests say
what the judge counts (every authenticated arrival, per client) without any giftq code in the way.
"""

from __future__ import annotations

import pytest

from sandbox.judge import (
    CARDS,
    GET_ORDER,
    GET_WINDOW,
    PLACE_ORDER,
    PRODUCT_WINDOW,
    SPACING,
    Call,
    Rules,
    calls_from_log,
    judge,
    lower_bound_ms,
)

BAMBOO = Rules()
T0 = 1_700_000_000_000.0  # a unix time in ms, as large as the sandbox's


def place(at: float, *products: int, client: str = "c", status: int = 200, cards: int = 1, **more) -> Call:
    return Call(client, PLACE_ORDER, T0 + at, f"r{at:g}", products or (1,), cards, status, **more)


def get(at: float, client: str = "c") -> Call:
    return Call(client, GET_ORDER, T0 + at, "r", status=200)


@pytest.mark.parametrize(("gap_ms", "broken"), [(500, False), (499, True), (499.999, True), (0, True)])
def test_two_place_orders_closer_than_the_spacing_break_it_by_what_they_miss(gap_ms: float, broken: bool) -> None:
    report = judge([place(0, 1), place(gap_ms, 2)], BAMBOO)
    assert report.count(SPACING) == int(broken)
    if broken:
        (violation,) = report.violations
        assert violation.by == pytest.approx(500 - gap_ms, abs=1e-3)
        assert [call.at_ms - T0 for call in violation.calls] == pytest.approx([0, gap_ms], abs=1e-3)


def test_arrivals_are_judged_in_time_order_whatever_order_the_log_lists_them_in() -> None:
    assert judge([place(1000, 1), place(0, 2), place(500, 3)], BAMBOO).count(SPACING) == 0
    assert judge([place(1000, 1), place(0, 2), place(501, 3)], BAMBOO).count(SPACING) == 1


@pytest.mark.parametrize(("span_ms", "broken"), [(60_000, False), (59_999, True)])
def test_seven_orders_of_one_product_within_a_minute_break_the_product_window(span_ms: float, broken: bool) -> None:
    # Given 7 orders of product 9, 1 s apart but the 7th, at span_ms after the first; other products between
    times = [0, 1000, 2000, 3000, 4000, 5000, span_ms]
    calls = [place(at, 9) for at in times] + [place(at + 500, 100 + i) for i, at in enumerate(times[:-1])]
    report = judge(calls, BAMBOO)
    assert report.count(PRODUCT_WINDOW) == int(broken) and report.count(SPACING) == 0
    if broken:
        (violation,) = report.violations
        assert violation.product_id == 9 and violation.by == pytest.approx(1) and len(violation.calls) == 7


def test_an_order_counts_in_the_window_of_every_product_it_contains() -> None:
    # Given 7 orders a second apart, each with product 9 among others: 9 is over its limit, the others are not
    calls = [place(i * 1000, 9, 200 + i % 2) for i in range(7)]
    report = judge(calls, BAMBOO)
    assert {violation.product_id for violation in report.violations} == {9}


@pytest.mark.parametrize(("span_ms", "broken"), [(60_000, False), (59_999, True)])
def test_121_get_orders_within_a_minute_break_the_get_order_limit(span_ms: float, broken: bool) -> None:
    calls = [get(i * 400) for i in range(120)] + [get(span_ms)]
    report = judge(calls, BAMBOO)
    assert report.count(GET_WINDOW) == int(broken) and report.get_orders == 121


def test_an_order_of_more_than_500_cards_breaks_the_card_limit() -> None:
    report = judge([place(0, cards=500), place(600, cards=501)], BAMBOO)
    assert [(violation.rule, violation.by) for violation in report.violations] == [(CARDS, 1)]


def test_every_arrival_counts_whatever_it_was_answered_and_clients_are_judged_apart() -> None:
    # Given a call refused with 429 right before an accepted one, and a second client at the same moment
    calls = [place(0, status=429), place(300), place(300, client="other"), place(0, client="other", status=None)]
    report = judge(calls, BAMBOO)
    assert sorted(violation.client for violation in report.violations) == ["c", "other"]


def test_with_end_to_start_spacing_the_gap_counts_from_the_previous_calls_answer() -> None:
    rules = Rules(end_to_start=True)
    assert judge([place(0, ended_ms=T0 + 800), place(1300)], rules).ok
    (violation,) = judge([place(0, ended_ms=T0 + 800), place(1299)], rules).violations
    assert violation.rule == SPACING and violation.by == pytest.approx(1)


def test_the_lower_bound_is_the_spacing_or_the_hot_products_windows_whichever_is_longer() -> None:
    assert lower_bound_ms(10, [5, 5], BAMBOO) == 9 * 500
    assert lower_bound_ms(13, [13], BAMBOO) == 2 * 60_000
    assert lower_bound_ms(1, [1], BAMBOO) == 0


def test_efficiency_is_the_lower_bound_over_the_span_of_accepted_orders_worst_client_first() -> None:
    # Given client c placing 3 orders 500 ms apart (as fast as allowed) plus a refused call, and d taking twice that
    calls = [place(0), place(500), place(1000), place(1500, status=400)]
    calls += [place(0, client="d"), place(1000, client="d"), place(2000, client="d")]
    report = judge(calls, BAMBOO)
    efficiency = {schedule.client: schedule.efficiency for schedule in report.schedules}
    assert efficiency == {"c": 1.0, "d": 0.5} and report.efficiency == 0.5


def test_widened_rules_add_the_margin_to_the_spacing_and_every_window() -> None:
    wide = Rules(spacing_ms=100, product_window_ms=1000, get_window_ms=2000).widened(5)
    assert (wide.spacing_ms, wide.product_window_ms, wide.get_window_ms) == (105, 1005, 2005)


def test_a_sandbox_call_log_is_read_as_authenticated_place_and_get_order_arrivals() -> None:
    # Given the log's own shape: unix seconds, products as sent, an unauthenticated call and a catalog call
    lines = [{"ProductId": 9, "Quantity": 2, "Value": 10}, {"ProductId": 7, "Quantity": 3, "Value": 5}]
    entry = {"seq": 1, "at": 1_700_000_000.25, "client": "c", "method": "POST", "endpoint": PLACE_ORDER,
             "path": "/api/integration/v1.0/orders/checkout", "request_id": "r1", "products": lines, "status": 200,
             "reason": None}  # fmt: skip
    others = [entry | {"seq": 2, "client": None}, entry | {"seq": 3, "endpoint": "catalog", "products": None}]
    (call,) = calls_from_log([entry, *others])
    assert (call.at_ms, call.products, call.cards, call.seq) == (1_700_000_000_250.0, (9, 7), 5, 1)


def test_the_rules_of_a_sandbox_come_from_its_config() -> None:
    config = {"spacing_ms": 100, "product_limit": 6, "product_window_ms": 3000, "get_order_limit": 120,
              "get_order_window_ms": 3000, "fulfil_delay_ms": 200}  # fmt: skip
    assert Rules.of_sandbox(config) == Rules(spacing_ms=100, product_window_ms=3000, get_window_ms=3000)
