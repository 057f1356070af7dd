"""Coalescing over the real stack when Bamboo refuses a pack: it is split, and nothing refused is charged.

Each refusal is one the sandbox makes as Bamboo states it: a stored client price that no longer follows the
exchange rate (ClientPriceInvalid, product 100007), an account whose balance cannot pay (InsufficientBalance, the
USD 25.00 of account 656). The ledger audit (worker/cli/money_audit.py) checks every charge against the orders.
"""

from __future__ import annotations

from collections import Counter

import pytest
from celery import Celery

from tests.coalescing import an_order, park_behind_the_first
from tests.conftest import environment_for
from tests.waiting import final_state, wait_for
from worker.cli.money_audit import audit_money
from worker.cli.processes import Sandbox
from worker.orders import states
from worker.runtime import Runtime

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def giftq_env(redis_url: str, key_prefix: str, own_sandbox: Sandbox) -> dict[str, str]:
    """Coalescing on, on a sandbox of the test's own (its account 656 holds USD 25.00 no other test spends)."""
    return environment_for(redis_url, key_prefix, own_sandbox) | {
        "GIFTQ_BAMBOO_COALESCE": "1",
        "GIFTQ_BAMBOO_EXTRA_CLIENTS": "giftq-demo-2:demo-secret-2",
        "GIFTQ_BAMBOO_ACCOUNT_CLIENTS": "655=giftq-demo-2,656=giftq-demo-2",
    }


def test_a_pack_refused_for_one_members_line_is_split_until_that_member_is_refused_alone(
    giftq_env: dict, rt: Runtime, producer: Celery, own_sandbox: Sandbox, start_workers
) -> None:
    # Given a pack of four orders, one of them of a product whose stored price Bamboo refuses (ClientPriceInvalid:
    # nothing in giftq's catalog says which line it is)
    first = an_order([(100001, "25", 1)])
    bad = an_order([(100007, "20", 1)])
    members = [an_order([(100001, "25", 1)]), bad, an_order([(100001, "25", 2)]), an_order([(100002, "50", 1)])]
    park_behind_the_first(rt, producer, start_workers, [first, *members])

    # When workers that place orders start
    start_workers(1)

    # Then the pack is split in halves until the refused order goes alone: it alone is rejected, with the reason;
    # every other order is fulfilled; nothing refused was charged, nothing twice
    request_ids = [order["RequestId"] for order in (first, *members)]
    wait_for(lambda: all(final_state(rt, rid) for rid in request_ids), timeout_s=60, what="final orders")
    assert {rid: final_state(rt, rid) for rid in request_ids} == {
        rid: states.REJECTED if rid == bad["RequestId"] else states.FULFILLED for rid in request_ids
    }
    assert rt.store.get(bad["RequestId"]).reason == "ClientPriceInvalid"
    money = audit_money(rt, own_sandbox.url, request_ids)
    assert money.clean, money
    assert money.charges_per_order == {rid: 0 if rid == bad["RequestId"] else 1 for rid in request_ids}
    refused = [call for call in own_sandbox.admin("GET", "calls")["calls"]
               if call["endpoint"] == "place_order" and call["status"] == 400]  # fmt: skip
    assert len(refused) == 3, "the pack of 4, the half holding the refused order, that order alone"


def test_a_pack_its_account_cannot_pay_for_is_halved_until_what_the_balance_allows_is_fulfilled(
    giftq_env: dict, rt: Runtime, producer: Celery, own_sandbox: Sandbox, start_workers
) -> None:
    # Given three USD 10 orders packed for account 656, which holds USD 25.00 (InsufficientBalance for the pack)
    first = an_order([(100001, "10", 1)], account_id=655)
    members = [an_order([(100001, "10", 1)], account_id=656) for _ in range(3)]
    park_behind_the_first(rt, producer, start_workers, [first, *members], credential="giftq-demo-2")

    # When workers that place orders start
    start_workers(1)

    # Then the pack is split until each part is paid or refused alone: two fulfilled, one rejected with the reason,
    # and the account charged USD 20 for exactly those two
    request_ids = [order["RequestId"] for order in members]
    wait_for(lambda: all(final_state(rt, rid) for rid in request_ids), timeout_s=60, what="final orders")
    outcome = Counter(final_state(rt, rid) for rid in request_ids)
    assert outcome == {states.FULFILLED: 2, states.REJECTED: 1}
    rejected = [rid for rid in request_ids if final_state(rt, rid) == states.REJECTED]
    assert rt.store.get(rejected[0]).reason == "InsufficientBalance"
    money = audit_money(rt, own_sandbox.url, request_ids, count_strays=False)
    assert money.clean, money
    assert money.cards_charged == 2 and sorted(money.charges_per_order.values()) == [0, 1, 1]
