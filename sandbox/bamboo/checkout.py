"""Place Order's rules, in the order bamboo-place-order.txt lists them, each with its reason code.

The page names what it checks: who may order, the RequestId (a GUID, unique per client), the AccountId
(an active account of this client in this environment), the products (in the catalog, orderable, in
stock, Value within MinFaceValue..MaxFaceValue), the 500-card limit, then the money (a valid client
price, enough balance). Two refusals are the sandbox's own, because the page leaves them unnamed: a body
that is not the documented JSON shape gets ``InvalidRequest`` and a RequestId that is not a GUID gets
``InvalidRequestId``; both are 400 ``{"message": ...}`` like every reason code.
"""

import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol

from sandbox.bamboo.money import exchange_rate, item_charge
from sandbox.bamboo.seed import PRODUCTS_BY_ID, Account, Client, Product

MAX_CARDS_PER_ORDER = 500
_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


class Refused(Exception):
    """Raised when Place Order refuses an order; ``reason`` is the provider's reason code."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Line:
    """One entry of Products, as sent (``product_id`` None when ProductId is missing)."""

    product_id: int | None
    quantity: int
    value: Decimal


@dataclass(frozen=True)
class CheckoutRequest:
    """A Place Order body that has the documented JSON shape."""

    request_id: str
    account_id: int
    lines: tuple[Line, ...]


@dataclass(frozen=True)
class PricedLine:
    """A line that passed every product rule, with what it costs the account."""

    product: Product
    quantity: int
    value: Decimal
    charge: Decimal


class World(Protocol):
    """What the rules need to know about the sandbox's state (the caller holds its lock)."""

    balances: dict[int, Decimal]
    stock: dict[int, int | None]

    def has_order(self, client_id: str, request_id: str) -> bool: ...


def read_request(body: Any) -> CheckoutRequest:
    """Return the body as a CheckoutRequest; raise Refused("InvalidRequest") if its shape is wrong."""
    if not isinstance(body, dict):
        raise Refused("InvalidRequest")
    request_id, account_id, products = body.get("RequestId"), body.get("AccountId"), body.get("Products", [])
    if not isinstance(request_id, str) or type(account_id) is not int or not isinstance(products, list | None):
        raise Refused("InvalidRequest")
    return CheckoutRequest(request_id, account_id, tuple(_read_line(entry) for entry in products or []))


def _read_line(entry: Any) -> Line:
    if not isinstance(entry, dict):
        raise Refused("InvalidRequest")
    product_id, quantity, value = entry.get("ProductId"), entry.get("Quantity"), entry.get("Value")
    if product_id is not None and type(product_id) is not int:
        raise Refused("InvalidRequest")
    if type(quantity) is not int or quantity < 1 or type(value) not in (int, Decimal):
        raise Refused("InvalidRequest")
    return Line(product_id, quantity, Decimal(value))


def check(client: Client, request: CheckoutRequest, world: World) -> tuple[Account, list[PricedLine]]:
    """Apply every rule in the page's order; return the account and priced lines, or raise Refused."""
    _check_user(client)
    _check_request_id(client, request.request_id, world)
    account = _check_account(client, request.account_id)
    if not request.lines:
        raise Refused("NoProducts")
    products = [_check_product(line) for line in request.lines]
    _check_stock(request.lines, world)
    for line, product in zip(request.lines, products, strict=True):
        if not product.min_face_value <= line.value <= product.max_face_value:
            raise Refused("InvalidDenomination")
    if sum(line.quantity for line in request.lines) > MAX_CARDS_PER_ORDER:
        raise Refused("CardsLimitExceeded")
    priced = [_price(line, product, account) for line, product in zip(request.lines, products, strict=True)]
    if sum(line.charge for line in priced) > world.balances[account.id]:
        raise Refused("InsufficientBalance")
    return account, priced


def _check_user(client: Client) -> None:
    """The authenticated user must be enabled, and must have a catalog to order from."""
    if not client.enabled:
        raise Refused("UserNotEnabled")
    if not client.has_catalog:
        raise Refused("ClientCatalogNotExist")


def _check_request_id(client: Client, request_id: str, world: World) -> None:
    """RequestId must be a GUID and it must be unique per client."""
    if not _GUID.match(request_id):
        raise Refused("InvalidRequestId")
    if world.has_order(client.client_id, request_id.lower()):
        raise Refused("OrderAlreadyExists")


def _check_account(client: Client, account_id: int) -> Account:
    """AccountId must be an active account of this client, in the sandbox environment."""
    for account in client.accounts:
        if account.id == account_id and account.is_active and account.sandbox_mode:
            return account
    raise Refused("WrongAccount")


def _check_product(line: Line) -> Product:
    """ProductId must exist in the catalog and the product's configuration must allow ordering."""
    product = PRODUCTS_BY_ID.get(line.product_id) if line.product_id is not None else None
    if product is None:
        raise Refused("InvalidProductIds")
    if product.min_face_value > product.max_face_value:
        raise Refused("InvalidProduct")
    return product


def _check_stock(lines: tuple[Line, ...], world: World) -> None:
    """Each product must have stock for every card asked of it (None means unlimited)."""
    wanted: dict[int, int] = {}
    for line in lines:
        wanted[line.product_id] = wanted.get(line.product_id, 0) + line.quantity
    for product_id, quantity in wanted.items():
        left = world.stock[product_id]
        if left is not None and left < quantity:
            raise Refused("ProductIsOutOfStock")


def _price(line: Line, product: Product, account: Account) -> PricedLine:
    """The client's stored price must follow the current exchange rate; a stale one is refused."""
    current_rate = exchange_rate(product.currency, account.currency)
    if product.stored_price_rate is not None and product.stored_price_rate != current_rate:
        raise Refused("ClientPriceInvalid")
    charge = item_charge(line.value, line.quantity, product.currency, account.currency)
    return PricedLine(product, line.quantity, line.value, charge)
