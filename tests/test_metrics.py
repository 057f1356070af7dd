"""giftq's metrics: how a provider call is counted, and the settings (a worker's metrics port needs a shared
directory; the API's token stays secret)."""

from __future__ import annotations

import pytest
from prometheus_client import REGISTRY

from config.settings import SettingsError, settings_from
from worker import metrics
from worker.errors import OrderRejected, RateLimited

TOKEN = "metrics-token-of-the-tests"


def test_a_provider_call_is_timed_under_the_outcome_its_error_names_and_a_429_is_counted() -> None:
    # In this process (no GIFTQ_METRICS_DIR) the values are its own; "unit" is a provider no other test uses.
    def count(name: str, **labels: str) -> float:
        return REGISTRY.get_sample_value(name, {"provider": "unit", **labels}) or 0.0

    with metrics.provider_call(metrics.PLACE_ORDER, "unit"):
        pass
    with pytest.raises(RateLimited), metrics.provider_call(metrics.PLACE_ORDER, "unit"):
        raise RateLimited(wait_s=1)
    with pytest.raises(OrderRejected), metrics.provider_call(metrics.PLACE_ORDER, "unit"):
        raise OrderRejected("InvalidValue")
    assert count("giftq_place_order_seconds_count", outcome="ok") == 1
    assert count("giftq_place_order_seconds_count", outcome="rate_limited") == 1
    assert count("giftq_place_order_seconds_count", outcome="rejected") == 1
    assert count("giftq_provider_rate_limited_total", call="place_order") == 1
    assert count("giftq_get_order_seconds_count", outcome="ok") == 0


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
