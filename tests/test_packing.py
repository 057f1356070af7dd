"""Coalescing in the scheduler on a real Redis: which parked orders ride in one provider order at a slot.

Each rule is checked as Bamboo states it: at most 500 cards in one order (here a smaller ceiling, so a test stays
small), an order counts once toward each of its products' windows however many cards it carries, and one order
charges one account. Times are the tests' own clock (`now_ms`), so holds are exact.
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from decimal import Decimal
from types import SimpleNamespace

import redis

from config.settings import Limits
from tasks.packs import materialize_pack, split_plan
from worker.keys import Keys
from worker.orders.catalog import CatalogSnapshot
from worker.orders.store import OrderRecord
from worker.providers.base import Product
from worker.runtime import Runtime
from worker.throttle.scheduler import Go, Packing, Throttle, Wait

NOW = 10_000_000
LIMITS = Limits(spacing_ms=100, margin_ms=5, product_limit=2, product_window_ms=60_000, max_cards=10, coalesce=1,
                coalesce_hold_ms=1_000)  # fmt: skip


def park(throttle: Throttle, *lines: tuple[int, str, int], account: int = 555, age_ms: int = NOW, now_ms: int = NOW,
         limits: Limits = LIMITS, request_id: str | None = None):  # fmt: skip
    """Park one packable order of `lines` (product, value, quantity); its RequestId and the decision."""
    request_id = request_id or str(uuid.uuid4())
    packing = Packing(account, [{"ProductId": p, "Value": v, "Quantity": q} for p, v, q in lines])
    decision = throttle.park_and_schedule("client-a", limits, request_id=request_id, age_ms=age_ms,
                                          product_ids=[p for p, _, _ in lines], cards=sum(q for _, _, q in lines),
                                          packing=packing, now_ms=now_ms)  # fmt: skip
    return request_id, decision


def window_entries(client: redis.Redis, keys: Keys, product: int) -> list[bytes]:
    return client.zrange(f"{keys.schedule('client-a')}:window:{product}", 0, -1)


def test_a_lone_order_goes_at_once_and_alone(redis_client: redis.Redis, key_prefix: str) -> None:
    throttle = Throttle(redis_client, Keys(key_prefix))
    request_id, decision = park(throttle, (1, "10", 1))
    assert decision == Go(request_id, NOW, decision.token)
    assert throttle.pack("client-a", request_id) is None


def test_a_pack_takes_parked_orders_of_its_account_oldest_first_up_to_the_card_ceiling(
    redis_client: redis.Redis, key_prefix: str
) -> None:
    keys = Keys(key_prefix)
    throttle = Throttle(redis_client, keys)
    limits = replace(LIMITS, coalesce_hold_ms=0)  # packing alone here: no bottleneck product waits for more
    first, go = park(throttle, (1, "10", 1), limits=limits)  # goes alone: the driver's chain starts
    # Parked behind it, oldest first: orders of products 1 (two values), 2 and 3, and one of another account
    lines = [[(1, "10", 3)], [(2, "5", 3)], [(1, "20", 3)], [(3, "7", 4)]]
    parked = [park(throttle, *each, age_ms=NOW + i, limits=limits)[0] for i, each in enumerate(lines)]
    other_account, _ = park(throttle, (1, "10", 1), account=777, age_ms=NOW + 10, limits=limits)
    decision = throttle.schedule_next("client-a", limits, go.token, now_ms=NOW + 200)
    assert isinstance(decision, Go)
    pack = throttle.pack("client-a", decision.request_id)
    assert pack is not None and pack.pack_id not in parked
    # The oldest leads; its own product's orders come first, then product 2's (all it has parked fits); product
    # 3's order would make 13 cards of 10, the other account's may not share an order
    assert pack.member_ids == [parked[0], parked[2], parked[1]]
    merged = {(line["ProductId"], line["Value"]): line["Quantity"] for line in pack.lines}
    assert merged == {(1, "10"): 3, (1, "20"): 3, (2, "5"): 3}
    assert dict(pack.members)[parked[2]] == ({"ProductId": 1, "Value": "20", "Quantity": 3},)
    for left in (parked[3], other_account):
        assert redis_client.hexists(keys.parked("client-a"), left)
    for member in pack.member_ids:
        assert not redis_client.hexists(keys.parked("client-a"), member)
    # Each product's window counts the pack once, as one order
    assert window_entries(redis_client, keys, 1) == [f"{first}@{NOW}".encode(), f"{pack.pack_id}@{NOW + 200}".encode()]
    assert window_entries(redis_client, keys, 2) == [f"{pack.pack_id}@{NOW + 200}".encode()]
    assert window_entries(redis_client, keys, 3) == []


def test_a_product_without_room_in_its_window_is_not_added_to_a_pack(
    redis_client: redis.Redis, key_prefix: str
) -> None:
    throttle = Throttle(redis_client, Keys(key_prefix))
    limits = replace(LIMITS, product_limit=1, coalesce_hold_ms=0)
    _, go = park(throttle, (2, "5", 1), limits=limits)  # product 2's one order of the window
    leader, _ = park(throttle, (1, "10", 1), age_ms=NOW + 1, limits=limits)
    rider, _ = park(throttle, (1, "10", 1), age_ms=NOW + 2, limits=limits)
    late, _ = park(throttle, (2, "5", 1), age_ms=NOW + 3, limits=limits)
    decision = throttle.schedule_next("client-a", limits, go.token, now_ms=NOW + 200)
    pack = throttle.pack("client-a", decision.request_id)
    assert pack is not None and pack.member_ids == [leader, rider]
    assert throttle.holds("client-a", limits, late, now_ms=NOW + 200)  # still parked, for its next window


def test_a_member_parked_again_parks_its_whole_pack_and_no_order_rides_in_two(
    redis_client: redis.Redis, key_prefix: str
) -> None:
    keys = Keys(key_prefix)
    throttle = Throttle(redis_client, keys)
    limits = replace(LIMITS, product_window_ms=1_000, coalesce_hold_ms=0)
    _, go = park(throttle, (1, "10", 1), limits=limits)
    members = [park(throttle, (1, "10", 1), age_ms=NOW + i, limits=limits)[0] for i in range(3)]
    decision = throttle.schedule_next("client-a", limits, go.token, now_ms=NOW + 200)
    pack = throttle.pack("client-a", decision.request_id)
    assert pack is not None and pack.member_ids == members
    assert pack.lines == ({"ProductId": 1, "Value": "10", "Quantity": 3},)  # one product and value: one line
    # The pack's placing task is lost: past the lease, a sweep parks one member again
    later = NOW + 200 + limits.lease_ms + 1
    assert not throttle.holds("client-a", limits, members[1], now_ms=later)
    again = park(throttle, (1, "10", 1), request_id=members[1], now_ms=later, limits=limits)[1]
    # The pack goes again whole, under its own id: no member rides alone or in another pack
    assert isinstance(again, Go) and again.request_id == pack.pack_id
    assert throttle.pack("client-a", pack.pack_id).member_ids == members
    assert all(throttle.holds("client-a", limits, member, now_ms=later) for member in members)
    assert not any(redis_client.hexists(keys.parked("client-a"), member) for member in members)


def test_a_bottleneck_product_holds_its_pack_while_its_backlog_grows_then_spends_its_window_on_it(
    redis_client: redis.Redis, key_prefix: str
) -> None:
    throttle = Throttle(redis_client, Keys(key_prefix))
    _, go = park(throttle, (1, "10", 1))  # the window has one order left after this one
    # Three more arrive, 100 ms apart: more parked orders than the window has orders left, and not a full pack
    for i in range(3):
        park(throttle, (1, "10", 1), age_ms=NOW + 100 * i, now_ms=NOW + 100 * i)
    decision = throttle.schedule_next("client-a", LIMITS, go.token, now_ms=NOW + 300)
    # Held until the backlog has stopped growing for coalesce_hold_ms
    assert isinstance(decision, Wait) and decision.due_ms == NOW + 200 + LIMITS.coalesce_hold_ms
    decision = throttle.schedule_next("client-a", LIMITS, decision.token, now_ms=decision.due_ms)
    assert isinstance(decision, Go)
    assert len(throttle.pack("client-a", decision.request_id).member_ids) == 3


def test_a_bottleneck_product_spends_its_window_at_once_on_a_full_pack(
    redis_client: redis.Redis, key_prefix: str
) -> None:
    throttle = Throttle(redis_client, Keys(key_prefix))
    _, go = park(throttle, (1, "10", 1))
    members = [park(throttle, (1, "10", 5), age_ms=NOW + i, now_ms=NOW + i)[0] for i in range(3)]
    decision = throttle.schedule_next("client-a", LIMITS, go.token, now_ms=NOW + 200)
    assert isinstance(decision, Go)  # 10 cards parked fill a pack: no reason to hold the window's last order
    assert throttle.pack("client-a", decision.request_id).member_ids == members[:2]


class _Catalog:
    """The catalog a split reads: a snapshot with one product whose face values run 10..100 (stock: None, unlimited)."""

    def __init__(self, stock: int | None = None):
        self.stock = stock

    def snapshot(self) -> CatalogSnapshot:
        product = Product(100001, "Steam US", "USD", Decimal(10), Decimal(100), stock=self.stock)
        return CatalogSnapshot(products={100001: product}, accounts={}, fetched_ms=0)


def _member(value: str, quantity: int = 1) -> OrderRecord:
    request = {"AccountId": 555, "Products": [{"ProductId": 100001, "Value": value, "Quantity": quantity}]}
    return OrderRecord(request_id=str(uuid.uuid4()), state="packed", created_ms=0, updated_ms=0, request=request)


def test_a_refusal_the_catalog_names_a_line_for_rejects_its_members_and_packs_the_rest_again() -> None:
    # Given a pack of three orders, one of a face value the catalog's range (10..100) refuses
    members = [_member("25"), _member("500"), _member("30", 2)]
    lines = [line for member in members for line in member.request["Products"]]
    pack = OrderRecord(request_id=str(uuid.uuid4()), state="submitting", created_ms=0, updated_ms=0,
                       request={"AccountId": 555, "Products": lines}, credential="giftq-demo",
                       members=tuple(m.request_id for m in members))  # fmt: skip
    rt = SimpleNamespace(catalog=lambda credential: _Catalog())

    # When Bamboo answers InvalidDenomination, the member of that line is rejected, the others ride again together
    plan = split_plan(rt, pack, members, "InvalidDenomination")
    assert plan["refused"] == [members[1].request_id]
    assert [group["members"] for group in plan["groups"]] == [[members[0].request_id, members[2].request_id]]
    assert plan["groups"][0]["id"] != pack.request_id

    # And a refusal no member's own lines explain (a stock of 4 refused for 4 cards in all: each member's fit), or
    # of the whole order, halves the pack; a refusal of the account refuses everyone
    stocked = SimpleNamespace(catalog=lambda credential: _Catalog(stock=4))
    assert [len(g["members"]) for g in split_plan(stocked, pack, members, "ProductIsOutOfStock")["groups"]] == [1, 2]
    scarce = SimpleNamespace(catalog=lambda credential: _Catalog(stock=1))
    assert split_plan(scarce, pack, members, "ProductIsOutOfStock")["refused"] == [members[2].request_id]
    assert [len(g["members"]) for g in split_plan(rt, pack, members, "InsufficientBalance")["groups"]] == [1, 2]
    assert split_plan(rt, pack, members, "WrongAccount") == {"refused": [m.request_id for m in members], "groups": []}


def test_a_packs_record_is_written_once_and_a_later_delivery_of_its_slot_reads_it(rt: Runtime) -> None:
    # Given a pack the scheduler made at a slot: two orders parked behind one that went alone
    credential, limits = "giftq-demo", replace(rt.limits("giftq-demo"), coalesce_hold_ms=0)

    def park_one(age_ms: int):
        request_id = str(uuid.uuid4())
        packing = Packing(555, [{"ProductId": 1, "Value": "10", "Quantity": 1}])
        return rt.throttle.park_and_schedule(credential, limits, request_id=request_id, age_ms=age_ms,
                                             product_ids=[1], cards=1, packing=packing, now_ms=NOW)  # fmt: skip

    go = park_one(NOW)
    for age_ms in (NOW + 1, NOW + 2):
        park_one(age_ms)
    decision = rt.throttle.schedule_next(credential, limits, go.token, now_ms=NOW + 1_000)
    assert isinstance(decision, Go) and rt.throttle.pack(credential, decision.request_id) is not None

    # When its placing task makes the pack's record, and a second delivery of that task comes to it again
    first = materialize_pack(rt, credential, decision.request_id)
    again = materialize_pack(rt, credential, decision.request_id)

    # Then both have the one record, written once
    assert first is not None and first.is_pack and len(first.members) == 2
    assert again == first == rt.store.get(decision.request_id)
