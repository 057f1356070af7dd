"""The order store on a real Redis: created once per RequestId, moved by compare-and-set only."""

from __future__ import annotations

import threading
import uuid

import pytest
import redis

from tests.waiting import wait_for
from worker.cli.redis_server import RedisServer
from worker.errors import StoreError
from worker.keys import Keys
from worker.orders import states
from worker.orders.store import OrderStore, check_durable

REQUEST = {"RequestId": "r", "AccountId": 555, "Products": [{"ProductId": 100001, "Quantity": 1, "Value": "10.00"}]}


@pytest.fixture
def store(redis_client: redis.Redis, key_prefix: str) -> OrderStore:
    return OrderStore(redis_client, Keys(key_prefix), retention_s=3600)


def test_second_create_of_a_request_id_keeps_the_first_record(store: OrderStore) -> None:
    request_id = str(uuid.uuid4())
    assert store.create(request_id, REQUEST, credential="a") is True
    assert store.create(request_id, {**REQUEST, "AccountId": 1}, credential="b") is False
    record = store.get(request_id)
    assert record.state == states.ACCEPTED
    assert record.request["AccountId"] == 555
    assert record.credential == "a"


def test_create_record_returns_the_record_as_stored_and_none_for_a_request_id_taken(store: OrderStore) -> None:
    request_id = str(uuid.uuid4())
    created = store.create_record(request_id, REQUEST, credential="a", producer="shop", idempotency_key="k-1",
                                  notify='{"Task": "shop.done"}')  # fmt: skip
    assert created == store.get(request_id)
    assert (created.state, created.credential, created.producer, created.idempotency_key) == (
        states.ACCEPTED, "a", "shop", "k-1")  # fmt: skip
    assert created.request == REQUEST and created.notify == {"Task": "shop.done"}
    assert created.created_ms == created.updated_ms > 0
    assert store.create_record(request_id, {**REQUEST, "AccountId": 1}, credential="b") is None
    assert store.get(request_id) == created


def test_transitions_move_forward_and_leave_a_timestamped_history(store: OrderStore) -> None:
    request_id = str(uuid.uuid4())
    store.create(request_id, REQUEST)
    assert store.transition(request_id, states.SUBMITTING)
    assert store.transition(request_id, states.PLACED, note="ok")
    assert store.transition(request_id, states.FULFILLED, summary='{"cards_issued": 1}')
    history = store.history(request_id)
    assert [entry["to"] for entry in history] == ["accepted", "submitting", "placed", "fulfilled"]
    assert [entry.get("from") for entry in history] == [None, "accepted", "submitting", "placed"]
    assert history[2]["note"] == "ok"
    assert all(a["at_ms"] <= b["at_ms"] for a, b in zip(history, history[1:], strict=False))
    assert store.get(request_id).summary == {"cards_issued": 1}


def test_a_late_event_never_moves_an_order_backwards(store: OrderStore) -> None:
    request_id = str(uuid.uuid4())
    store.create(request_id, REQUEST)
    for target in (states.SUBMITTING, states.PLACED, states.FULFILLED):
        store.transition(request_id, target)
    assert store.transition(request_id, states.PLACED) is False
    assert store.transition(request_id, states.SUBMITTING) is False
    assert store.get(request_id).state == states.FULFILLED


def test_no_state_may_return_to_accepted(store: OrderStore) -> None:
    with pytest.raises(StoreError):
        store.transition(str(uuid.uuid4()), states.ACCEPTED)


def test_transition_of_an_unknown_order_is_an_error(store: OrderStore) -> None:
    with pytest.raises(StoreError):
        store.transition(str(uuid.uuid4()), states.SUBMITTING)


