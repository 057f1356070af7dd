"""The seeded world of the Bamboo sandbox: clients, their accounts, the catalog and exchange rates.

The values are part of the sandbox's interface (giftq's tests and demo rely on them); they are listed
in ``sandbox/README.md`` too. Two products exist only to make a reason code reachable by a real condition:
100006 has a broken configuration (its face-value range is inverted: InvalidProduct) and 100007 carries a
stale client price (priced at an old rate: ClientPriceInvalid).
"""

from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True)
class Account:
    """A Bamboo account: money in one currency, active or not, in the sandbox or the live environment."""

    id: int
    currency: str
    balance: Decimal
    is_active: bool = True
    sandbox_mode: bool = True


@dataclass(frozen=True)
class Client:
    """An API credential (Basic auth) with the flags Place Order checks and the accounts it owns."""

    client_id: str
    secret: str
    enabled: bool
    has_catalog: bool
    accounts: tuple[Account, ...]


@dataclass(frozen=True)
class Product:
    """A catalog product; ``count`` None means unlimited stock, 0 out of stock.

    ``stored_price_rate`` is the settlement rate recorded in the client's price list for this product;
    None means the price follows the current exchange rate. A stored rate that differs from the current
    one is a stale client price.
    """

    id: int
    name: str
    brand_id: int
    country_code: str
    currency: str
    min_face_value: Decimal
    max_face_value: Decimal
    count: int | None = None
    stored_price_rate: Decimal | None = None
    modified_date: str = "2026-01-15T10:00:00Z"


MILLION = Decimal("1000000.00")

CLIENTS: tuple[Client, ...] = (
    Client(
        "giftq-demo",
        "demo-secret",
        enabled=True,
        has_catalog=True,
        accounts=(
            Account(555, "USD", MILLION),
            Account(556, "EUR", MILLION),
            Account(557, "USD", MILLION, is_active=False),
            Account(9555, "USD", MILLION, sandbox_mode=False),
        ),
    ),
    Client(
        "giftq-demo-2",
        "demo-secret-2",
        enabled=True,
        has_catalog=True,
        accounts=(Account(655, "USD", MILLION), Account(656, "USD", Decimal("25.00"))),
    ),
    Client(
        "giftq-disabled", "disabled-secret", enabled=False, has_catalog=True, accounts=(Account(755, "USD", MILLION),)
    ),
    Client(
        "giftq-nocatalog", "nocatalog-secret", enabled=True, has_catalog=False, accounts=(Account(855, "USD", MILLION),)
    ),
)

PLAIN_BRANDS = ("Target", "Walmart", "Uber", "DoorDash", "Starbucks", "Best Buy", "Home Depot", "Sephora", "Nike",
                "Airbnb", "Lowe's", "Macy's", "Chipotle", "Domino's", "Hulu")  # fmt: skip

PRODUCTS: tuple[Product, ...] = (
    Product(439685, "Amazon.de", 1, "DE", "EUR", Decimal(5), Decimal(500)),
    Product(100001, "Steam US", 2, "US", "USD", Decimal(10), Decimal(100)),
    Product(100002, "Apple US", 3, "US", "USD", Decimal(5), Decimal(200)),
    Product(100003, "Netflix UK", 4, "GB", "GBP", Decimal(15), Decimal(50)),
    Product(100004, "Spotify US", 5, "US", "USD", Decimal(10), Decimal(60)),
    Product(100005, "Xbox US", 6, "US", "USD", Decimal(5), Decimal(100), count=0),
    Product(100006, "Google Play US", 7, "US", "USD", Decimal(50), Decimal(20)),
    Product(100007, "PlayStation US", 8, "US", "USD", Decimal(10), Decimal(100), stored_price_rate=Decimal("0.95")),
    # Plain USD products (5..500, unlimited stock), so a backlog can spread over 20 orderable products.
    *(
        Product(100010 + index, f"{name} US", 9 + index, "US", "USD", Decimal(5), Decimal(500))
        for index, name in enumerate(PLAIN_BRANDS)
    ),
)

# What one unit of each currency is worth in USD; every other rate is derived from these.
USD_VALUE: dict[str, Decimal] = {"USD": Decimal("1"), "EUR": Decimal("1.0851"), "GBP": Decimal("1.27")}

CLIENTS_BY_ID: dict[str, Client] = {client.client_id: client for client in CLIENTS}
PRODUCTS_BY_ID: dict[int, Product] = {product.id: product for product in PRODUCTS}
ACCOUNTS: tuple[Account, ...] = tuple(account for client in CLIENTS for account in client.accounts)

LOAD_ACCOUNT_BASE = 30_000  # load client n (from 1) charges USD account LOAD_ACCOUNT_BASE + n


def load_client(number: int) -> Client:
    """Load client `number` (from 1): `giftq-load-<number>` with secret `load-secret-<number>` (3 digits at
    least) and one USD account of its own, LOAD_ACCOUNT_BASE + number, holding a million."""
    return Client(f"giftq-load-{number:03d}", f"load-secret-{number:03d}", enabled=True, has_catalog=True,
                  accounts=(Account(LOAD_ACCOUNT_BASE + number, "USD", MILLION),))  # fmt: skip


def add_load_clients(count: int) -> None:
    """Seed `count` load clients beside the fixed ones (`--load-clients`), for benchmarks over many credentials.

    Called once as the sandbox process starts, before it serves; the fixed clients are unchanged.
    """
    global ACCOUNTS
    clients = [load_client(number) for number in range(1, count + 1)]
    CLIENTS_BY_ID.update({client.client_id: client for client in clients})
    ACCOUNTS = ACCOUNTS + tuple(account for client in clients for account in client.accounts)
