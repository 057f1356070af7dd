"""Property-based checks of the served OpenAPI document (schemathesis): no 5xx, every 4xx a JSON error.

Bounded: MAX_EXAMPLES generated requests per operation and mode (positive: fits the document; negative:
does not), against the module's real gunicorn API. Each
operation gets its own hypothesis run here rather than through `schemathesis.pytest.from_fixture`,
whose fixture loader does not run under pytest 9 (it sets `request.node._nodeid`).
"""

from __future__ import annotations

import itertools

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

from tests.api_fixtures import auth
from worker.cli.processes import ApiServer

MAX_EXAMPLES = 25  # per operation and mode: enough to reach every refusal path, small enough for make test


def every_client_error_is_json_with_a_reason(ctx: object, response: schemathesis.Response, case: object) -> None:
    """A 4xx answers `{"status", "reason", "message"}` as JSON, so a producer's code can read why."""
    if 400 <= response.status_code < 500:
        assert response.headers.get("content-type", [""])[0].startswith("application/json"), response.headers
        body = response.json()
        assert body["status"] == response.status_code
        assert isinstance(body["reason"], str) and body["reason"], body
        assert isinstance(body["message"], str), body


@pytest.mark.timeout(150)
def test_the_served_api_never_answers_5xx_and_every_4xx_is_a_json_error(api: ApiServer) -> None:
    # Given the OpenAPI document the running API serves
    schema = schemathesis.openapi.from_url(f"{api.url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {f"{op.method.upper()} {op.path}" for op in operations} >= {"POST /orders", "GET /orders/{request_id}"}

    # When each operation is called with generated requests, fitting the document and not (a producer's key)
    runs = [
        (op, mode)
        for op, mode in itertools.product(operations, GenerationMode)
        if mode.is_positive or op.path != "/health"
    ]
    for operation, mode in runs:  # /health takes no input that could be wrong

        @given(case=operation.as_strategy(mode))
        @settings(max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def answers_well(case: schemathesis.Case) -> None:
            case.call_and_validate(
                headers=auth(), checks=[not_a_server_error, every_client_error_is_json_with_a_reason]
            )

        # Then none answers 5xx, and every 4xx is a JSON error with a reason
        answers_well()
