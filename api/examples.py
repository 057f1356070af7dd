"""Examples of each request and answer the OpenAPI document shows (tests/test_api_docs.py checks each against its
schema): one Bamboo order by RequestId, one by IdempotencyKey with a callback, one BHN order, and what they answer.

No real card data: the cards example holds placeholders.
"""

from __future__ import annotations

REQUEST_ID = "97018cf7-98f5-40fc-a142-711d43a72e17"
KEYED_REQUEST_ID = "a0ea518b-3e26-587e-970c-093e07f7651c"  # uuid5 of "shop:cart-1042": derived, never sent
BHN_REQUEST_ID = "2c1f4a8e-6b0d-4c3e-9a57-0d8e1f2a3b4c"
CURSOR = "vQq1tB0rYx2mZk8c3dL4eN5fG6hJ7iK8lM9nO0pQ1rS2tU3vW4xY5zA6bC7dE8fG9hI0jK1lM2nO3pQ4rS5tU6vW7xY8zA9bC0dE1fG2"

REQUEST_ID_PARAMETER = {
    "in": "path",
    "name": "request_id",
    "example": REQUEST_ID,
    "description": "The order's RequestId (for an IdempotencyKey: the one giftq derived)",
}
ORDER_REQUESTS = {
    "bamboo": {
        "summary": "A Bamboo order by RequestId",
        "value": {"RequestId": REQUEST_ID, "AccountId": 555,
                  "Products": [{"ProductId": 439685, "Quantity": 2, "Value": 10}]},
    },
    "bamboo_by_key": {
        "summary": "A Bamboo order by IdempotencyKey, with a signed callback when it is final",
        "value": {"IdempotencyKey": "cart-1042", "AccountId": 555,
                  "Products": [{"ProductId": 439685, "Quantity": 1, "Value": 25.5}],
                  "Notify": {"CallbackUrl": "https://shop.example.com/giftq/orders"}},
    },
    "bhn": {
        "summary": "A Blackhawk Network e-gift order",
        "value": {"RequestId": BHN_REQUEST_ID, "Provider": "bhn",
                  "Products": [{"ProductId": "PRD-7Q2K-AMZN-US", "Quantity": 1, "Value": 25, "Currency": "USD"}],
                  "Sender": {"Email": "orders@shop.example.com"},
                  "Recipient": {"Email": "ada@example.com", "FirstName": "Ada"}},
    },
}  # fmt: skip

_ORDER = {"AccountId": 555, "Products": [{"ProductId": 439685, "Quantity": 2, "Value": "10.00"}],
          "RequestId": REQUEST_ID}  # fmt: skip
ACCEPTED = {
    "request_id": REQUEST_ID, "state": "accepted", "reason": "", "idempotency_key": "",
    "created_ms": 1795465217694, "updated_ms": 1795465217694, "order": _ORDER, "summary": {},
    "history": [{"at_ms": 1795465217694, "to": "accepted"}],
    "cards_reads": 0, "cards_erased": False, "notification": None,
}  # fmt: skip
FULFILLED = {
    **ACCEPTED, "state": "fulfilled", "updated_ms": 1795465221423, "summary": {"cards_failed": 0, "cards_issued": 2},
    "history": [{"at_ms": 1795465217694, "to": "accepted"},
                {"at_ms": 1795465217758, "from": "accepted", "to": "submitting"},
                {"at_ms": 1795465217766, "from": "submitting", "to": "placed"},
                {"at_ms": 1795465221423, "from": "placed", "to": "fulfilled"}],
    "notification": {"callback_url": "https://shop.example.com/giftq/orders", "state": "delivered", "attempts": 1,
                     "last_error": "", "delivered_ms": 1795465221502},
}  # fmt: skip
PAGE = {"orders": [{key: value for key, value in FULFILLED.items() if key != "history"}], "next_cursor": CURSOR}
CARDS = {
    "request_id": REQUEST_ID, "state": "fulfilled",
    "cards": [{"product_id": 439685, "serial_number": "SN-0001", "status": "Sold", "expiration": "2027-12-31",
               "code": "XXXX-XXXX-XXXX", "pin": "XXXX", "egift_url": "", "quantity": 1}],
}  # fmt: skip
HEALTH = {"ok": True}
BAMBOO_WEBHOOK = {"requestId": REQUEST_ID, "secretKey": "<the webhook secret>", "orderId": 1042,
                  "status": "Succeeded", "totalCards": 2}  # fmt: skip
BHN_WEBHOOK = {"external_id": BHN_REQUEST_ID, "id": "ord-7f3a", "status": "COMPLETE"}
WEBHOOK_ANSWER = {"request_id": REQUEST_ID, "state": "placed"}


def _error(status: int, reason: str, message: str, request_id: str | None = None) -> dict:
    return {"status": status, "reason": reason, "message": message, "request_id": request_id}


ERROR_EXAMPLES = {
    400: _error(400, "InvalidDenomination", "Products: InvalidDenomination: Value of product 439685 must be within "
                "10.0..100.0 USD", KEYED_REQUEST_ID),
    401: _error(401, "Unauthorized", "give a valid API key: Authorization: Bearer <key>"),
    403: _error(403, "MissingScope", "this API key lacks the 'cards' scope (see `giftq apikey NAME --scope cards`)"),
    404: _error(404, "OrderNotFound", f"no order {REQUEST_ID}"),
    409: _error(409, "OrderAlreadyExists", f"RequestId {REQUEST_ID} was already submitted with a different body",
                REQUEST_ID),
    410: _error(410, "CardsErased", f"the cards of order {REQUEST_ID} were erased after retention", REQUEST_ID),
    413: _error(413, "BodyTooLarge", "the body is larger than 65536 bytes (GIFTQ_API_MAX_BODY_BYTES)"),
    414: _error(414, "URITooLong", "Request Line is too large (4174 > 4094)"),
    422: _error(422, "InvalidCursor", "not a cursor of this listing: pass back a next_cursor this API gave you for it"),
    429: _error(429, "RateLimited", "this API key is over its request rate; try again in 1 s"),
    503: _error(503, "StoreUnavailable", "the order store cannot be reached; try again shortly (the same order again "
                "is answered as one)"),
}  # fmt: skip
NOT_FINAL = _error(409, "OrderNotFinal", f"order {REQUEST_ID} is placed", REQUEST_ID)
NOT_BOUND = _error(500, "CardsNotBound", "stored card data belongs to another order or producer: refused", REQUEST_ID)
NOT_A_WEBHOOK = _error(400, "InvalidWebhook", "a JSON body with requestId and secretKey is expected")
WRONG_SECRET = _error(401, "InvalidSecretKey", "the webhook's secretKey does not match")
