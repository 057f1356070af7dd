"""giftq's metrics settings: a worker's metrics port needs a shared directory; the API's token stays secret."""

from __future__ import annotations

import pytest

from config.settings import SettingsError, settings_from

TOKEN = "metrics-token-of-the-tests"


def test_a_worker_metrics_port_without_a_metrics_directory_is_refused_at_start(giftq_env: dict) -> None:
    # The pool's processes would count in memory of their own, where the main process's port never looks.
    with pytest.raises(SettingsError, match="GIFTQ_METRICS_DIR"):
        settings_from({**giftq_env, "GIFTQ_WORKER_METRICS_PORT": "9100", "GIFTQ_METRICS_DIR": ""})


def test_the_metrics_token_is_kept_out_of_the_settings_repr(giftq_env: dict) -> None:
    settings = settings_from({**giftq_env, "GIFTQ_METRICS_TOKEN": TOKEN})
    assert settings.metrics.token == TOKEN
    assert TOKEN not in repr(settings)


def test_a_metrics_token_shorter_than_16_characters_is_refused(giftq_env: dict) -> None:
    with pytest.raises(SettingsError, match="GIFTQ_METRICS_TOKEN"):
        settings_from({**giftq_env, "GIFTQ_METRICS_TOKEN": "short"})
