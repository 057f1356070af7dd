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
                         sandbox_mode=provider.sandbox_mode, synchronous=provider.synchronous)  # fmt: skip
    raise ValueError(f"no client for provider {provider.name!r}")
