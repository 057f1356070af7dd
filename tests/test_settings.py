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
