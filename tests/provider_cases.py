"""One provider under test, behind the same few questions, so an exactly-once fault test runs for each provider.

A `ProviderCase` says how to write an order for the provider, which credential places it, which sandbox serves
it, how many times the sandbox's ledger charged each order, which create calls arrived, and what "fulfilled once"
means there: every order fulfilled, each charged exactly once by the ledger (the charged-once audit, its cards
those the provider issued), and, for Bamboo, no limit broken by the judge.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from config.settings import BAMBOO, BHN
from tests.bhn_fixtures import BHN_CREDENTIAL, BHN_PRODUCTS, a_bhn_order, bhn_charges, bhn_creates
from tests.fault_fixtures import an_order, assert_charged_once, assert_fulfilled_once, checkout_calls
from tests.waiting import final_state, wait_for
from worker.cli.processes import Sandbox
from worker.orders import states
from worker.runtime import Runtime

BAMBOO_PRODUCTS = ((100001, "25"), (100002, "50"), (100004, "30"), (439685, "10"))


@dataclass
class ProviderCase:
    """The provider `name`, its sandbox for this test, and giftq's environment variables' prefix for it."""

    name: str
    sandbox: Sandbox
    credential: str  # the credential's key inside giftq
    env_prefix: str  # GIFTQ_BAMBOO_ or GIFTQ_BHN_
    _order: Callable[[int], dict]

    def order(self, index: int = 0) -> dict:
        """An order of the provider's `index`-th test product (one card)."""
        return self._order(index)

    def setting(self, name: str) -> str:
        """The environment variable of one of this provider's settings: `setting("TIMEOUT_S")`."""
        return self.env_prefix + name

    def charges(self, request_ids: list[str]) -> dict[str, int]:
        """How many times the provider's ledger charged each order."""
        if self.name == BHN:
            return bhn_charges(self.sandbox, request_ids)
        accepted = self.sandbox.admin("GET", "findings")["accepted_request_ids"]
        return {rid: accepted.count(rid) for rid in request_ids}

    def creates(self, request_ids: set[str] | None = None) -> list[dict]:
        """The Place Order (Bamboo) or Create order (BHN) calls that arrived, of these orders if given."""
        if self.name == BHN:
            return bhn_creates(self.sandbox, request_ids)
        calls = checkout_calls(self.sandbox)
        return [call for call in calls if request_ids is None or call.get("request_id") in request_ids]

    def assert_fulfilled_once(self, rt: Runtime, request_ids: list[str], timeout_s: float = 40) -> None:
        """Every order fulfilled; each charged exactly once by the ledger, holding the cards it was issued."""
        if self.name == BAMBOO:
            assert_fulfilled_once(rt, self.sandbox, request_ids, timeout_s=timeout_s)
            return
        wait_for(lambda: all(final_state(rt, rid) for rid in request_ids), timeout_s=timeout_s, what="final orders")
        assert {final_state(rt, rid) for rid in request_ids} == {states.FULFILLED}
        assert self.charges(request_ids) == dict.fromkeys(request_ids, 1), "each order charged exactly once"
        assert self.sandbox.admin("GET", "findings")["charged_more_than_once"] == []
        assert_charged_once(rt, self.sandbox, request_ids, provider=BHN)


def bamboo_case(sandbox: Sandbox) -> ProviderCase:
    return ProviderCase(BAMBOO, sandbox, "giftq-demo", "GIFTQ_BAMBOO_",
                        lambda index: an_order(*BAMBOO_PRODUCTS[index % len(BAMBOO_PRODUCTS)]))  # fmt: skip


def bhn_case(sandbox: Sandbox) -> ProviderCase:
    return ProviderCase(BHN, sandbox, BHN_CREDENTIAL, "GIFTQ_BHN_",
                        lambda index: a_bhn_order(*BHN_PRODUCTS[index % len(BHN_PRODUCTS)]))  # fmt: skip
