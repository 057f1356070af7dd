"""The provider's catalog and accounts: fetched from the sandbox over HTTP, cached in a real Redis, refreshed rarely."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest
import redis

from config.settings import Credential, Limits, Settings
from worker.cli.processes import Sandbox
from worker.errors import CatalogUnavailable, ProviderError
from worker.keys import Keys
from worker.orders.catalog import CatalogCache
from worker.providers.bamboo import BambooClient

NO_CATALOG_CLIENT = Credential(client_id="giftq-nocatalog", client_secret="nocatalog-secret", limits=Limits())


def client_of(settings: Settings, credential: Credential | None = None, **options: int) -> BambooClient:
    """A Bamboo client of the test's sandbox, with its first credential unless another is given."""
    bamboo = settings.bamboo
    return BambooClient(bamboo.base_url, credential or bamboo.credentials[0], timeout_s=bamboo.timeout_s, **options)


def catalog_calls(sandbox: Sandbox, client_id: str) -> int:
    calls = sandbox.admin("GET", "calls")["calls"]
    return sum(call["endpoint"] in ("catalog", "accounts") and call["client"] == client_id for call in calls)


def a_cache(client: redis.Redis, prefix: str, provider: BambooClient, **timing: int) -> CatalogCache:
    timing = {"refresh_s": 900, "retry_s": 30, **timing}
    return CatalogCache(client, Keys(prefix), provider, **timing)


@pytest.fixture
def provider(settings: Settings) -> BambooClient:
    return client_of(settings)


def test_accounts_lists_every_account_of_the_credential_with_its_environment(provider: BambooClient) -> None:
    accounts = {account.id: account for account in provider.accounts()}
    assert set(accounts) == {555, 556, 557, 9555}
    assert accounts[556].currency == "EUR"
    assert accounts[557].active is False
    assert accounts[9555].sandbox_mode is False
    assert accounts[555].active and accounts[555].sandbox_mode


def test_catalog_reads_every_page_of_the_v2_catalog(settings: Settings, sandbox: Sandbox) -> None:
    # Given a client that asks for ten brands a page (the sandbox has 23 brands)
    provider = client_of(settings, catalog_page_size=10)
    before = catalog_calls(sandbox, "giftq-demo")

    # When it fetches the catalog, then it made three calls and has every product with its range and stock
    products = {product.id: product for product in provider.catalog()}
    assert catalog_calls(sandbox, "giftq-demo") - before == 3
    assert set(products) == {439685, 100001, 100002, 100003, 100004, 100005, 100006, 100007, *range(100010, 100025)}
    assert (products[439685].min_face_value, products[439685].max_face_value) == (Decimal(5), Decimal(500))
    assert products[439685].currency == "EUR"
    assert products[100005].stock == 0
    assert products[100001].stock is None


def test_a_client_without_catalog_is_a_provider_error(settings: Settings) -> None:
    provider = client_of(settings, NO_CATALOG_CLIENT)
    with pytest.raises(ProviderError, match="ClientCatalogNotExist"):
        provider.catalog()


def test_the_cache_asks_the_provider_once_and_then_serves_from_redis(
    redis_client: redis.Redis, key_prefix: str, provider: BambooClient, sandbox: Sandbox
) -> None:
    cache = a_cache(redis_client, key_prefix, provider)
    before = catalog_calls(sandbox, "giftq-demo")
    first = cache.snapshot()
    again = a_cache(redis_client, key_prefix, provider).snapshot()  # another process, the same Redis
    assert catalog_calls(sandbox, "giftq-demo") - before == 2  # one Get Accounts, one Get Catalog page
    assert again.products == first.products
    assert again.accounts == first.accounts


def test_a_stale_cache_is_refreshed(
    redis_client: redis.Redis, key_prefix: str, provider: BambooClient, sandbox: Sandbox
) -> None:
    cache = a_cache(redis_client, key_prefix, provider, refresh_s=0)
    first = cache.snapshot()
    before = catalog_calls(sandbox, "giftq-demo")
    second = cache.snapshot()
    assert catalog_calls(sandbox, "giftq-demo") - before == 2
    assert second.fetched_ms >= first.fetched_ms


def test_of_many_processes_finding_no_cache_only_one_asks_the_provider(
    redis_client: redis.Redis, redis_url: str, key_prefix: str, settings: Settings, sandbox: Sandbox
) -> None:
    # Given 20 threads, each with its own Redis connection and provider client, and an empty cache
    before = catalog_calls(sandbox, "giftq-demo")
    barrier = threading.Barrier(20)
    products = []

    def look_up() -> None:
        own_redis = redis.Redis.from_url(redis_url)
        cache = a_cache(own_redis, key_prefix, client_of(settings))
        barrier.wait()
        products.append(len(cache.snapshot().products))
        own_redis.close()

    threads = [threading.Thread(target=look_up) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    # Then all of them have the catalog, and the provider was asked once
    assert products == [23] * 20
    assert catalog_calls(sandbox, "giftq-demo") - before == 2


def test_without_any_catalog_intake_is_told_it_is_unavailable_and_the_provider_is_not_hammered(
    redis_client: redis.Redis, key_prefix: str, settings: Settings, sandbox: Sandbox
) -> None:
    # Given a credential whose catalog the provider refuses
    provider = client_of(settings, NO_CATALOG_CLIENT)
    before = catalog_calls(sandbox, "giftq-nocatalog")

    # When ten orders in a row need the catalog, each is told it is unavailable
    for _ in range(10):
        with pytest.raises(CatalogUnavailable):
            a_cache(redis_client, key_prefix, provider).snapshot()

    # Then the provider was asked once (Get Accounts and Get Catalog), not ten times
    assert catalog_calls(sandbox, "giftq-nocatalog") - before == 2


def test_a_stale_copy_keeps_serving_while_the_provider_fails(
    redis_client: redis.Redis, key_prefix: str, settings: Settings
) -> None:
    # Given a cached snapshot from a working credential
    good = a_cache(redis_client, key_prefix, client_of(settings)).snapshot()
    # When it is stale and the provider cannot be reached (the same credential, a wrong base URL)
    bamboo = settings.bamboo
    broken = BambooClient(bamboo.base_url + "/nowhere", bamboo.credentials[0], timeout_s=bamboo.timeout_s)
    served = a_cache(redis_client, key_prefix, broken, refresh_s=0).snapshot()
    # Then the stale copy is served
    assert served.products == good.products
    assert served.fetched_ms == good.fetched_ms
