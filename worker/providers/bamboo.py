"""Bamboo Integration API client (Basic auth). See shared provider docs: bamboo-api.md."""

from __future__ import annotations

import math
import re
import time
from decimal import Decimal, InvalidOperation

import requests

from config.settings import Credential
from worker.errors import (
    NotSent,
    OrderNotFound,
    OrderRejected,
    ProviderAuthFailed,
    ProviderError,
    ProviderRefused,
    RateLimited,
    UnknownOutcome,
)
from worker.providers import http
from worker.providers.base import (
    FAILED,
    IN_PROGRESS,
    PARTIALLY_FAILED,
    SUCCEEDED,
    Account,
    Card,
    PlaceRequest,
    Product,
    ProviderOrder,
)
from worker.providers.http import SentHook

CHECKOUT_PATH = "/api/integration/v1.0/orders/checkout"
ORDER_PATH = "/api/integration/v1.0/orders/{request_id}"
ACCOUNTS_PATH = "/api/integration/v1.0/accounts"
CATALOG_PATH = "/api/integration/v2.0/catalog"
CATALOG_PAGE_SIZE = 100  # the largest page Get Catalog v2 serves
CATALOG_MAX_PAGES = 1000  # a guard against a provider that never says it is done
ALREADY_EXISTS = "OrderAlreadyExists"
DEFAULT_RETRY_AFTER_S = 5.0
_REASON_CODE = re.compile(r"[A-Z][A-Za-z]{1,79}")  # Bamboo's reason codes: OrderAlreadyExists, WrongAccount, ...
_WAIT_PATTERN = re.compile(r"wait for (\d+(?:\.\d+)?) second", re.IGNORECASE)
_STATUSES = {
    "Created": IN_PROGRESS,
    "Pending": IN_PROGRESS,
    "Processing": IN_PROGRESS,
    "Succeeded": SUCCEEDED,
    "Failed": FAILED,
    "PartialFailed": PARTIALLY_FAILED,
}


class BambooClient:
    """One Bamboo credential: one HTTP session, explicit timeouts, answers mapped to giftq's types."""

    name = "bamboo"
    can_pack = True  # one order carries up to 500 cards over several products, to one account

    def __init__(self, base_url: str, credential: Credential, *, timeout_s: float,
                 catalog_page_size: int = CATALOG_PAGE_SIZE):  # fmt: skip
        self.credential = credential.key
        self._base_url = base_url
        self._timeout_s = timeout_s
        self._page_size = catalog_page_size
        self._session = http.session()
        self._session.auth = (credential.client_id, credential.client_secret)
        self._session.headers["Accept"] = "application/json"

    def warm(self) -> None:
        """Have this session's connection to Bamboo open now, so the next Place Order does not pay for the TCP (and
        TLS) handshake inside its send budget: a process's first, and any after Bamboo closed the connection (after
        an answer, or idle). A failure is left to the call to meet.
        """
        http.open_connection(self._session, self._base_url + CHECKOUT_PATH, timeout_s=self._timeout_s)

    def place(self, request: PlaceRequest, *, send_by: float | None = None, on_sent: SentHook | None = None) -> bool:
        """POST orders/checkout. A timeout, reset or 5xx is an unknown outcome, never a failure.

        The deadline `send_by` (time.monotonic()) is checked after the request is built, just before it is sent;
        `on_sent` is called once the request has been written (see worker/providers/http.py).
        """
        body = {
            "RequestId": request.request_id,
            "AccountId": request.account_id,
            "Products": [
                {"ProductId": line.product_id, "Quantity": line.quantity, "Value": _number(line.value)}
                for line in request.lines
            ],
        }
        response = self._call("POST", CHECKOUT_PATH, json=body, send_by=send_by, on_sent=on_sent)
        if response.status_code == 200:
            _confirm_request_id(response, request.request_id)
            return True
        reason = _reason(response)
        if response.status_code == 400 and reason == ALREADY_EXISTS:
            return False
        if response.status_code == 400:
            raise OrderRejected(reason or "BadRequest", request_id=request.request_id)
        raise self._unexpected(response)

    def get(self, request_id: str, *, on_sent: SentHook | None = None) -> ProviderOrder:
        """GET orders/{requestId}, mapped to a ProviderOrder; `on_sent` is called once the request has been
        written."""
        response = self._call("GET", ORDER_PATH.format(request_id=request_id), on_sent=on_sent)
        if response.status_code == 200:
            return _parse_order(request_id, _json(response))
        if response.status_code == 400 and _reason(response) == "OrderNotFound":
            raise OrderNotFound(f"Bamboo does not know order {request_id}", status=400)
        raise self._unexpected(response)

    def accounts(self) -> tuple[Account, ...]:
        """GET accounts: every account of this credential, active or not, sandbox or live."""
        body = self._get_json(ACCOUNTS_PATH)
        try:
            return tuple(
                Account(
                    id=int(raw["id"]),
                    currency=str(raw["currency"]),
                    active=bool(raw["isActive"]),
                    sandbox_mode=bool(raw["sandboxMode"]),
                )
                for raw in body["accounts"]
            )
        except (KeyError, TypeError, ValueError):
            raise ProviderError("Bamboo Get Accounts has an unexpected shape") from None

    def catalog(self) -> tuple[Product, ...]:
        """GET the v2 catalog, every page: the products of every brand, with their face-value range and stock."""
        products: list[Product] = []
        for page_index in range(CATALOG_MAX_PAGES):
            params = {"PageSize": self._page_size, "PageIndex": page_index}
            body = self._get_json(CATALOG_PATH, params=params)
            brands = body.get("items") or []
            products += _parse_products(brands)
            if not brands or (page_index + 1) * self._page_size >= int(body.get("count") or 0):
                return tuple(products)
        raise ProviderError(f"Bamboo Get Catalog did not end within {CATALOG_MAX_PAGES} pages")

    def _get_json(self, path: str, **kwargs: object) -> dict:
        response = self._call("GET", path, **kwargs)
        if response.status_code == 200:
            return _json(response)
        raise self._unexpected(response)

    def _call(self, method: str, path: str, *, send_by: float | None = None, on_sent: SentHook | None = None,
              **kwargs: object) -> requests.Response:  # fmt: skip
        url = self._base_url + path
        prepared = self._session.prepare_request(requests.Request(method, url, **kwargs))
        environment = self._session.merge_environment_settings(url, {}, None, None, None)  # proxies, CA bundle
        late_s = time.monotonic() - send_by if send_by is not None else 0.0
        if late_s > 0:
            raise NotSent(f"{method} {path}: not sent, {late_s * 1000:.0f} ms past its send deadline")
        try:
            with http.when_written(on_sent):
                return self._session.send(prepared, timeout=self._timeout_s, **environment)
        except requests.RequestException as error:
            raise UnknownOutcome(f"{method} {path}: {type(error).__name__}") from None

    def _unexpected(self, response: requests.Response) -> ProviderError:
        """A 429 asks to wait; a 5xx leaves the outcome unknown; 401 and 403 refuse the credential, and any other
        4xx refuses the call: neither changes by retrying. A 1xx-3xx is no answer giftq can use."""
        status = response.status_code
        if status == 429:
            return RateLimited(_retry_after_s(response.text))
        if status >= 500:
            return UnknownOutcome(f"Bamboo answered {status}", status=status)
        if status in (401, 403):
            return ProviderAuthFailed(self.credential, status)
        message = f"Bamboo answered {status} {_reason(response) or ''}".strip()
        return ProviderRefused(message, status=status) if status >= 400 else ProviderError(message, status=status)


