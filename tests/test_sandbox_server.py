"""The sandbox as a process and a server: start and stop, admin endpoints, and the read-only provider calls."""

import signal
import socket
import subprocess
import sys
import uuid
from decimal import Decimal

import pytest
import requests

from sandbox.bamboo import Settings, create_app
from tests.sandbox_fixtures import REPO_ROOT, BambooClient, start_sandbox

pytestmark = pytest.mark.timeout(30)


def test_health_answers_ok(bamboo_sandbox):
    assert bamboo_sandbox.admin_get("/_sandbox/health") == {"ok": True}


def test_admin_endpoints_answer_only_peers_on_the_sandbox_s_own_machine():
    app, sandbox = create_app(Settings())
    try:

        def status(peer: str, listening_on: str = "127.0.0.1") -> int:
            # The test client takes SERVER_NAME from the base URL; the real server sets it to its bind address
            client = app.test_client()
            return client.get("/_sandbox/calls", base_url=f"http://{listening_on}/",
                              environ_base={"REMOTE_ADDR": peer}).status_code  # fmt: skip

        assert status("10.1.2.3") == 403  # another machine
        assert status("::1") == 200
        # Listening on a bridge's address: a peer with that very address is this machine, its neighbours are not
        assert (status("10.1.2.1", listening_on="10.1.2.1"), status("10.1.2.10", listening_on="10.1.2.1")) == (200, 403)
    finally:
        sandbox.close()


def test_config_changes_at_run_time_with_cli_or_python_names(bamboo_sandbox):
    config = bamboo_sandbox.configure(**{"spacing-ms": 10, "product_limit": 2})
    assert (config["spacing_ms"], config["product_limit"]) == (10, 2)
    assert bamboo_sandbox.admin_get("/_sandbox/config")["spacing_ms"] == 10


@pytest.mark.parametrize(
    "change", [{"spacing_ms": -1}, {"product_limit": 0}, {"fail_probability": 2}, {"seed": 3}, {"no_such_setting": 1}]
)
def test_a_bad_config_change_is_refused_with_a_400_and_changes_nothing(bamboo_sandbox, change):
    response = requests.post(bamboo_sandbox.url + "/_sandbox/config", json=change, timeout=5)
    assert response.status_code == 400
    assert bamboo_sandbox.admin_get("/_sandbox/config")["spacing_ms"] == 50


def test_reset_forgets_calls_orders_and_faults_and_restores_balances(bamboo_sandbox, bamboo_client):
    request_id = str(uuid.uuid4())
    bamboo_client.place_order([{"ProductId": 100001, "Quantity": 5, "Value": 100}], request_id=request_id)
    bamboo_sandbox.schedule_fault("slow_response", count=1)
    bamboo_sandbox.reset()
    assert bamboo_sandbox.calls() == [] and bamboo_sandbox.admin_get("/_sandbox/faults") == {"faults": []}
    assert bamboo_sandbox.findings()["accepted_orders"] == 0
    accounts = bamboo_client.get("/api/integration/v1.0/accounts").json(parse_float=Decimal)["accounts"]
    assert accounts[0]["balance"] == Decimal("1000000.0")
    assert bamboo_client.get_order(request_id).json() == {"message": "OrderNotFound"}


def test_admin_calls_are_not_audited_but_provider_calls_are(bamboo_sandbox, bamboo_client):
    bamboo_sandbox.findings()
    bamboo_client.get("/api/integration/v1.0/accounts")
    (call,) = bamboo_sandbox.calls()
    assert (call["method"], call["path"], call["client"], call["status"]) == (
        "GET",
        "/api/integration/v1.0/accounts",
        "giftq-demo",
        200,
    )


def test_get_accounts_lists_the_clients_seeded_accounts(bamboo_client):
    accounts = bamboo_client.get("/api/integration/v1.0/accounts").json()["accounts"]
    summary = {(a["id"], a["currency"], a["isActive"], a["sandboxMode"]) for a in accounts}
    assert summary == {
        (555, "USD", True, True),
        (556, "EUR", True, True),
        (557, "USD", False, True),
        (9555, "USD", True, False),
    }


