"""Money rules: exchange rates and what an order charges, always in Decimal, rounded to cents.

Bamboo charges face value x exchange rate x quantity in the account's currency: EUR 10 at 1.0851 from a
USD account is USD 10.851 a card, and ten of them are USD 108.51. Each item is rounded to cents once.
"""

from decimal import ROUND_HALF_UP, Decimal

from sandbox.bamboo.seed import USD_VALUE

CENTS = Decimal("0.01")
RATE_PLACES = Decimal("0.000001")


def exchange_rate(source: str, target: str) -> Decimal:
    """Return how many units of ``target`` one unit of ``source`` costs (six decimal places)."""
    return (USD_VALUE[source] / USD_VALUE[target]).quantize(RATE_PLACES, rounding=ROUND_HALF_UP)


def item_charge(face_value: Decimal, quantity: int, product_currency: str, account_currency: str) -> Decimal:
    """Return what ``quantity`` cards of ``face_value`` cost an account, rounded to cents."""
    rate = exchange_rate(product_currency, account_currency)
    return (face_value * rate * quantity).quantize(CENTS, rounding=ROUND_HALF_UP)


def cents(amount: Decimal) -> str:
    """Format an amount as a string with exactly two decimals, e.g. ``"108.51"``."""
    return str(amount.quantize(CENTS, rounding=ROUND_HALF_UP))


def json_number(amount: Decimal) -> float:
    """Return an amount as a JSON number; its shortest repr is the exact decimal (``108.51``)."""
    return float(amount)