def _parse_order(request_id: str, body: dict) -> ProviderOrder:
    try:
        status = _STATUSES[body["status"]]
        cards = tuple(
            Card(
                product_id=int(item["productId"]),
                serial_number=str(card.get("serialNumber") or ""),
                card_id=str(card.get("id") or ""),
                status=str(card.get("status") or ""),
                expiration=str(card.get("expirationDate") or ""),
                code=str(card.get("cardCode") or ""),
                pin=str(card.get("pin") or ""),
                value=Decimal(str(item["productFaceValue"])) if item.get("productFaceValue") is not None else None,
            )
            for item in body.get("items") or ()
            for card in item.get("cards") or ()
        )
    except (KeyError, TypeError, ValueError, InvalidOperation):
        raise ProviderError(f"Bamboo Get Order for {request_id} has an unexpected shape") from None
    return ProviderOrder(request_id=request_id, status=status, cards=cards, error=str(body.get("errorMessage") or ""))


def _confirm_request_id(response: requests.Response, request_id: str) -> None:
    """A 200 of Place Order carries our RequestId; anything else leaves the outcome unknown."""
    try:
        echoed = response.json()
    except ValueError:
        echoed = None
    if echoed != request_id:
        raise UnknownOutcome("Bamboo answered 200 without the order's RequestId", status=200)


def _parse_products(brands: list) -> list[Product]:
    """The products of catalog brands; a product's currency is its brand's."""
    try:
        return [
            Product(
                id=int(raw["id"]),
                name=str(raw.get("name") or brand.get("name") or ""),
                currency=str(brand["currencyCode"]),
                min_face_value=Decimal(str(raw["minFaceValue"])),
                max_face_value=Decimal(str(raw["maxFaceValue"])),
                stock=None if raw.get("count") is None else int(raw["count"]),
            )
            for brand in brands
            for raw in brand.get("products") or ()
        ]
    except (KeyError, TypeError, ValueError, ArithmeticError):
        raise ProviderError("Bamboo Get Catalog has an unexpected shape") from None


def _json(response: requests.Response) -> dict:
    try:
        body = response.json()
    except ValueError:
        raise UnknownOutcome("Bamboo answered 200 with a body that is not JSON") from None
    if not isinstance(body, dict):
        raise ProviderError("Bamboo answered 200 with an unexpected body")
    return body


def _reason(response: requests.Response) -> str:
    """The reason code of a 400 `{"message": ...}` body; never the rest of the body, nor a message not shaped
    like a reason code (an exception built from it must not carry whatever a provider put in its answer)."""
    try:
        message = response.json().get("message")
    except (ValueError, AttributeError):
        return ""
    return message if isinstance(message, str) and _REASON_CODE.fullmatch(message) else ""


def _retry_after_s(text: str) -> float:
    match = _WAIT_PATTERN.search(text or "")
    return math.ceil(float(match.group(1))) if match else DEFAULT_RETRY_AFTER_S


def _number(value: Decimal) -> int | float:
    return int(value) if value == value.to_integral_value() else float(value)
