"""The drain benchmark's backlog: orders over 20 of the sandbox's products, Zipf-skewed, on two credentials.

Drawn from a fixed seed, so every strategy gets the same orders in the same submit order.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass

# client id -> (secret, USD account it charges): the sandbox's seed credentials.
CREDENTIALS = {"giftq-demo": ("demo-secret", 555), "giftq-demo-2": ("demo-secret-2", 655)}
# 20 of the sandbox seed's orderable products, hottest first, with a face value inside each one's range.
PRODUCT_VALUES = {100002: "50", 439685: "10", 100001: "25", 100004: "30", 100003: "20"} | {
    product_id: "25" for product_id in range(100010, 100025)
}


@dataclass(frozen=True)
class BenchOrder:
    """One backlog order: a single-card order of one product, charged to its credential's account."""

    request_id: str
    credential: str
    account_id: int
    product_id: int

    @property
    def products(self) -> list[dict]:
        """The order's Products lines, in Bamboo's Place Order shape."""
        return [{"ProductId": self.product_id, "Quantity": 1, "Value": PRODUCT_VALUES[self.product_id]}]

    def as_request(self) -> dict:
        """The producer's order, as `giftq.submit_order` takes it."""
        return {"RequestId": self.request_id, "AccountId": self.account_id, "Products": self.products}


def make_backlog(size: int, *, seed: int, zipf_s: float) -> list[BenchOrder]:
    """`size` orders: product rank r drawn with weight 1 / r**zipf_s, credential drawn evenly."""
    rng = random.Random(seed)
    products = list(PRODUCT_VALUES)
    weights = [1 / rank**zipf_s for rank in range(1, len(products) + 1)]
    orders = []
    for _ in range(size):
        credential = rng.choice(sorted(CREDENTIALS))
        product_id = rng.choices(products, weights)[0]
        request_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        orders.append(BenchOrder(request_id, credential, CREDENTIALS[credential][1], product_id))
    return orders


# The BHN sandbox's seed credential and three of its e-gift products (USD), with a face value inside each range.
BHN_CREDENTIAL = ("giftq-bhn-demo", "bhn-demo-secret")
BHN_PRODUCT_VALUES = {"PRD-7Q2K-AMZN-US": "25.00", "PRD-3H8D-TRGT-US": "50.00", "PRD-9X4M-STBX-US": "10.00"}


def make_bhn_backlog(size: int, *, seed: int) -> list[dict]:
    """`size` one-card BHN orders (`"Provider": "bhn"`), products drawn evenly, as `giftq.submit_order` takes them."""
    rng = random.Random(seed)
    orders = []
    for _ in range(size):
        product_id = rng.choice(sorted(BHN_PRODUCT_VALUES))
        orders.append({
            "Provider": "bhn",
            "RequestId": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "Products": [{"ProductId": product_id, "Quantity": 1, "Value": BHN_PRODUCT_VALUES[product_id],
                          "Currency": "USD"}],
            "Sender": {"Email": "orders@shop.example"},
            "Recipient": {"Email": "friend@example.com"},
        })  # fmt: skip
    return orders
