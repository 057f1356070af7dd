"""Blackhawk Network (BHN) Order Management API client: OAuth 2 client credentials, create / list orders, the
catalog. See the shared provider docs: bhn-api.md, bhn-create-order.txt, and sandbox/README.md for the wire
contract the sandbox enforces.

Idempotency: giftq's RequestId is BHN's ``external_id``, joined with the purchase order number (giftq sends one PO
for one order, the request's or the client's default). BHN answers 201 for a new order and 200 with the original
order for a known key. A 401 on an API call drops the cached token, fetches one more and sends the call once
more (a refused call created nothing, and the key makes a second create harmless); a second 401 refuses the
credential.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

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
    Account,
    PlaceRequest,
    Product,
    ProviderOrder,
)
from worker.providers.bhn_wire import (
    confirm_external_id,
    error_code,
    json_body,
    parse_order,
    person_json,
    retry_after_s,
)
from worker.providers.http import SentHook
from worker.providers.oauth import DEFAULT_REFRESH_MARGIN_S, ClientCredentialsToken

PROVIDER = "BHN"
TOKEN_PATH = "/realms/dev-experience/protocol/openid-connect/token"
ORDERS_PATH = "/v3/orders"
CATALOG_PATH = "/v1/catalogs/default"
DEFAULT_PURCHASE_ORDER_NUMBER = "giftq"
DEFAULT_SENDER_ID = "giftq"  # BHN needs a sender: without the request's, giftq names itself by external ID
_CENT = Decimal("0.01")


@dataclass(frozen=True)
class BhnHeaders:
    """The names of create order's headers (BHN documents the headers, not their names: ours, as settings)."""

    source: str = "X-Source-Configuration"
    wait_time: str = "X-Wait-Time-Ms"
    synchronous: str = "X-Synchronous"
    timestamp: str = "X-Client-Timestamp"


