"""The seeded world of the BHN sandbox: its clients (OAuth2 client credentials) and its catalog."""

from dataclasses import dataclass
from decimal import Decimal

EGIFT, PHYSICAL = "EGIFT", "PHYSICAL"


@dataclass(frozen=True)
class Client:
    """An OAuth2 client of the identity endpoint."""

    client_id: str
    secret: str


@dataclass(frozen=True)
class Product:
    """A catalog product; ``product_id`` is opaque, as BHN's are."""

    product_id: str
    name: str
    currency: str
    min_value: Decimal
    max_value: Decimal
    type: str = EGIFT

    def as_json(self) -> dict[str, str]:
        """Return the product as ``GET /v1/catalogs/default`` lists it."""
        return {
            "productId": self.product_id,
            "name": self.name,
            "currency": self.currency,
            "minValue": f"{self.min_value:.2f}",
            "maxValue": f"{self.max_value:.2f}",
            "type": self.type,
        }


CLIENTS = (
    Client("giftq-bhn-demo", "bhn-demo-secret"),
    Client("giftq-bhn-demo-2", "bhn-demo-secret-2"),
)
CLIENTS_BY_ID = {client.client_id: client for client in CLIENTS}

PRODUCTS = (
    Product("PRD-7Q2K-AMZN-US", "Amazon.com eGift", "USD", Decimal("5.00"), Decimal("500.00")),
    Product("PRD-3H8D-TRGT-US", "Target eGift", "USD", Decimal("5.00"), Decimal("500.00")),
    Product("PRD-9X4M-STBX-US", "Starbucks eGift", "USD", Decimal("5.00"), Decimal("100.00")),
    Product("PRD-5C1T-TIMS-CA", "Tim Hortons eGift", "CAD", Decimal("5.00"), Decimal("500.00")),
    Product("PRD-2V6P-VISA-US", "Visa Prepaid (plastic)", "USD", Decimal("20.00"), Decimal("500.00"), PHYSICAL),
)
PRODUCTS_BY_ID = {product.product_id: product for product in PRODUCTS}
