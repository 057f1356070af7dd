"""The OpenAPI document and Swagger UI with the default settings, against the real gunicorn API."""

from __future__ import annotations

import pytest
import requests

from worker.cli.processes import ApiServer

pytestmark = pytest.mark.timeout(60)


def test_swagger_ui_is_off_by_default_and_the_openapi_document_is_still_served(api: ApiServer) -> None:
    for path in ("/swagger-ui", "/swagger-ui/assets/swagger-ui-bundle.js"):
        off = requests.get(f"{api.url}{path}", timeout=10)
        assert off.status_code == 404, path
        assert (off.json()["status"], off.json()["reason"]) == (404, "NotFound")
    document = requests.get(f"{api.url}/openapi.json", timeout=10)
    assert document.status_code == 200 and "/orders" in document.json()["paths"]


@pytest.mark.parametrize(
    ("method", "path", "statuses"),
    [
        ("post", "/orders", {"413", "429", "503"}),
        ("get", "/orders", {"422", "429", "503"}),
        ("get", "/orders/{request_id}", {"404", "429", "503"}),
        ("get", "/orders/{request_id}/cards", {"403", "404", "409", "410", "429", "503"}),
        ("get", "/health", {"503"}),
    ],
)
def test_the_document_lists_each_refusal_an_operation_can_answer(
    api: ApiServer, method: str, path: str, statuses: set[str]
) -> None:
    responses = requests.get(f"{api.url}/openapi.json", timeout=10).json()["paths"][path][method]["responses"]
    assert statuses <= set(responses)
    for status in statuses & {"429", "503"}:
        assert "Retry-After" in responses[status]["headers"], (path, status)
        assert responses[status]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}
