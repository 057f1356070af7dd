"""giftq's own checks for `schemathesis run` (loaded by schemathesis.toml, so the command line runs them too).

schemathesis's positive_data_acceptance fails any request the document allows that is answered 4xx other than
401, 403, 404, 409 or 429. giftq answers some such requests 400 or 422 for rules no document can state
(`schemas.api.BEYOND_THE_DOCUMENT`: the catalog, the operator's settings, a cursor's seal, a card count summed over
lines); schemathesis.toml lets those statuses through for the two operations, and the checks here hold the refusal to
exactly those rules, so an order or query refused for a rule the document leaves out still fails the run.
"""

from __future__ import annotations

import schemathesis
from marshmallow import ValidationError

from api.body import BodyRefused, parse_json
from schemas.api import BEYOND_THE_DOCUMENT
from schemas.order import reason_of
from schemas.provider_orders import ORDER_SCHEMAS, UnknownProvider, provider_of

SUMMED_CARD_COUNT = "CardsLimitExceeded"  # the one rule of the order's own shape that JSON Schema cannot sum


@schemathesis.check
def every_client_error_is_json_with_a_reason(ctx: object, response: schemathesis.Response, case: object) -> None:
    """A 4xx answers `{"status", "reason", "message"}` as JSON, so a producer's code can read why."""
    if 400 <= response.status_code < 500:
        assert response.headers.get("content-type", [""])[0].startswith("application/json"), response.headers
        body = response.json()
        assert body["status"] == response.status_code, body
        assert isinstance(body["reason"], str) and body["reason"], body
        assert isinstance(body["message"], str), body


@schemathesis.check
def a_request_the_document_allows_is_refused_only_beyond_it(
    ctx: object, response: schemathesis.Response, case: schemathesis.Case
) -> None:
    """A request that fits the document is refused (400 on POST /orders, 422 on GET /orders) only for a reason in
    BEYOND_THE_DOCUMENT, and an order so refused passes giftq's own shape rules (no catalog)."""
    if case.meta is None or not case.meta.generation.mode.is_positive:
        return
    operation = f"{case.method.upper()} {case.path}"
    if (operation, response.status_code) not in (("POST /orders", 400), ("GET /orders", 422)):
        return
    error = response.json()
    assert error["reason"] in BEYOND_THE_DOCUMENT[operation], (
        f"the document allows this request, the server refused it: {error['reason']}: {error['message']}"
    )
    if operation == "POST /orders":
        shape_errors = _shape_errors(response.request.body)
        assert shape_errors is None or reason_of(shape_errors) == SUMMED_CARD_COUNT, (
            f"the document allows this order, giftq's own shape rules refuse it: {shape_errors}"
        )


def _shape_errors(body: bytes | str | None) -> object:
    """What giftq's order schema refuses in `body` without a catalog, read as the API reads it; None if nothing."""
    try:
        order = parse_json(body.encode() if isinstance(body, str) else body or b"")
        ORDER_SCHEMAS[provider_of(order)]().load(order)
    except (BodyRefused, UnknownProvider) as refused:
        return str(refused)
    except ValidationError as invalid:
        return invalid.messages
    return None
