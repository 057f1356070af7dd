"""Settings that would make the throttle unsafe or useless are refused at start, with the variable named."""

from __future__ import annotations

import pytest

from config.settings import MIN_MARGIN_MS, SettingsError, settings_from

CREDENTIALS = {"GIFTQ_BAMBOO_CLIENT_ID": "giftq-demo", "GIFTQ_BAMBOO_CLIENT_SECRET": "demo-secret"}


def test_the_default_margin_leaves_a_placing_task_its_send_budget() -> None:
    limits = settings_from(CREDENTIALS).bamboo.credential("giftq-demo").limits
    assert limits.margin_ms >= MIN_MARGIN_MS


@pytest.mark.parametrize(
    "environ",
    [
        {"GIFTQ_BAMBOO_MARGIN_MS": str(MIN_MARGIN_MS - 1)},
        {"GIFTQ_BAMBOO_CLIENT_LIMITS": '{"giftq-demo": {"margin_ms": 0}}'},
    ],
    ids=["for every credential", "for one credential"],
)
def test_a_margin_too_small_to_send_in_is_refused(environ: dict[str, str]) -> None:
    with pytest.raises(SettingsError, match="GIFTQ_BAMBOO_MARGIN_MS of giftq-demo must be at least"):
        settings_from(CREDENTIALS | environ)


def test_an_unknown_spacing_mode_is_refused() -> None:
    with pytest.raises(SettingsError, match="GIFTQ_BAMBOO_SPACING_MODE"):
        settings_from(CREDENTIALS | {"GIFTQ_BAMBOO_SPACING_MODE": "middle"})


BHN = {"GIFTQ_BHN_CLIENT_ID": "bhn-a", "GIFTQ_BHN_CLIENT_SECRET": "secret-a",
       "GIFTQ_BHN_EXTRA_CLIENTS": "bhn-b:secret-b", "GIFTQ_BHN_ACCOUNT_CLIENTS": "acme-ca=bhn-b",
       "GIFTQ_BHN_SPACING_MS": "250", "GIFTQ_BHN_CLIENT_LIMITS": '{"bhn-b": {"spacing_ms": 1000}}'}  # fmt: skip


def test_each_provider_has_its_own_credentials_limits_and_routes_keyed_apart() -> None:
    settings = settings_from(CREDENTIALS | BHN)
    # Each BHN credential is named bhn:<client id> inside giftq, so no BHN client id can meet a Bamboo one
    assert [c.key for c in settings.credentials()] == ["giftq-demo", "bhn:bhn-a", "bhn:bhn-b"]
    assert settings.bhn.key_for_account("acme-ca") == "bhn:bhn-b" and settings.bhn.key_for_account(None) == "bhn:bhn-a"
    assert settings.credential("bhn:bhn-a").limits.spacing_ms == 250
    assert settings.credential("bhn:bhn-b").limits.spacing_ms == 1000
    assert settings.credential("giftq-demo").limits.spacing_ms == 500  # Bamboo's own, untouched
    assert "secret-a" not in repr(settings) and "secret-b" not in repr(settings)


def test_a_bhn_client_id_without_its_secret_or_a_bad_wait_time_is_refused() -> None:
    with pytest.raises(SettingsError, match="Blackhawk Network client id is set without its secret"):
        settings_from(CREDENTIALS | {"GIFTQ_BHN_CLIENT_ID": "bhn-a"})
    with pytest.raises(SettingsError, match="GIFTQ_BHN_WAIT_TIME_MS"):
        settings_from(CREDENTIALS | BHN | {"GIFTQ_BHN_WAIT_TIME_MS": "30001"})


def test_producer_accounts_name_bamboo_accounts_by_number_and_bhn_ones_by_bhn_slash_name() -> None:
    settings = settings_from(CREDENTIALS | {"GIFTQ_PRODUCER_ACCOUNTS": "shop:555+bhn/acme-ca,blog:bhn/default"})
    assert settings.producer_accounts == {"shop": frozenset({"555", "bhn/acme-ca"}), "blog": frozenset({"bhn/default"})}
    with pytest.raises(SettingsError, match="GIFTQ_PRODUCER_ACCOUNTS"):
        settings_from(CREDENTIALS | {"GIFTQ_PRODUCER_ACCOUNTS": "shop:acme"})
