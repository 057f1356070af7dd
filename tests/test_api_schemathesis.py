"""`schemathesis run --checks all` over the served OpenAPI document, every phase, against the real gunicorn API.

The run is the command line a developer types (README, "Over HTTP"), from the repository's root so that it reads
schemathesis.toml and giftq's own checks (tests/schemathesis_checks.py): examples, coverage, fuzzing and stateful
phases; FUZZ_EXAMPLES generated requests per operation; a key with both scopes; Bamboo and BHN credentials on
their sandboxes, so that orders of both providers meet a catalog. A second test shows that these settings find
each disagreement the document once had with the server, by running them over a copy of the document without
the rule.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from tests.bhn_fixtures import BHN_CLIENT_ID, BHN_CLIENT_SECRET, BHN_WEBHOOK_SECRET
from tests.conftest import CARDS_KEYS, DEMO_CLIENT
from worker.cli.processes import ApiServer, Sandbox

REPO_ROOT = Path(__file__).resolve().parents[1]
FUZZ_EXAMPLES = 150  # per operation: what the README's command uses, and enough to find each case below
BAMBOO_CLIENT = DEMO_CLIENT  # the examples' account 555 and product 439685 are this credential's
# The fuzzer sends some thousand requests in well under a minute; a key's own limit would answer many of them 429.
API_ENV = {"GIFTQ_API_RATE_LIMIT_REQUESTS": "100000"}
PHASES = ("Examples", "Coverage", "Fuzzing", "Stateful")


@pytest.fixture(scope="module")
def module_env(module_env: dict[str, str], bhn_sandbox_process: Sandbox) -> dict[str, str]:
    """The module's giftq with a BHN credential on the BHN sandbox too."""
    return {**module_env, "GIFTQ_BHN_BASE_URL": bhn_sandbox_process.url, "GIFTQ_BHN_CLIENT_ID": BHN_CLIENT_ID,
            "GIFTQ_BHN_CLIENT_SECRET": BHN_CLIENT_SECRET, "GIFTQ_BHN_WEBHOOK_SECRET": BHN_WEBHOOK_SECRET}  # fmt: skip


def schemathesis_run(location: str, *options: str) -> subprocess.CompletedProcess[str]:
    """`schemathesis run LOCATION --checks all ...` from the repository's root, with the shop's cards key."""
    command = [sys.executable, "-m", "schemathesis.cli", "run", location, "--checks", "all",
               "-H", f"Authorization: Bearer {CARDS_KEYS['shop']}", "--no-color", *options]  # fmt: skip
    return subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=240)


@pytest.mark.timeout(300)
def test_every_check_of_every_phase_finds_nothing_against_the_served_document(api: ApiServer) -> None:
    # When schemathesis runs every check, in every phase, over the document the API serves
    run = schemathesis_run(f"{api.url}/openapi.json", "-n", str(FUZZ_EXAMPLES))

    # Then no request fails a check, and every phase ran (Stateful too: the document's links chain the calls)
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    assert "FAILURES" not in run.stdout and "Configuration:" in run.stdout, run.stdout[-3000:]
    summary = run.stdout[run.stdout.index("Test Phases:") :]
    for phase in PHASES:
        assert f"✅ {phase}" in summary, summary


@pytest.mark.timeout(200)
@pytest.mark.parametrize(
    ("operation", "leave_out", "found"),
    [
        ("POST /orders", "identity", "give exactly one of RequestId and IdempotencyKey"),
        ("POST /orders", "notify", "InvalidNotify"),
        ("GET /orders", "cursor", "not a cursor"),
    ],
)
def test_these_settings_find_a_rule_the_document_leaves_out(
    api: ApiServer, tmp_path: Path, operation: str, leave_out: str, found: str
) -> None:
    # Given the served document without one of its rules
    document = requests.get(f"{api.url}/openapi.json", timeout=10).json()
    _LEAVE_OUT[leave_out](document)
    path = tmp_path / "openapi.json"
    path.write_text(json.dumps(document))

    # When the same run goes over that operation
    run = schemathesis_run(str(path), "--url", api.url, "--include-name", operation, "-n", str(FUZZ_EXAMPLES),
                           "--max-failures", "1")  # fmt: skip

    # Then it finds a request the document allows and the server refuses
    assert run.returncode == 1, run.stdout[-3000:]
    assert "a_request_the_document_allows_is_refused_only_beyond_it" in run.stdout and found in run.stdout, run.stdout


def _without_identity_rule(document: dict) -> None:
    """Each order one object in which RequestId and IdempotencyKey are both optional."""
    schemas = document["components"]["schemas"]
    for name in ("OrderRequest", "BhnOrderRequest"):
        merged = schemas[f"{name}ByRequestId"]
        merged["properties"]["IdempotencyKey"] = schemas[f"{name}ByIdempotencyKey"]["properties"]["IdempotencyKey"]
        merged["required"].remove("RequestId")
        schemas[name] = merged


def _without_notify_rule(document: dict) -> None:
    """Notify one object in which Task, Queue and CallbackUrl are all optional."""
    schemas = document["components"]["schemas"]
    schemas["Notify"] = {**schemas["NotifyTask"], "required": []}


def _with_the_old_cursor_form(document: dict) -> None:
    [cursor] = [p for p in document["paths"]["/orders"]["get"]["parameters"] if p["name"] == "cursor"]
    cursor["schema"]["pattern"] = "^[A-Za-z0-9_-]{39,200}$"


_LEAVE_OUT = {"identity": _without_identity_rule, "notify": _without_notify_rule, "cursor": _with_the_old_cursor_form}
