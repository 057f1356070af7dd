"""`GET /orders/{request_id}/cards`: an order's decrypted cards, for the producer that submitted it.

Only with an API key that has the `cards` scope (api/app.py checks scopes per blueprint). Every read is
recorded on the order (producer, key id, time) before the cards are answered; another producer's order is a
404, as if it did not exist. The answer is never cached (`Cache-Control: no-store`).

HEAD is refused (405, `Allow: GET`): Flask answers HEAD by running the GET view and dropping the body,
which would record a read, and so start the cards' retention clock, for cards nobody received.
"""

from __future__ import annotations

from flask import g, request
from flask_smorest import Blueprint, abort
from werkzeug.exceptions import MethodNotAllowed

from api import examples
from api.errors import ERROR_EXAMPLES, KEYED, refusals
from schemas.api import CardsSchema, ErrorSchema
from worker.orders import states
from worker.orders.crypto import CipherError
from worker.orders.vault import CardsErased
from worker.runtime import Runtime

SECURITY = [{"ApiKey": []}]


def cards_blueprint(rt: Runtime) -> Blueprint:
    """The cards endpoint, on the runtime's store and vault."""
    blp = Blueprint("cards", __name__, description="The cards of a final order, for the producer that ordered them.")

    @blp.route("/orders/<request_id>/cards", methods=["GET"], parameters=[examples.REQUEST_ID_PARAMETER])
    @blp.doc(security=SECURITY)
    @blp.response(200, CardsSchema, headers={"Cache-Control": {"schema": {"type": "string"}}}, example=examples.CARDS)
    @blp.alt_response(
        404, schema=ErrorSchema, description="No such order of this producer", example=ERROR_EXAMPLES[404]
    )
    @blp.alt_response(
        409, schema=ErrorSchema, description="The order is not final yet: OrderNotFinal", example=examples.NOT_FINAL
    )
    @blp.alt_response(
        410,
        schema=ErrorSchema,
        description="The cards were erased after retention: CardsErased",
        example=ERROR_EXAMPLES[410],
    )
    @blp.alt_response(
        500,
        schema=ErrorSchema,
        description="The stored cards are not this order's (CardsNotBound)",
        example=examples.NOT_BOUND,
    )
    @refusals(blp, *KEYED, s403="The API key lacks the cards scope: MissingScope")
    def get_cards(request_id: str) -> tuple[dict, int, dict]:
        """The order's cards, decrypted: code, PIN, serial number, expiration. Each read is recorded."""
        if request.method != "GET":  # HEAD: see the module's docstring
            raise MethodNotAllowed(valid_methods=["GET"], description="HEAD would not be a read: use GET")
        record = rt.store.get(request_id)
        if record is None or record.producer != g.producer:
            abort(404, message=f"no order {request_id}")
        if record.state not in states.FINAL:
            abort(409, reason="OrderNotFinal", message=f"order {request_id} is {record.state}", request_id=request_id)
        try:
            cards = rt.vault.read(record, producer=g.caller.producer, key_id=g.caller.key_id)
        except CardsErased as erased:
            abort(410, reason=erased.reason, message=str(erased), request_id=request_id)
        except CipherError as refused:  # moved, re-assigned or under a dropped key: no card leaves
            abort(500, reason=refused.reason, message=str(refused), request_id=request_id)
        body = {"request_id": request_id, "state": record.state, "cards": cards}
        return body, 200, {"Cache-Control": "no-store"}

    return blp
