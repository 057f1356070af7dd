"""A small chaos run in the suite: worker kills, a Redis restart and provider faults; nothing paid twice or lost.

It prints the run's figures (`pytest -s` shows them), the money audit among them."""

from __future__ import annotations

import pytest

from bench.chaos import run_chaos


@pytest.mark.timeout(240)
def test_under_kills_restarts_and_faults_no_order_is_charged_twice_lost_or_over_a_limit() -> None:
    # (kills every 2 s: coalescing drains the 40 orders in about 10 s)
    result = run_chaos(40, workers=3, kill_every_s=2.0, redis_restarts=1, fault_probability=0.04, deadline_s=150)
    print("\n".join(result.report()))
    assert result.kills >= 2 and result.redis_restarts == 1
    assert result.charged_twice == 0
    # Counted from the sandbox's ledger: one charge per order, for its cards, and each order holds the cards issued
    money = result.money
    assert money.clean, money.rows()
    assert money.charges_per_order == dict.fromkeys(money.charges_per_order, 1) and len(money.charges_per_order) == 40
    assert money.cards_checked == 40 and money.cards_charged == money.cards_ordered
    # The sandbox fails no order here: every order ends fulfilled (rejected, failed or needs_attention is lost)
    assert result.lost == 0, result.by_state
    assert result.by_state == {"fulfilled": 40}
    assert result.violations == 0
    assert sum(result.by_state.values()) == 40
