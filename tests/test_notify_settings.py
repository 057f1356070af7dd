"""The notification settings an operator writes: Notify targets per producer, allowed callback networks and hosts.

A setting that would let a producer's notification run one of giftq's tasks, or land on one of giftq's queues,
is refused at start with the variable named, whatever else it says.
"""

from __future__ import annotations

import ipaddress

import pytest

from config.settings import SettingsError, settings_from

CREDENTIALS = {"GIFTQ_BAMBOO_CLIENT_ID": "giftq-demo", "GIFTQ_BAMBOO_CLIENT_SECRET": "demo-secret"}


def notify_settings(**environ: str):
    return settings_from(CREDENTIALS | environ).notify


def test_by_default_no_producer_may_name_a_task_and_no_private_network_is_allowed() -> None:
    notify = notify_settings()
    assert (notify.notify_tasks, notify.callback_allow_networks, notify.callback_allow_hosts) == ({}, (), frozenset())


def test_notify_tasks_are_read_as_task_and_queue_pairs_per_producer() -> None:
    notify = notify_settings(
        GIFTQ_NOTIFY_TASKS="shop:shop.order_done@shop, shop:shop.audit@shop-audit,blog:blog.done@blog"
    )
    assert notify.notify_tasks == {
        "shop": frozenset({("shop.order_done", "shop"), ("shop.audit", "shop-audit")}),
        "blog": frozenset({("blog.done", "blog")}),
    }


@pytest.mark.parametrize(
    "entry",
    [
        "shop:giftq.kick_schedules@shop",
        "shop:giftq.submit_order@shop",
        "shop:celery.backend_cleanup@shop",
        "shop:shop.order_done@giftq",
        "shop:shop.order_done@giftq.schedule",
        "shop:shop.order_done@giftq.notify",
        "shop:shop.order_done@celery",
        "shop:shop.order_done@_kombu.binding.giftq",
        "shop:shop.order_done@unacked",
        "shop:shop.order_done@giftq:order:97018cf7",
        "shop:shop.order_done@acme:order:1",  # the store's key prefix below
    ],
)
def test_a_notify_task_naming_a_task_or_queue_of_giftq_celery_or_the_store_is_refused_at_start(entry: str) -> None:
    with pytest.raises(SettingsError, match="GIFTQ_NOTIFY_TASKS: .* names a task or queue of giftq's own"):
        notify_settings(GIFTQ_NOTIFY_TASKS=entry, GIFTQ_KEY_PREFIX="acme")


@pytest.mark.parametrize(
    "entry", ["shop.order_done@shop", "shop:shop.order_done", "shop:@shop", "sh op:a@b", "s:a b@q"]
)
def test_a_malformed_notify_task_entry_is_refused_at_start(entry: str) -> None:
    with pytest.raises(SettingsError, match="GIFTQ_NOTIFY_TASKS: .* is not producer:task.name@queue"):
        notify_settings(GIFTQ_NOTIFY_TASKS=entry)


def test_allowed_callback_networks_and_hosts_are_read() -> None:
    notify = notify_settings(GIFTQ_CALLBACK_ALLOW_NETWORKS="127.0.0.1/32, 10.0.0.0/8,fd00::/8",
                             GIFTQ_CALLBACK_ALLOW_HOSTS="Hooks.Shop.Internal.,shop_web")  # fmt: skip
    assert notify.callback_allow_networks == tuple(
        map(ipaddress.ip_network, ("127.0.0.1/32", "10.0.0.0/8", "fd00::/8"))
    )
    assert notify.callback_allow_hosts == frozenset({"hooks.shop.internal", "shop_web"})


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        (
            {"GIFTQ_CALLBACK_ALLOW_NETWORKS": "10.0.0.1/8"},
            "GIFTQ_CALLBACK_ALLOW_NETWORKS: '10.0.0.1/8' is not a network",
        ),
        ({"GIFTQ_CALLBACK_ALLOW_NETWORKS": "localhost"}, "GIFTQ_CALLBACK_ALLOW_NETWORKS: 'localhost' is not a network"),
        ({"GIFTQ_CALLBACK_ALLOW_HOSTS": "127.0.0.1"}, "GIFTQ_CALLBACK_ALLOW_HOSTS: '127.0.0.1' is an address"),
        ({"GIFTQ_CALLBACK_ALLOW_HOSTS": "http://shop"}, "GIFTQ_CALLBACK_ALLOW_HOSTS: 'http://shop' is not a host name"),
        ({"GIFTQ_CALLBACK_TIMEOUT_S": "0"}, "GIFTQ_CALLBACK_TIMEOUT_S must be more than 0"),
    ],
)
def test_a_malformed_callback_setting_is_refused_at_start_with_its_variable_named(environ: dict, message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        notify_settings(**environ)
