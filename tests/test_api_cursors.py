"""`GET /orders` page cursors, against the real gunicorn API: opaque, and good only for the producer and state
they were given for. Orders are stored straight into the module's store (rejected ones stay where they are)."""

from __future__ import annotations

import uuid

import pytest
import requests

from tests.api_fixtures import auth
from worker.cli.processes import ApiServer
from worker.orders import states
from worker.orders.store import SCAN_BUDGET
from worker.runtime import Runtime

pytestmark = pytest.mark.timeout(90)


def store_rejected(rt: Runtime, producer: str, reason: str = "WrongAccount") -> str:
    """A rejected order of `producer`, stored as intake stores one; its RequestId."""
    request_id = str(uuid.uuid4())
    assert rt.store.create_rejected(request_id, {"RequestId": request_id, "AccountId": 555}, reason, producer=producer)
    return request_id


def list_page(api: ApiServer, producer: str, state: str, cursor: str | None, limit: int) -> requests.Response:
    params = {"state": state, "limit": limit, **({"cursor": cursor} if cursor else {})}
    return requests.get(f"{api.url}/orders", params=params, headers=auth(producer), timeout=30)


def every_page(api: ApiServer, producer: str, state: str, limit: int) -> list[dict]:
    """Every page of a producer's listing of `state`, following next_cursor to the end."""
    pages, cursor = [], None
    while True:
        page = list_page(api, producer, state, cursor, limit)
        assert page.status_code == 200, page.text
        pages.append(page.json())
        cursor = page.json()["next_cursor"]
        if cursor is None:
            return pages


def assert_refused_cursor(response: requests.Response, reason: str) -> None:
    assert response.status_code == 422, response.text
    body = response.json()
    assert (body["status"], body["reason"]) == (422, reason) and body["message"]


def test_two_producers_interleaved_each_page_through_their_own_orders_exactly_once(
    api: ApiServer, module_rt: Runtime
) -> None:
    # Given 23 rejected orders of shop and of blog, stored alternately, each with a reason of this test
    reason = f"Test{uuid.uuid4().hex[:8]}"
    mine: dict[str, list[str]] = {"shop": [], "blog": []}
    for _ in range(23):
        for producer in mine:
            mine[producer].append(store_rejected(module_rt, producer, reason))

    for producer, others in (("shop", "blog"), ("blog", "shop")):
        # When each producer lists its rejected orders five a page
        pages = every_page(api, producer, states.REJECTED, limit=5)
        seen = [order["request_id"] for page in pages for order in page["orders"] if order["reason"] == reason]

        # Then every page holds its own orders only, and all of them once (in order of the millisecond each
        # entered the state; orders of one millisecond come by RequestId)
        assert sorted(seen) == sorted(mine[producer])
        assert all(order["request_id"] not in mine[others] for page in pages for order in page["orders"])
        assert len(pages) >= 5
        cursors = [page["next_cursor"] for page in pages[:-1]]
        assert not any(request_id in cursor for cursor in cursors for request_id in mine[producer] + mine[others])


def test_past_the_scan_budget_a_cursor_names_no_order_of_another_producer(api: ApiServer, module_rt: Runtime) -> None:
    # Given more of blog's orders in a state than one page reads (SCAN_BUDGET), then three of shop's
    reason = f"Test{uuid.uuid4().hex[:8]}"
    blogs = {store_rejected(module_rt, "blog", reason) for _ in range(SCAN_BUDGET + 5)}
    shops = [store_rejected(module_rt, "shop", reason) for _ in range(3)]

    # When shop pages through its rejected orders
    pages = every_page(api, "shop", states.REJECTED, limit=100)

    # Then it gets its own three once, and no cursor it was given reveals one of blog's RequestIds
    assert sorted(o["request_id"] for page in pages for o in page["orders"] if o["reason"] == reason) == sorted(shops)
    cursors = [page["next_cursor"] for page in pages[:-1]]
    assert cursors and not any(request_id in cursor for cursor in cursors for request_id in blogs)


def test_a_cursor_of_another_producer_or_state_or_altered_is_refused(api: ApiServer, module_rt: Runtime) -> None:
    # Given a cursor blog was given for its rejected orders
    for _ in range(3):
        store_rejected(module_rt, "blog")
    cursor = list_page(api, "blog", states.REJECTED, None, limit=1).json()["next_cursor"]
    assert cursor and list_page(api, "blog", states.REJECTED, cursor, limit=1).status_code == 200

    # Then shop cannot use it, nor blog for another state, nor with one character changed
    assert_refused_cursor(list_page(api, "shop", states.REJECTED, cursor, limit=1), "InvalidCursor")
    assert_refused_cursor(list_page(api, "blog", states.ACCEPTED, cursor, limit=1), "InvalidCursor")
    altered = cursor[:20] + ("A" if cursor[20] != "A" else "B") + cursor[21:]
    assert_refused_cursor(list_page(api, "blog", states.REJECTED, altered, limit=1), "InvalidCursor")


def test_a_made_up_cursor_naming_another_producers_order_is_refused(api: ApiServer, module_rt: Runtime) -> None:
    # Given an order of blog, and a cursor in the store's own form that would start just before it
    request_id = store_rejected(module_rt, "blog")
    entered_ms = int(module_rt.redis.zscore(module_rt.keys.state_index(states.REJECTED), request_id))
    made_up = f"{entered_ms - 1}:{request_id}"

    # Then shop's listing refuses it rather than start there
    assert_refused_cursor(list_page(api, "shop", states.REJECTED, made_up, limit=1), "InvalidQuery")