def test_the_v2_catalog_is_paged_by_brand_with_the_seeded_products(bamboo_client):
    first = bamboo_client.get("/api/integration/v2.0/catalog", PageSize=3, PageIndex=0).json()
    everything = bamboo_client.get("/api/integration/v2.0/catalog").json()
    assert (first["pageIndex"], first["pageSize"], len(first["items"])) == (0, 3, 3)
    assert first["count"] == everything["count"] == len(everything["items"])
    products = {p["id"]: p for brand in everything["items"] for p in brand["products"]}
    assert (products[439685]["name"], products[439685]["count"]) == ("Amazon.de", None)
    assert (products[439685]["minFaceValue"], products[439685]["maxFaceValue"]) == (5, 500)
    assert products[100005]["count"] == 0
    assert set(products[100003]["price"]) == {"min", "max", "currencyCode"}


def test_the_catalog_filters_by_currency_and_product(bamboo_client):
    euro = bamboo_client.get("/api/integration/v2.0/catalog", CurrencyCode="EUR").json()
    assert [brand["name"] for brand in euro["items"]] == ["Amazon.de"]
    one = bamboo_client.get("/api/integration/v2.0/catalog", ProductId=100003).json()
    assert [p["id"] for brand in one["items"] for p in brand["products"]] == [100003]


def test_the_catalog_of_a_client_without_one_is_client_catalog_not_exist(bamboo_sandbox):
    client = BambooClient(bamboo_sandbox.url, "giftq-nocatalog", "nocatalog-secret")
    response = client.get("/api/integration/v2.0/catalog")
    assert (response.status_code, response.json()) == (400, {"message": "ClientCatalogNotExist"})


def test_exchange_rates_give_eur_to_usd_at_1_0851(bamboo_client):
    body = bamboo_client.get("/api/integration/v1.0/exchange-rates", baseCurrency="EUR", currency="USD").json()
    assert body == {"baseCurrencyCode": "EUR", "rates": [{"currencyCode": "USD", "value": 1.0851}]}


def test_a_sandbox_on_a_chosen_port_serves_there_with_its_own_options():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with start_sandbox(port=port, spacing_ms=123, access_log=True) as sandbox:
        assert sandbox.url == f"http://127.0.0.1:{port}"
        assert sandbox.admin_get("/_sandbox/config")["spacing_ms"] == 123


def test_the_process_exits_0_on_sigterm_even_while_holding_a_connection():
    with start_sandbox() as sandbox:
        sandbox.schedule_fault("timeout_after_commit", count=1, hold_ms=60_000)
        client = BambooClient(sandbox.url)
        with pytest.raises(requests.ReadTimeout):
            client.place_order([{"ProductId": 100002, "Quantity": 1, "Value": 5}], timeout=0.3)
        sandbox.process.send_signal(signal.SIGTERM)
        assert sandbox.process.wait(timeout=5) == 0


def test_cli_main_serves_until_sigint_and_returns_0():
    code = "import sys; from sandbox.cli import main; sys.exit(main(['bamboo', '--port', '0']))"
    process = subprocess.Popen([sys.executable, "-c", code], cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline()
        assert line.startswith("bamboo sandbox listening on http://127.0.0.1:")
        url = line.split("listening on ")[1].strip()
        assert requests.get(url + "/_sandbox/health", timeout=5).json() == {"ok": True}
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=5) == 0
    finally:
        process.kill()
        process.wait()
        process.stdout.close()


def test_a_bad_option_value_stops_the_cli_with_an_error():
    result = subprocess.run(
        [sys.executable, "-m", "sandbox", "bamboo", "--port", "0", "--product-limit", "0"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=10,
    )
    assert result.returncode != 0 and "product_limit" in result.stderr