class BhnClient:
    """One BHN credential: one HTTP session (API and identity endpoint), a cached token, explicit timeouts,
    answers mapped to giftq's types."""

    name = "bhn"
    can_pack = False  # an e-gift order has one recipient, and its page says nothing of several orders in one

    def __init__(
        self,
        base_url: str,
        identity_url: str,
        credential: Credential,
        *,
        timeout_s: float,
        purchase_order_number: str = DEFAULT_PURCHASE_ORDER_NUMBER,
        wait_time_ms: int = 0,
        source_configuration: str = "default",
        synchronous: bool = False,
        account_ids: Sequence[str] = (),
        account_currency: str = "USD",
        sandbox_mode: bool = True,
        token_refresh_margin_s: float = DEFAULT_REFRESH_MARGIN_S,
        headers: BhnHeaders | None = None,
        default_sender_id: str = DEFAULT_SENDER_ID,
    ):
        self.credential = credential.key  # giftq's name for it (bhn:<client id>): catalog cache, logs
        self._client_id = credential.client_id
        self._base_url = base_url.rstrip("/")
        self._timeout_s = timeout_s
        self._po = purchase_order_number
        self._wait_time_ms = wait_time_ms
        self._source = source_configuration
        self._synchronous = synchronous
        self._accounts = tuple(account_ids)
        self._account_currency = account_currency
        self._sandbox_mode = sandbox_mode
        self._headers = headers or BhnHeaders()
        self._sender = {"external_id": default_sender_id}
        self._session = http.session()
        self._session.headers["Accept"] = "application/json"
        self._token = ClientCredentialsToken(
            self._session,
            identity_url.rstrip("/") + TOKEN_PATH,
            credential.client_id,
            credential.client_secret,
            timeout_s=timeout_s,
            provider=PROVIDER,
            refresh_margin_s=token_refresh_margin_s,
        )
        self._warm = False

    def __repr__(self) -> str:
        return f"BhnClient(base_url={self._base_url!r}, client_id={self._client_id!r})"

    def warm(self) -> None:
        """Have this session's connection to BHN open now, and a token (fetched once per client), so the next create
        order pays for neither inside its send budget: a process's first, and any after BHN closed the connection
        (after an answer, or idle). A failure is left to the call to meet."""
        http.open_connection(self._session, self._base_url + ORDERS_PATH, timeout_s=self._timeout_s)
        if self._warm:
            return
        self._warm = True
        try:
            self._token.bearer()
        except ProviderError:
            pass

    def place(self, request: PlaceRequest, *, send_by: float | None = None, on_sent: SentHook | None = None) -> bool:
        """POST /v3/orders: True for a new order (201), False if BHN already had the key (200, the original order).

        A timeout, reset, 5xx or a 2xx that is not the order is an unknown outcome, never a failure. The deadline
        `send_by` (time.monotonic()) is checked after the token is ready and the request built, just before it is
        sent (and again before a send after a 401); `on_sent` is called once the first request has been written.
        """
        body = self._order_body(request)
        headers = self._order_headers(request)
        response = self._call("POST", ORDERS_PATH, json=body, headers=headers, send_by=send_by, on_sent=on_sent)
        if response.status_code in (200, 201):
            confirm_external_id(response, request.request_id)
            return response.status_code == 201
        if response.status_code == 400:
            raise OrderRejected(error_code(response) or "BadRequest", request_id=request.request_id)
        if 200 <= response.status_code < 300:
            raise UnknownOutcome(f"BHN answered {response.status_code} to create order", status=response.status_code)
        raise self._unexpected(response)

    def get(self, request_id: str, *, purchase_order_number: str | None = None,
            on_sent: SentHook | None = None) -> ProviderOrder:  # fmt: skip
        """GET /v3/orders?external_id= (and purchase_order_number, if given), mapped to a ProviderOrder with one Card
        per order line. An empty list raises OrderNotFound.

        giftq reads its orders back by external_id alone: an order may carry its producer's own purchase order
        number, and giftq sends one PO for one external_id (its RequestId), so the credential has at most one order
        of that external_id. Two of them mean someone else used it: a ProviderError, never a guess.
        `on_sent` is called once the first request has been written.
        """
        params = {"external_id": request_id}
        if purchase_order_number:
            params["purchase_order_number"] = purchase_order_number
        response = self._call("GET", ORDERS_PATH, params=params, on_sent=on_sent)
        if response.status_code != 200:
            raise self._unexpected(response)
        orders = json_body(response).get("orders")
        if not isinstance(orders, list):
            raise ProviderError(f"BHN list orders for {request_id} has an unexpected shape")
        if not orders:
            raise OrderNotFound(f"BHN does not know order {request_id}", status=200)
        if len(orders) > 1:
            raise ProviderError(f"BHN has {len(orders)} orders of external_id {request_id} (other purchase orders)")
        return parse_order(request_id, orders[0])

    def accounts(self) -> tuple[Account, ...]:
        """BHN has no accounts endpoint: one Account per configured account id (``account_ids``), or, without
        any, a single ``Account(id="default", ...)`` standing for the account configuration behind the credential.
        All active, in ``account_currency``, ``sandbox_mode`` as configured (True by default)."""
        ids = self._accounts or ("default",)
        return tuple(
            Account(id=account_id, currency=self._account_currency, active=True, sandbox_mode=self._sandbox_mode)
            for account_id in ids
        )

    def catalog(self) -> tuple[Product, ...]:
        """GET /v1/catalogs/default: every product with its opaque id, currency and face-value range."""
        response = self._call("GET", CATALOG_PATH)
        if response.status_code != 200:
            raise self._unexpected(response)
        try:
            return tuple(
                Product(
                    id=str(raw["productId"]),
                    name=str(raw.get("name") or ""),
                    currency=str(raw["currency"]),
                    min_face_value=Decimal(str(raw["minValue"])),
                    max_face_value=Decimal(str(raw["maxValue"])),
                    physical=raw.get("type") == "PHYSICAL",
                )
                for raw in json_body(response)["products"]
            )
        except (KeyError, TypeError, ValueError, ArithmeticError):
            raise ProviderError("BHN catalog has an unexpected shape") from None

    def _order_body(self, request: PlaceRequest) -> dict:
        items = []
        for line in request.lines:
            if not line.currency:
                raise OrderRejected("CurrencyRequired", "BHN needs each line's currency", request.request_id)
            if line.value != line.value.quantize(_CENT):
                raise OrderRejected("InvalidDenomination", "BHN takes amounts in cents", request.request_id)
            item = {
                "product_id": str(line.product_id),
                "quantity": line.quantity,
                "amount": {"amount": f"{line.value:.2f}", "currency": line.currency},
            }
            if request.recipient is not None:
                item["recipient"] = person_json(request.recipient)
            items.append(item)
        body = {
            "external_id": request.request_id,
            "purchase_order_number": request.purchase_order_number or self._po,
            "sender": person_json(request.sender) if request.sender else self._sender,
            "order_items": items,
        }
        if request.account_id not in (None, "", "default"):
            body["account_id"] = str(request.account_id)
        return body

    def _order_headers(self, request: PlaceRequest) -> dict[str, str]:
        """The source configuration; the synchronous flag only for one quantity-1 e-gift line (a recipient with an
        email: BHN's only synchronous order); the wait time if configured; the client's timestamp."""
        names = self._headers
        now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        headers = {names.source: self._source, names.timestamp: now}
        single_egift = (
            len(request.lines) == 1
            and request.lines[0].quantity == 1
            and request.recipient is not None
            and bool(request.recipient.email)
        )
        if self._synchronous and single_egift:
            headers[names.synchronous] = "true"
        if self._wait_time_ms > 0:
            headers[names.wait_time] = str(self._wait_time_ms)
        return headers

    def _call(
        self,
        method: str,
        path: str,
        *,
        send_by: float | None = None,
        on_sent: SentHook | None = None,
        headers: dict[str, str] | None = None,
        **kwargs: object,
    ) -> requests.Response:
        response, used = self._send(method, path, send_by, on_sent, headers, kwargs)
        if response.status_code != 401:
            return response
        self._token.invalidate(used)
        response, _ = self._send(method, path, send_by, None, headers, kwargs)
        if response.status_code == 401:
            raise ProviderAuthFailed(self._client_id, 401, provider=PROVIDER)
        return response

    def _send(
        self,
        method: str,
        path: str,
        send_by: float | None,
        on_sent: SentHook | None,
        headers: dict[str, str] | None,
        kwargs: dict,
    ) -> tuple[requests.Response, str]:
        try:
            bearer = self._token.bearer()
        except ProviderAuthFailed:
            raise
        except (UnknownOutcome, ProviderError) as error:  # no token (an odd answer, ...): nothing was sent to the API
            raise NotSent(f"{method} {path}: not sent, no token ({type(error).__name__})") from None
        url = self._base_url + path
        all_headers = {**(headers or {}), "Authorization": f"Bearer {bearer}"}
        prepared = self._session.prepare_request(requests.Request(method, url, headers=all_headers, **kwargs))
        environment = self._session.merge_environment_settings(url, {}, None, None, None)  # proxies, CA bundle
        late_s = _late_s(send_by)
        if late_s > 0:
            raise NotSent(f"{method} {path}: not sent, {late_s * 1000:.0f} ms past its send deadline")
        try:
            with http.when_written(on_sent):
                return self._session.send(prepared, timeout=self._timeout_s, **environment), bearer
        except requests.RequestException as error:
            raise UnknownOutcome(f"{method} {path}: {type(error).__name__}") from None

    def _unexpected(self, response: requests.Response) -> ProviderError:
        """A 429 asks to wait; a 5xx leaves the outcome unknown; 403 refuses the credential, any other 4xx the
        call: neither changes by retrying. A 1xx-3xx is no answer giftq can use."""
        status = response.status_code
        if status == 429:
            return RateLimited(retry_after_s(response))
        if status >= 500:
            return UnknownOutcome(f"BHN answered {status}", status=status)
        if status in (401, 403):
            return ProviderAuthFailed(self._client_id, status, provider=PROVIDER)
        message = f"BHN answered {status} {error_code(response)}".strip()
        return ProviderRefused(message, status=status) if status >= 400 else ProviderError(message, status=status)


def _late_s(send_by: float | None) -> float:
    """How late a call is against its send deadline (time.monotonic()); 0 or less if it is not."""
    return time.monotonic() - send_by if send_by is not None else 0.0