def test_of_many_racing_workers_exactly_one_wins_the_move_to_submitting(store: OrderStore) -> None:
    request_id = str(uuid.uuid4())
    store.create(request_id, REQUEST)
    wins = []
    barrier = threading.Barrier(16)

    def race() -> None:
        barrier.wait()
        wins.append(store.transition(request_id, states.SUBMITTING))

    threads = [threading.Thread(target=race) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert wins.count(True) == 1
    assert len(store.history(request_id)) == 2


def test_state_indexes_follow_the_moves(store: OrderStore) -> None:
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    store.create(first, REQUEST)
    store.create(second, REQUEST)
    store.transition(first, states.SUBMITTING)
    assert store.count_by_state()[states.ACCEPTED] == 1
    assert store.request_ids(states.SUBMITTING) == [first]


def test_final_orders_expire_after_the_retention_time(store: OrderStore, redis_client: redis.Redis) -> None:
    request_id = str(uuid.uuid4())
    store.create_rejected(request_id, REQUEST, "NoProducts")
    assert store.get(request_id).reason == "NoProducts"
    ttl = redis_client.ttl(Keys(store._keys.prefix).order(request_id))
    assert 0 < ttl <= 3600


def test_the_private_test_redis_is_accepted_as_durable(redis_client: redis.Redis) -> None:
    check_durable(redis_client)


@pytest.mark.parametrize(("setting", "value"), [("maxmemory-policy", "allkeys-lru"), ("appendonly", "no")])
def test_a_redis_that_may_evict_or_forget_is_refused_as_a_store(setting: str, value: str) -> None:
    with RedisServer() as server:
        volatile = redis.Redis.from_url(server.url)
        volatile.config_set(setting, value)
        with pytest.raises(StoreError, match="may lose orders"):
            check_durable(volatile)
        volatile.close()


def test_pages_of_a_state_list_every_order_once_even_while_orders_leave_it(store: OrderStore) -> None:
    # Given seven accepted orders
    request_ids = [str(uuid.uuid4()) for _ in range(7)]
    for request_id in request_ids:
        store.create(request_id, REQUEST)

    # When they are read three a page, while the first order read moves on between pages
    first = store.page(states.ACCEPTED, limit=3)
    store.transition(first.orders[0].request_id, states.SUBMITTING)
    second = store.page(states.ACCEPTED, limit=3, after=first.next_cursor)
    third = store.page(states.ACCEPTED, limit=3, after=second.next_cursor)

    # Then every order was listed once, and the last page says so with no cursor
    listed = [order.request_id for page in (first, second, third) for order in page.orders]
    assert sorted(listed) == sorted(request_ids)
    assert len(third.orders) == 1
    assert third.next_cursor is None


def test_a_page_for_one_producer_holds_only_its_orders(store: OrderStore) -> None:
    mine = [str(uuid.uuid4()) for _ in range(3)]
    for index, request_id in enumerate(mine):
        store.create(request_id, REQUEST, producer="shop")
        store.create(str(uuid.uuid4()), REQUEST, producer=f"other-{index}")
    page = store.page(states.ACCEPTED, limit=10, producer="shop")
    assert sorted(order.request_id for order in page.orders) == sorted(mine)


def test_a_cursor_giftq_did_not_make_is_refused(store: OrderStore) -> None:
    with pytest.raises(StoreError):
        store.page(states.ACCEPTED, limit=10, after="nonsense")


def test_index_entries_of_expired_final_orders_are_purged(redis_client: redis.Redis, key_prefix: str) -> None:
    # Given a store that keeps final orders one second, with one rejected and one accepted order
    store = OrderStore(redis_client, Keys(key_prefix), retention_s=1)
    rejected, accepted = str(uuid.uuid4()), str(uuid.uuid4())
    store.create_rejected(rejected, REQUEST, "NoProducts")
    store.create(accepted, REQUEST)

    # When the rejected record has expired, a purge drops its index entry and keeps the live order's
    wait_for(lambda: store.get(rejected) is None, timeout_s=5, what="the rejected record to expire")
    wait_for(lambda: store.purge_expired() == 1, timeout_s=5, what="the purge to drop one entry")
    assert store.count_by_state()[states.REJECTED] == 0
    assert store.count_by_state_and_provider()[(states.REJECTED, "bamboo")] == 0
    assert store.request_ids(states.ACCEPTED) == [accepted]
    assert store.count_by_state_and_provider()[(states.ACCEPTED, "bamboo")] == 1


def test_orders_are_counted_by_state_under_their_own_provider_through_every_move(store: OrderStore) -> None:
    # Given a Bamboo order and a BHN order, both accepted, and a record of before providers (no provider field)
    bamboo, bhn, older = str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4())
    store.create(bamboo, REQUEST, provider="bamboo")
    store.create(bhn, REQUEST, provider="bhn")
    store.create(older, REQUEST)
    assert store.count_by_state_and_provider()[(states.ACCEPTED, "bamboo")] == 2
    assert store.count_by_state_and_provider()[(states.ACCEPTED, "bhn")] == 1

    # When the BHN order moves to placed, and a late move of it is refused
    store.transition(bhn, states.SUBMITTING)
    store.transition(bhn, states.PLACED)
    assert store.transition(bhn, states.SUBMITTING) is False

    # Then it left BHN's accepted count for BHN's placed, the Bamboo orders stayed where they were
    counts = store.count_by_state_and_provider()
    assert counts[(states.ACCEPTED, "bhn")] == 0
    assert counts[(states.PLACED, "bhn")] == 1
    assert counts[(states.ACCEPTED, "bamboo")] == 2
    assert sum(counts.values()) == sum(store.count_by_state().values()) == 3


def test_orders_stored_before_the_provider_indexes_are_indexed_once_with_their_scores(
    store: OrderStore, redis_client: redis.Redis, key_prefix: str
) -> None:
    # Given a store written by a giftq without per-provider indexes: a BHN order placed, a Bamboo order accepted,
    # and an index entry whose record has expired
    keys = Keys(key_prefix)
    bhn, bamboo, expired = str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4())
    store.create(bhn, REQUEST, provider="bhn")
    store.transition(bhn, states.SUBMITTING)
    store.transition(bhn, states.PLACED)
    store.create(bamboo, REQUEST, provider="bamboo")
    store.create(expired, REQUEST, provider="bamboo")
    redis_client.delete(keys.order(expired))
    redis_client.delete(*(keys.provider_state_index(p, state) for p in ("bamboo", "bhn") for state in states.ALL))
    assert sum(store.count_by_state_and_provider().values()) == 0

    # When a worker starts on it
    indexed = store.index_by_provider()

    # Then each live order is counted under its provider and state, entered at the time its state's index says
    assert indexed == 2
    counts = store.count_by_state_and_provider()
    assert counts[(states.PLACED, "bhn")] == 1
    assert counts[(states.ACCEPTED, "bamboo")] == 1
    assert sum(counts.values()) == 2
    for state, request_id, provider in ((states.PLACED, bhn, "bhn"), (states.ACCEPTED, bamboo, "bamboo")):
        entered = redis_client.zscore(keys.state_index(state), request_id)
        assert redis_client.zscore(keys.provider_state_index(provider, state), request_id) == entered
    # and the next start finds it done, and a move after it keeps the counts
    assert store.index_by_provider() == 0
    store.transition(bhn, states.FULFILLED)
    assert store.count_by_state_and_provider()[(states.PLACED, "bhn")] == 0
    assert store.count_by_state_and_provider()[(states.FULFILLED, "bhn")] == 1
