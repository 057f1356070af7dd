"""Many callers at once: the sandbox's state and audit stay consistent under concurrency."""

import uuid
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest
import requests

from tests.sandbox_fixtures import BambooClient

pytestmark = pytest.mark.timeout(60)

THREADS = 8
ORDERS = 200
# (client, secret, account, account currency) and (product, value, product currency)
ACCOUNTS = [
    ("giftq-demo", "demo-secret", 555, "USD"),
    ("giftq-demo", "demo-secret", 556, "EUR"),
    ("giftq-demo-2", "demo-secret-2", 655, "USD"),
]
PRODUCTS = [
    (439685, Decimal(10), "EUR"),
    (100001, Decimal(20), "USD"),
    (100002, Decimal(5), "USD"),
    (100003, Decimal(15), "GBP"),
    (100004, Decimal(10), "USD"),
]


def test_eight_threads_placing_200_orders_leave_a_consistent_audit(bamboo_sandbox):
    # Given limits high enough that no call is refused for them
    bamboo_sandbox.configure(spacing_ms=0, product_limit=10_000, get_order_limit=10_000)
    before = balances(bamboo_sandbox)
    plan = [
        (ACCOUNTS[n % len(ACCOUNTS)], PRODUCTS[n % len(PRODUCTS)], 1 + n % 3, str(uuid.uuid4())) for n in range(ORDERS)
    ]
    # When 8 threads place them all at once
    with ThreadPoolExecutor(THREADS) as pool:
        statuses = list(pool.map(lambda order: place(bamboo_sandbox.url, *order), plan))
    # Then every order was accepted and charged exactly once
    assert statuses == [200] * ORDERS
    findings = bamboo_sandbox.findings()
    assert findings["place_order_calls"] == ORDERS and findings["accepted_orders"] == ORDERS
    assert sorted(findings["accepted_request_ids"]) == sorted(order[3] for order in plan)
    assert findings["charged_more_than_once"] == []
    # And each balance went down by exactly the sum of its charges, as the findings report them
    after = balances(bamboo_sandbox)
    for account, entry in findings["charged_per_account"].items():
        assert before[int(account)] - after[int(account)] == Decimal(entry["total"])
    assert {int(a): Decimal(e["total"]) for a, e in findings["charged_per_account"].items()} == expected_totals(plan)
    # And the audit numbers the calls without gaps, in arrival order
    calls = bamboo_sandbox.calls()
    assert [call["seq"] for call in calls] == list(range(1, len(calls) + 1))
    assert sum(call["status"] == 200 and call["request_id"] is not None for call in calls) == ORDERS
    assert [call["at"] for call in calls] == sorted(call["at"] for call in calls)


def place(url: str, account: tuple, product: tuple, quantity: int, request_id: str) -> int:
    client_id, secret, account_id, _ = account
    client = BambooClient(url, client_id, secret)
    line = {"ProductId": product[0], "Quantity": quantity, "Value": int(product[1])}
    return client.place_order([line], account_id=account_id, request_id=request_id, paced=False).status_code


def balances(sandbox) -> dict[int, Decimal]:
    found = {}
    for client_id, secret, _, _ in ACCOUNTS:
        response = requests.get(sandbox.url + "/api/integration/v1.0/accounts", auth=(client_id, secret), timeout=5)
        found |= {a["id"]: a["balance"] for a in response.json(parse_float=Decimal)["accounts"]}
    return found


def expected_totals(plan: list) -> dict[int, Decimal]:
    """Charges computed independently: face value x rate x quantity, rounded to cents per order."""
    usd_value = {"USD": Decimal(1), "EUR": Decimal("1.0851"), "GBP": Decimal("1.27")}
    totals: dict[int, Decimal] = defaultdict(Decimal)
    for (_, _, account_id, account_currency), (_, value, currency), quantity, _ in plan:
        rate = (usd_value[currency] / usd_value[account_currency]).quantize(Decimal("0.000001"))
        totals[account_id] += (value * rate * quantity).quantize(Decimal("0.01"))
    return dict(totals)
