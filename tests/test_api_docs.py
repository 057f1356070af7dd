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
