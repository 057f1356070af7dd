"""A small chaos run in the suite: worker kills, a Redis restart and provider faults; nothing paid twice or lost."""

from __future__ import annotations

import pytest

from bench.chaos import run_chaos


@pytest.mark.timeout(240)
def test_under_kills_restarts_and_faults_no_order_is_charged_twice_lost_or_over_a_limit() -> None:
    result = run_chaos(40, workers=3, kill_every_s=5.0, redis_restarts=1, fault_probability=0.04, deadline_s=150)
    assert result.kills >= 2 and result.redis_restarts == 1
    assert result.charged_twice == 0
    assert result.lost == 0, result.by_state
    assert result.violations == 0
    assert sum(result.by_state.values()) == 40
