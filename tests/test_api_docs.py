"""The OpenAPI document and Swagger UI with the default settings, against the real gunicorn API.

The document is the contract: its rules are the server's (an order the document refuses is refused, and one it
allows is refused only for what no document can state), every answer an operation can give is listed with its
headers, and every example fits its schema.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import jsonschema_rs
import pytest
import requests

from api.cursors import PageCursors
from api.examples import ORDER_REQUESTS
from tests.api_fixtures import auth
from worker.cli.processes import ApiServer
from worker.orders.crypto import new_key

pytestmark = pytest.mark.timeout(60)

KEYED = {"401", "403", "429", "503"}  # what any operation behind an API key answers before its view runs
OPERATIONS = [
    ("post", "/orders", KEYED | {"400", "409", "413"}),
    ("get", "/orders", KEYED | {"422"}),
    ("get", "/orders/{request_id}", KEYED | {"404"}),
    ("get", "/orders/{request_id}/cards", KEYED | {"404", "409", "410"}),
    ("get", "/health", {"503"}),
]
HEADERS_OF = {"401": "WWW-Authenticate", "429": "Retry-After", "503": "Retry-After"}


@pytest.fixture(scope="module")
def document(api: ApiServer) -> dict:
    return requests.get(f"{api.url}/openapi.json", timeout=10).json()


def test_swagger_ui_is_off_by_default_and_the_openapi_document_is_still_served(api: ApiServer) -> None:
    for path in ("/swagger-ui", "/swagger-ui/assets/swagger-ui-bundle.js"):
        off = requests.get(f"{api.url}{path}", timeout=10)
        assert off.status_code == 404, path
        assert (off.json()["status"], off.json()["reason"]) == (404, "NotFound")
    document = requests.get(f"{api.url}/openapi.json", timeout=10)
    assert document.status_code == 200 and "/orders" in document.json()["paths"]


@pytest.mark.parametrize(("method", "path", "statuses"), OPERATIONS)
def test_the_document_lists_each_refusal_an_operation_can_answer_with_the_headers_http_requires(
    document: dict, method: str, path: str, statuses: set[str]
) -> None:
    responses = document["paths"][path][method]["responses"]
    assert statuses <= set(responses)
    for status in statuses:
        assert responses[status]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}
        if status in HEADERS_OF:
            assert HEADERS_OF[status] in responses[status]["headers"], (path, status)


def test_every_operation_names_how_it_is_authenticated(document: dict) -> None:
    security = {(method, path): operation.get("security") for path, item in document["paths"].items()
                for method, operation in item.items() if method != "parameters"}  # fmt: skip
    assert security == {
        ("post", "/orders"): [{"ApiKey": []}],
        ("get", "/orders"): [{"ApiKey": []}],
        ("get", "/orders/{request_id}"): [{"ApiKey": []}],
        ("get", "/orders/{request_id}/cards"): [{"ApiKey": []}],
        ("get", "/health"): [],
        ("post", "/webhooks/bamboo"): [],  # its secretKey is in the body
        ("post", "/webhooks/bhn"): [{"BhnWebhookSecret": []}],
    }
    schemes = document["components"]["securitySchemes"]
    assert schemes["BhnWebhookSecret"] == {"type": "apiKey", "in": "header", "name": "X-BHN-Webhook-Secret"}


def test_every_request_and_answer_has_an_example_that_fits_its_schema(document: dict) -> None:
    checked = 0
    for where, schema, example in _examples(document):
        errors = [error.message for error in _validator(document, schema).iter_errors(example)]
        assert not errors, (where, errors)
        checked += 1
    for path, item in document["paths"].items():
        for method, operation in _operations(item):
            for status, response in operation["responses"].items():
                if status != "default":
                    assert "example" in response["content"]["application/json"], (method, path, status)
            if "requestBody" in operation:
                body = operation["requestBody"]["content"]["application/json"]
                assert "example" in body or "examples" in body, (method, path)
    assert checked > 40


def test_the_document_allows_exactly_one_identity_and_never_a_derived_guid(document: dict) -> None:
    body = document["paths"]["/orders"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    fits = _validator(document, body).is_valid
    by_id, by_key, bhn = (example["value"] for example in ORDER_REQUESTS.values())
    assert fits(by_id) and fits(by_key) and fits(bhn)
    assert not fits({key: value for key, value in by_id.items() if key != "RequestId"})  # neither
    assert not fits({**by_key, "RequestId": by_id["RequestId"]})  # both
    assert not fits({**bhn, "IdempotencyKey": "cart-1"})
    assert not fits({**by_id, "RequestId": str(uuid.uuid5(uuid.NAMESPACE_URL, "shop:cart-1042"))})
    assert not fits({**by_id, "RequestId": "{" + by_id["RequestId"] + "}"})
    assert not fits({**by_key, "Notify": {}}) and not fits({**by_key, "Notify": {"Task": "shop.done"}})
    assert not fits({**bhn, "Sender": {"FirstName": "Ada"}})


def test_the_document_allows_the_cursors_this_api_hands_out_and_no_other_form(document: dict) -> None:
    [cursor] = [p for p in document["paths"]["/orders"]["get"]["parameters"] if p["name"] == "cursor"]
    fits = _validator(document, cursor["schema"]).is_valid
    sealed = PageCursors((new_key(),)).seal(f"1795465217694:{uuid.uuid4()}", producer="shop", state="accepted")
    assert fits(sealed)
    assert not fits("0" * 200) and not fits(sealed[:-1]) and not fits(sealed + "\n")


def test_every_pattern_in_the_document_is_one_json_schema_reads_as_the_server_does(document: dict) -> None:
    patterns = list(_patterns(document))
    assert len(patterns) > 10
    for pattern in patterns:  # ECMA-262 has no \A or \Z (it reads them as "A" and "Z"): the server anchors with $
        assert pattern.startswith("^") and "\\Z" not in pattern and "\\A" not in pattern, pattern


def _patterns(node: object) -> Iterator[str]:
    if isinstance(node, dict):
        if isinstance(node.get("pattern"), str):
            yield node["pattern"]
        for value in node.values():
            yield from _patterns(value)
    elif isinstance(node, list):
        for item in node:
            yield from _patterns(item)


@pytest.mark.parametrize("method", ["TRACE", "PUT", "DELETE", "PATCH"])
@pytest.mark.parametrize(("path", "allowed"), [("/health", "GET"), ("/orders", "GET, POST"),
                                               ("/orders/97018cf7-98f5-40fc-a142-711d43a72e17", "GET")])  # fmt: skip
def test_an_undeclared_method_is_a_json_405_with_the_allow_header(
    api: ApiServer, method: str, path: str, allowed: str
) -> None:
    response = requests.request(method, f"{api.url}{path}", headers=auth(), timeout=10)
    assert response.status_code == 405 and response.json()["reason"] == "MethodNotAllowed"
    assert set(allowed.split(", ")) <= {name.strip() for name in response.headers["Allow"].split(",")}


def _examples(document: dict) -> Iterator[tuple[str, dict, object]]:
    """(where, schema, example) of every example in the document: bodies, answers and parameters."""
    for path, item in document["paths"].items():
        for parameter in item.get("parameters", []):
            if "example" in parameter:
                yield f"{path} {parameter['name']}", parameter["schema"], parameter["example"]
        for method, operation in _operations(item):
            media = []
            if "requestBody" in operation:
                media.append(("request", operation["requestBody"]["content"]["application/json"]))
            media += [(status, response["content"]["application/json"])
                      for status, response in operation["responses"].items() if "content" in response]  # fmt: skip
            for what, content in media:
                examples = [content["example"]] if "example" in content else []
                examples += [example["value"] for example in content.get("examples", {}).values()]
                for example in examples:
                    yield f"{method} {path} {what}", content["schema"], example
            for parameter in operation.get("parameters", []):
                if "example" in parameter.get("schema", {}):
                    yield f"{method} {path} {parameter['name']}", parameter["schema"], parameter["schema"]["example"]


def _operations(path_item: dict) -> list[tuple[str, dict]]:
    return [(method, operation) for method, operation in path_item.items() if method != "parameters"]


def _validator(document: dict, schema: dict) -> jsonschema_rs.Draft4Validator:
    """A validator of `schema` (OpenAPI 3.0: JSON Schema draft 4 with `nullable`), resolving the document's $refs.

    jsonschema_rs (what schemathesis validates with) reads `multipleOf: 0.01` exactly, as a decimal: a float
    reading refuses 19.99."""
    root = _json_schema({"allOf": [schema], "components": document["components"]})
    return jsonschema_rs.Draft4Validator(root)


def _json_schema(node: object) -> object:
    """OpenAPI 3.0's `nullable: true` as JSON Schema says it: null or the schema."""
    if isinstance(node, list):
        return [_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    converted = {key: _json_schema(value) for key, value in node.items()}
    if converted.pop("nullable", False):
        return {"anyOf": [{"type": "null"}, converted]}
    return converted
