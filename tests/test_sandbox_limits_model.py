"""The limiter that answers 429 and the findings that judge the call log apply the same rules.

Both are written from the docs separately (one decides at each arrival, the other replays the log), so
for any sequence of arrivals a call is refused by the limiter exactly when the findings call it a
violation. In-process, because this compares two pieces of pure logic over thousands of sequences.
"""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sandbox.bamboo.audit import CallRecord, spacing_violations, window_violations
from sandbox.bamboo.limits import Limiter, wait_seconds_text
from sandbox.bamboo.settings import Settings

LIMITS = Settings(spacing_ms=50, product_limit=3, product_window_ms=400)

arrivals = st.lists(
    st.tuples(
        st.sampled_from(["giftq-demo", "giftq-demo-2"]),
        st.lists(st.sampled_from([100001, 100002, 439685]), min_size=1, max_size=3),
        st.integers(min_value=0, max_value=120),  # ms since the previous arrival, any client
    ),
    max_size=40,
)


@settings(max_examples=300, deadline=None)
@given(arrivals)
def test_the_limiter_refuses_exactly_the_arrivals_the_findings_call_violations(sequence):
    limiter, records, refused, at = Limiter(), [], set(), 1_800_000_000.0
    for seq, (client, product_ids, gap_ms) in enumerate(sequence, start=1):
        at += gap_ms / 1000
        products = [{"ProductId": product_id, "Quantity": 1, "Value": 10} for product_id in product_ids]
        records.append(CallRecord(seq, at, client, "POST", "/checkout", "place_order", products=products))
        if limiter.admit_place_order(client, product_ids, at, LIMITS) > 0:
            refused.add((client, at))
    violations = spacing_violations(records, LIMITS.spacing_ms) + window_violations(
        records, LIMITS.product_limit, LIMITS.product_window_ms
    )
    assert {(v["client"], v["at"]) for v in violations} == refused


@pytest.mark.parametrize(("wait_s", "text_seconds"), [(0.001, 1), (1.0, 1), (1.2, 2), (59.9, 60)])
def test_the_429_text_rounds_the_wait_up_to_whole_seconds_and_at_least_one(wait_s, text_seconds):
    assert wait_seconds_text(wait_s) == f"Too many requests. Please wait for {text_seconds} seconds."
