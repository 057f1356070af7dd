"""The task contract as a producer's web app meets it: a process with only celery sends `giftq.submit_order`."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.waiting import wait_for
from worker.cli.processes import Sandbox
from worker.orders import states
from worker.orders.intake import request_id_for
from worker.runtime import Runtime

pytestmark = pytest.mark.timeout(60)

GIFTQ_PACKAGES = ("worker", "tasks", "schemas", "config", "sandbox")

# What a producer runs (README, "Sending orders"), then proof that it never imported giftq.
PRODUCER = """
import json, sys
from celery import Celery

given = json.loads(sys.argv[1])
giftq = Celery(broker=given["broker_url"])
giftq.conf.broker_transport_options = {"global_keyprefix": given["broker_key_prefix"]}
giftq.send_task("giftq.submit_order", args=[given["order"]], queue="giftq.intake.shop")

imported = sorted({name.split(".")[0] for name in sys.modules} & set(given["giftq_packages"]))
assert not imported, f"the producer imported giftq packages: {imported}"
print("sent")
"""


def test_an_order_sent_by_name_from_a_process_with_only_celery_is_fulfilled(
    giftq_env: dict[str, str], rt: Runtime, sandbox: Sandbox, start_workers, tmp_path: Path
) -> None:
    # Given a giftq worker, and a producer process that imports nothing of giftq (isolated mode, another cwd)
    start_workers(1)
    order = {"IdempotencyKey": f"order-{uuid.uuid4()}", "AccountId": 555,
             "Products": [{"ProductId": 100004, "Quantity": 1, "Value": 15}]}  # fmt: skip
    given = {"broker_url": giftq_env["GIFTQ_REDIS_URL"], "broker_key_prefix": giftq_env["GIFTQ_BROKER_KEY_PREFIX"],
             "order": order, "giftq_packages": GIFTQ_PACKAGES}  # fmt: skip

    # When it sends the order by task name
    sent = subprocess.run([sys.executable, "-I", "-c", PRODUCER, json.dumps(given)],
                          cwd=tmp_path, capture_output=True, text=True, timeout=30)  # fmt: skip
    assert sent.returncode == 0, sent.stderr
    assert sent.stdout.strip() == "sent"

    # Then the order, under the RequestId its idempotency key gives, is fulfilled and recorded as the producer's
    request_id = request_id_for("shop", order["IdempotencyKey"])

    def final_state() -> str | None:
        record = rt.store.get(request_id)
        return record.state if record and record.state in states.FINAL else None

    assert wait_for(final_state, timeout_s=30, what="a final state") == states.FULFILLED
    assert rt.store.get(request_id).producer == "shop"
    assert request_id in sandbox.admin("GET", "findings")["accepted_request_ids"]
