"""The client of each configured credential, by its provider."""

from __future__ import annotations

from config.settings import BAMBOO, BHN, Credential, ProviderSettings
from worker.providers.bamboo import BambooClient
from worker.providers.base import Provider
from worker.providers.bhn import BhnClient


def client_for(provider: ProviderSettings, credential: Credential) -> Provider:
    """The client of one credential of `provider` (one HTTP session each)."""
    if provider.name == BAMBOO:
        return BambooClient(provider.base_url, credential, timeout_s=provider.timeout_s)
    if provider.name == BHN:
        return BhnClient(provider.base_url, provider.identity_url, credential, timeout_s=provider.timeout_s,
                         purchase_order_number=provider.purchase_order_number, wait_time_ms=provider.wait_time_ms,
                         source_configuration=provider.source_configuration,
                         sandbox_mode=provider.sandbox_mode, synchronous=provider.synchronous,
                         account_ids=bhn_accounts(provider, credential))  # fmt: skip
    raise ValueError(f"no client for provider {provider.name!r}")


def bhn_accounts(provider: ProviderSettings, credential: Credential) -> tuple[str, ...]:
    """The BHN accounts a credential may charge: "default" (an order naming no account: the credential's own
    account configuration) and those GIFTQ_BHN_ACCOUNT_CLIENTS routes to it. BHN has no accounts endpoint."""
    routed = sorted(
        str(account) for account, client in provider.account_clients.items() if client == credential.client_id
    )
    return ("default", *routed)
