"""Get Catalog (v2): the seeded products grouped by brand, filtered and paged like the provider's.

Query parameters follow bamboo-api.md: PageSize (1..100, default 100), PageIndex (from 0), CurrencyCode,
CountryCode, Name (part of the brand name), ModifiedDate (products modified on or after), ProductId,
BrandId and TargetCurrency (the currency of ``price``, default USD). ``price`` is what the client pays
for the smallest and largest face value; a product with a stale stored price shows that stale price.
"""

from decimal import Decimal
from typing import Any

from sandbox.bamboo.money import CENTS, exchange_rate, json_number
from sandbox.bamboo.seed import PRODUCTS, USD_VALUE, Product

MAX_PAGE_SIZE = 100


def catalog_page(query: dict[str, str], stock: dict[int, int | None]) -> dict[str, Any]:
    """Return one page of the v2 catalog with the current ``stock``; raise ValueError for a bad parameter."""
    page_size = _integer(query, "PageSize", MAX_PAGE_SIZE, 1, MAX_PAGE_SIZE)
    page_index = _integer(query, "PageIndex", 0, 0, None)
    target = query.get("TargetCurrency", "USD").upper()
    if target not in USD_VALUE:
        raise ValueError("TargetCurrency")
    products = [product for product in PRODUCTS if _matches(product, query)]
    brand_ids = sorted({product.brand_id for product in products})
    page = brand_ids[page_index * page_size : (page_index + 1) * page_size]
    items = [_brand(brand_id, [p for p in products if p.brand_id == brand_id], target, stock) for brand_id in page]
    return {"pageIndex": page_index, "pageSize": page_size, "count": len(brand_ids), "items": items}


def _integer(query: dict[str, str], name: str, default: int, minimum: int, maximum: int | None) -> int:
    raw = query.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or int(raw) < minimum or (maximum is not None and int(raw) > maximum):
        raise ValueError(name)
    return int(raw)


def _matches(product: Product, query: dict[str, str]) -> bool:
    """Tell whether a product passes every filter the query gives."""
    checks = {
        "CurrencyCode": lambda value: product.currency == value.upper(),
        "CountryCode": lambda value: product.country_code == value.upper(),
        "Name": lambda value: value.lower() in product.name.lower(),
        "ModifiedDate": lambda value: product.modified_date[:10] >= value[:10],
        "ProductId": lambda value: str(product.id) == value,
        "BrandId": lambda value: str(product.brand_id) == value,
    }
    return all(check(query[name]) for name, check in checks.items() if name in query)


def _brand(brand_id: int, products: list[Product], target: str, stock: dict[int, int | None]) -> dict[str, Any]:
    first = products[0]
    return {
        "internalId": f"BRAND-{brand_id}",
        "name": first.name,
        "countryCode": first.country_code,
        "currencyCode": first.currency,
        "description": f"{first.name} gift card (sandbox)",
        "disclaimer": None,
        "redemptionInstructions": "Redeem at the brand's website.",
        "terms": "Sandbox card: no value.",
        "logoUrl": f"https://sandbox.invalid/logos/{brand_id}.png",
        "modifiedDate": first.modified_date,
        "products": [_product(product, target, stock[product.id]) for product in products],
    }


def _product(product: Product, target: str, count: int | None) -> dict[str, Any]:
    rate = product.stored_price_rate or exchange_rate(product.currency, target)
    return {
        "id": product.id,
        "name": product.name,
        "minFaceValue": json_number(product.min_face_value),
        "maxFaceValue": json_number(product.max_face_value),
        "count": count,
        "price": {
            "min": _price(product.min_face_value, rate),
            "max": _price(product.max_face_value, rate),
            "currencyCode": target,
        },
        "modifiedDate": product.modified_date,
    }


def _price(face_value: Decimal, rate: Decimal) -> float:
    return json_number((face_value * rate).quantize(CENTS))
