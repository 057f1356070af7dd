"""Callbacks go only where they should: a CallbackUrl whose host is, or resolves to, a loopback, private,
link-local, multicast, reserved, unspecified or shared address is refused at intake (`InvalidCallbackUrl`),
whatever form the address is written in; a name that resolves elsewhere at delivery fails the attempt; and a
callback connects to the address that was checked, never to a fresh look-up of the name.

Each test starts from the attack: a callback aimed at a listener on 127.0.0.1 (in the incident, the sandbox's
`/_sandbox/reset`), and checks that nothing reaches it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from celery import Celery

from tests.callback_receiver import CallbackReceiver
from tests.notify_helpers import CALLBACK_SECRET, LOOPBACK_ONLY, final_order, made_final, notifier_for
from tests.waiting import final_state, wait_for
from worker.cli.processes import Sandbox
from worker.errors import OrderRejected
from worker.orders import states
from worker.orders.destinations import system_resolver
from worker.orders.intake import Intake
from worker.orders.notifications import DELIVERED, FAILING
from worker.orders.notify_rules import NotifyRules
from worker.runtime import Runtime

pytestmark = pytest.mark.timeout(90)

PORT = 8080  # the URL's port where no listener is needed (intake refuses before anything connects)
# Each address class giftq refuses, written the ways an attacker writes it; all are checked on what getaddrinfo gives.
REFUSED = {
    "localhost": "http://localhost:{port}/giftq-callback",
    "loopback": "http://127.0.0.1:{port}/giftq-callback",
    "loopback, hexadecimal": "http://0x7f000001:{port}/giftq-callback",
    "loopback, one decimal number": "http://2130706433:{port}/giftq-callback",
    "loopback, octal": "http://0177.0.0.1:{port}/giftq-callback",
    "loopback, short form": "http://127.1:{port}/giftq-callback",
    "loopback, IPv4-mapped IPv6": "http://[::ffff:127.0.0.1]:{port}/giftq-callback",
    "loopback, IPv4-compatible IPv6": "http://[::127.0.0.1]:{port}/giftq-callback",
    "loopback, 6to4": "http://[2002:7f00:1::]:{port}/giftq-callback",
    "IPv6 loopback": "http://[::1]:{port}/giftq-callback",
    "cloud metadata (link-local)": "http://169.254.169.254/latest/meta-data/",
    "cloud metadata, IPv4-mapped": "http://[::ffff:169.254.169.254]/latest/meta-data/",
    "IPv6 link-local": "http://[fe80::1]/giftq-callback",
    "private 10/8": "http://10.0.0.5:{port}/giftq-callback",
    "private 192.168/16": "https://192.168.1.1/giftq-callback",
    "IPv6 unique local": "http://[fd00::1]/giftq-callback",
    "shared 100.64/10": "http://100.64.0.1/giftq-callback",
    "unspecified": "http://0.0.0.0:{port}/giftq-callback",
    "multicast": "http://224.0.0.1/giftq-callback",
    "reserved 240/4": "http://240.0.0.1/giftq-callback",
}
# Not http(s), or a user in the URL, or a backslash (where parsers disagree about the host).
MALFORMED = {
    "ftp": "ftp://93.184.216.34/giftq-callback",
    "file": "file:///etc/passwd",
    "user and password": "http://shop:secret@93.184.216.34/giftq-callback",
    "backslash before @": "http://93.184.216.34\\@127.0.0.1/giftq-callback",
    "no host": "http:///giftq-callback",
    "port 0": "http://93.184.216.34:0/giftq-callback",
}
PUBLIC = "http://93.184.216.34/giftq-callback"  # a public address: accepted (intake resolves it, never calls it)


@pytest.fixture(autouse=True)
def callback_env(giftq_env: dict[str, str]) -> dict[str, str]:
    """`shop` has a callback secret; no network is allowed beyond public ones; short notification backoffs."""
    giftq_env.update(GIFTQ_CALLBACK_SECRETS=f"shop:{CALLBACK_SECRET}", GIFTQ_NOTIFY_BACKOFF_MS="200",
                     GIFTQ_NOTIFY_MAX_BACKOFF_S="1")  # fmt: skip
    return giftq_env


@pytest.fixture
def receiver() -> Iterator[CallbackReceiver]:
    server = CallbackReceiver().start()
    yield server
    server.stop()


def an_order(callback_url: str) -> dict:
    return {"RequestId": str(uuid.uuid4()), "AccountId": 555,
            "Products": [{"ProductId": 100001, "Quantity": 1, "Value": 25}],
            "Notify": {"CallbackUrl": callback_url}}  # fmt: skip


def intake_of(rt: Runtime, enqueued: list[str], resolve=system_resolver) -> Intake:
    rules = NotifyRules.from_settings(rt.settings.notify, resolve=resolve)
    return Intake(store=rt.store, catalog_for=rt.catalog, credential_for=rt.credential_for,
                  sandbox_mode_for=lambda _: True,
                  enqueue=enqueued.append, notify_rules=rules)  # fmt: skip


@pytest.mark.parametrize("url", [*REFUSED.values(), *MALFORMED.values()], ids=[*REFUSED, *MALFORMED])
def test_an_order_whose_callback_is_not_a_public_http_destination_is_refused_at_intake(rt: Runtime, url: str) -> None:
    # Given an order whose callback names a refused destination
    enqueued: list[str] = []
    order = an_order(url.format(port=PORT))
    # When it is submitted, then it is refused with its own reason, stored so, and never enqueued
    with pytest.raises(OrderRejected) as refused:
        intake_of(rt, enqueued).submit(order, producer="shop")
    assert refused.value.reason == "InvalidCallbackUrl"
    record = rt.store.get(order["RequestId"])
    assert (record.state, record.reason, record.notify) == (states.REJECTED, "InvalidCallbackUrl", {})
    assert enqueued == []


def test_an_order_whose_callback_is_a_public_address_is_accepted(rt: Runtime) -> None:
    enqueued: list[str] = []
    order = an_order(PUBLIC)
    assert intake_of(rt, enqueued).submit(order, producer="shop").created
    assert rt.store.get(order["RequestId"]).notify == {"CallbackUrl": PUBLIC}
    assert enqueued == [order["RequestId"]]


def test_a_name_answering_a_public_and_a_loopback_address_is_refused_at_intake(rt: Runtime) -> None:
    answers = {"hooks.shop.example": ["93.184.216.34", "127.0.0.1"]}
    with pytest.raises(OrderRejected, match="loopback") as refused:
        intake_of(rt, [], resolve=lambda host, port: answers[host]).submit(
            an_order("http://hooks.shop.example/giftq-callback"), producer="shop"
        )
    assert refused.value.reason == "InvalidCallbackUrl"


def test_a_refused_order_submitted_again_is_refused_again_with_its_reason(rt: Runtime) -> None:
    order = an_order("http://0x7f000001/giftq-callback")
    for _ in range(2):
        with pytest.raises(OrderRejected) as refused:
            intake_of(rt, []).submit(order, producer="shop")
        assert refused.value.reason == "InvalidCallbackUrl"


def test_through_a_worker_no_refused_callback_reaches_a_listener_on_loopback_nor_the_order_the_provider(
    rt: Runtime, producer: Celery, sandbox: Sandbox, start_workers, receiver: CallbackReceiver
) -> None:
    # Given a listener on 127.0.0.1 and a worker that allows no private destination
    start_workers(1)
    forms = ("localhost", "loopback", "loopback, hexadecimal", "loopback, one decimal number",
             "loopback, IPv4-mapped IPv6", "IPv6 loopback", "cloud metadata (link-local)", "private 10/8")  # fmt: skip
    orders = [an_order(REFUSED[form].format(port=receiver.port)) for form in forms]
    # When a producer sends orders whose callbacks aim at it, in each form
    for order in orders:
        producer.send_task("giftq.submit_order", args=[order], kwargs={"producer": "shop"})
    # Then each is refused with its reason, none reached the provider, and the listener got nothing
    request_ids = [order["RequestId"] for order in orders]
    wait_for(lambda: all(final_state(rt, rid) for rid in request_ids), timeout_s=30, what="every order refused")
    refusals = {(rt.store.get(rid).state, rt.store.get(rid).reason) for rid in request_ids}
    assert refusals == {(states.REJECTED, "InvalidCallbackUrl")}
    assert not [call for call in sandbox.admin("GET", "calls")["calls"] if call["request_id"] in request_ids]
    assert receiver.received == []


def test_a_name_public_at_intake_and_loopback_at_delivery_fails_the_attempt_as_refused_and_reaches_nothing(
    rt: Runtime, receiver: CallbackReceiver
) -> None:
    # Given an order accepted with a callback to a name that then resolved to a public address
    answers = {"hooks.shop.example": ["93.184.216.34"]}
    resolve = lambda host, port: answers[host]  # noqa: E731
    url = f"http://hooks.shop.example:{receiver.port}/giftq-callback"
    submission = intake_of(rt, [], resolve=resolve).submit(an_order(url), producer="shop")
    record = made_final(rt, submission.order.request_id)
    # When, by delivery, the name resolves to the loopback address the listener is on (DNS rebinding)
    answers["hooks.shop.example"] = ["127.0.0.1"]
    outcome = notifier_for(rt, resolve=resolve).deliver(record, 0)
    # Then the attempt fails as refused (the order stays as it is), and the listener got nothing
    assert outcome.state == FAILING
    assert rt.store.get(record.request_id).notification["last_error"] == "refused"
    assert rt.store.get(record.request_id).state == states.FULFILLED
    assert receiver.received == []


def test_a_callback_connects_to_the_address_it_checked_and_keeps_the_name_in_its_host_header(
    rt: Runtime, receiver: CallbackReceiver
) -> None:
    # Given a name only the test's resolver knows, resolving to loopback, which the operator allows
    lookups: list[str] = []

    def resolve(host: str, port: int) -> list[str]:
        lookups.append(host)
        return ["127.0.0.1"]

    record = final_order(rt, {"CallbackUrl": f"http://hooks.shop.example:{receiver.port}/giftq-callback"})
    # When the notification is delivered
    outcome = notifier_for(rt, resolve=resolve, callback_allow_networks=LOOPBACK_ONLY).deliver(record, 0)
    # Then it reached the checked address after one look-up (the system resolver never knew the name),
    # and the request still names the host
    assert outcome.state == DELIVERED
    assert lookups == ["hooks.shop.example"]
    assert [(r.path, r.headers["Host"]) for r in receiver.received] == [
        ("/giftq-callback", f"hooks.shop.example:{receiver.port}")
    ]


def test_an_allowed_host_name_may_resolve_to_a_private_address(rt: Runtime, receiver: CallbackReceiver) -> None:
    record = final_order(rt, {"CallbackUrl": f"http://hooks.shop.internal:{receiver.port}/giftq-callback"})
    notifier = notifier_for(rt, resolve=lambda host, port: ["127.0.0.1"],
                            callback_allow_hosts=frozenset({"hooks.shop.internal"}))  # fmt: skip
    assert notifier.deliver(record, 0).state == DELIVERED
    assert len(receiver.received) == 1
