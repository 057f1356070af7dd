"""The `giftq` command as an operator runs it: a separate process, settings from the environment."""

from __future__ import annotations

import subprocess
import sys
import uuid

from worker.orders import states
from worker.runtime import Runtime


def giftq(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "worker.cli", *args], env=env, capture_output=True, text=True, timeout=60
    )


def test_submit_stores_and_enqueues_an_order_that_status_then_shows(giftq_env: dict[str, str], rt: Runtime) -> None:
    request_id = str(uuid.uuid4())
    submitted = giftq(giftq_env, "submit", "--account", "555", "--product", "100001", "--value", "25",
                      "--request-id", request_id)  # fmt: skip
    assert submitted.returncode == 0, submitted.stderr
    assert f"accepted: {request_id}" in submitted.stdout
    assert rt.store.get(request_id).state == states.ACCEPTED

    again = giftq(giftq_env, "submit", "--account", "555", "--product", "100001", "--value", "25",
                  "--request-id", request_id)  # fmt: skip
    assert f"already submitted: {request_id}" in again.stdout

    shown = giftq(giftq_env, "status", request_id)
    assert shown.returncode == 0
    assert "accepted" in shown.stdout


def test_submit_of_a_bad_order_says_why_and_exits_non_zero(giftq_env: dict[str, str], rt: Runtime) -> None:
    request_id = str(uuid.uuid4())
    refused = giftq(giftq_env, "submit", "--json", f'{{"RequestId": "{request_id}", "AccountId": 555, "Products": []}}')
    assert refused.returncode == 1
    assert "NoProducts" in refused.stderr
    assert rt.store.get(request_id).state == states.REJECTED


def test_submit_without_fernet_keys_fails_at_start_with_a_clear_error(giftq_env: dict[str, str]) -> None:
    env = {**giftq_env, "GIFTQ_FERNET_KEYS": ""}
    refused = giftq(env, "submit", "--account", "555", "--product", "100001", "--value", "25")
    assert refused.returncode == 1
    assert "GIFTQ_FERNET_KEYS" in refused.stderr


def test_status_of_an_unknown_order_exits_non_zero(giftq_env: dict[str, str]) -> None:
    shown = giftq(giftq_env, "status", str(uuid.uuid4()))
    assert shown.returncode == 1
    assert "no order" in shown.stderr
