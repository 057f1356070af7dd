"""`giftq top --once` as an operator runs it: one frame of each credential's schedule and the orders by state."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

from worker.runtime import Runtime


def test_top_shows_the_parked_orders_by_product_the_hold_and_the_orders_by_state(
    giftq_env: dict[str, str], rt: Runtime
) -> None:
    # Given three orders parked for the demo credential while it is on hold for 5 s (a 429), two of one product
    limits = rt.limits("giftq-demo")
    rt.throttle.hold("giftq-demo", 5000)
    for index, product in enumerate((100001, 100001, 100002)):
        request_id = str(uuid.uuid4())
        rt.store.create(request_id, {"RequestId": request_id}, credential="giftq-demo", provider_request_id=request_id)
        rt.throttle.park_and_schedule("giftq-demo", limits, request_id=request_id, age_ms=index, product_ids=[product],
                                      cards=1)  # fmt: skip

    # When an operator looks
    env = {**os.environ, **giftq_env, "COLUMNS": "160"}
    shown = subprocess.run([sys.executable, "-m", "worker.cli", "top", "--once"], env=env, capture_output=True,
                           text=True, timeout=60)  # fmt: skip

    # Then the credential's row shows 3 parked, by product, none reserved, none started, the hold; and 3 accepted
    assert shown.returncode == 0, shown.stderr
    (row,) = [line for line in shown.stdout.splitlines() if "giftq-demo" in line]
    cells = [cell.strip() for cell in row.split("│")[1:-1]]
    assert cells[:4] == ["giftq-demo", "3", "100001: 2, 100002: 1", "0"]
    assert cells[4] == f"0 / {60_000 // (limits.spacing_ms + limits.margin_ms)}"
    assert cells[5].endswith(" s") and 0 < float(cells[5][:-2]) <= 5
    states_header, counts = [line for line in shown.stdout.splitlines() if "accepted" in line or "│" in line][-2:]
    assert "accepted" in states_header and counts.split("│")[1].strip() == "3"
