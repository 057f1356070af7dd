"""Packs (coalescing): producer orders riding in one provider order, from the slot that made them to a refusal.

The scheduler makes a pack at a slot (worker/throttle/lua/schedule_next.lua) with its provider RequestId and each
member's lines. `materialize_pack` writes the pack's own record before its claim: a provider order like any other,
which placing, polling and reconciliation then carry unchanged; its members wait in `packed`. When it is final its
cards go to the members by their lines (tasks/orders.py, `finish_pack`).

A refused pack was never charged, and is split (`refuse_pack`): a refusal tied to lines (a face value out of range,
a product out of stock or unknown) rejects the members the catalog says it is about on their own, and packs the
rest again under a new RequestId; a refusal of the whole order (InsufficientBalance, ...) or one whose lines the
catalog cannot name splits the pack in halves, until a member refused alone is rejected; a refusal of the account
or the credential rejects every member. The plan is written into the refused pack's record as it is rejected,
before anything is moved, so a split cut short is finished from it (`carry_out_split`, also by reconciliation).
"""

from __future__ import annotations

import json
import logging
import uuid
from decimal import Decimal

from worker.errors import CatalogUnavailable
from worker.orders import states
from worker.orders.catalog import CatalogSnapshot
from worker.orders.store import PACKS, OrderRecord
from worker.runtime import Runtime

logger = logging.getLogger(__name__)

PACK_PRODUCER = "giftq:pack"  # the producer of a pack's record: no API key's name (api/apikeys.py), so no producer
LINE_REFUSALS = frozenset({"InvalidDenomination", "ProductIsOutOfStock", "InvalidProductIds", "InvalidProduct"})
WHOLE_ORDER_REFUSALS = frozenset({"InsufficientBalance", "CardsLimitExceeded", "ClientPriceInvalid"})


def materialize_pack(rt: Runtime, credential: str, pack_id: str) -> OrderRecord | None:
    """The record of a pack the scheduler made, written once: provider RequestId = its id, the merged lines; each
    member moves to `packed`, naming it. None if there is no such pack (the slot is not used)."""
    pack = rt.throttle.pack(credential, pack_id)
    if pack is None:
        return None
    request = {"AccountId": pack.account_id, "Products": list(pack.lines)}
    members = json.dumps(pack.member_ids)
    created = rt.store.create_record(pack_id, request, provider=rt.provider(credential).name, credential=credential,
                                     producer=PACK_PRODUCER, provider_request_id=pack_id, members=members,
                                     index_as=PACKS, **({"part_of": pack.part_of} if pack.part_of else {}))  # fmt: skip
    fields = {} if pack.part_of else {"pack": pack_id}  # an order in parts rides in several: its record lists them
    moved = rt.store.transition_many(pack.member_ids, states.PACKED, note=f"in provider order {pack_id}", **fields)
    if moved:
        logger.info("provider order %s packs %d orders (%d cards)", pack_id, len(pack.member_ids),
                    sum(line["Quantity"] for line in pack.lines))  # fmt: skip
    return created or rt.store.get(pack_id)  # written before (a second delivery, a sweep): read it


def order_parts(rt: Runtime, record: OrderRecord, max_cards: int) -> list[dict]:
    """The parts of an order of more cards than one provider order takes, each a provider order of at most
    `max_cards` cards with its own RequestId ([{"id", "lines"}]), made once: stored in the order's record before
    anything is parked, so every later look (a sweep, a second delivery) finds the same parts."""
    parts = list(record.parts)
    if not parts:
        shares = split_lines(record.request["Products"], max_cards)
        made = [{"id": str(uuid.uuid4()), "lines": lines} for lines in shares]
        key = rt.keys.order(record.request_id)
        rt.store.amend(record.request_id, lambda current: None if current.parts else
                       (lambda pipe: pipe.hset(key, "parts", json.dumps(made))))  # fmt: skip
        stored = rt.store.get(record.request_id)
        parts = list(stored.parts) if stored else made
    # Every time, not only when the parts are made: a process that died between the two writes left parts no pack
    rt.throttle.make_parts(record.credential, record.request_id, record.created_ms, record.request["AccountId"], parts)
    return parts


def split_lines(lines: list[dict], max_cards: int) -> list[list[dict]]:
    """An order's lines dealt into provider orders of at most `max_cards` cards, in order, a line split where a
    provider order fills up."""
    parts: list[list[dict]] = [[]]
    room = max_cards
    for line in lines:
        left = line["Quantity"]
        while left:
            if room == 0:
                parts.append([])
                room = max_cards
            take = min(left, room)
            parts[-1].append({"ProductId": line["ProductId"], "Value": line["Value"], "Quantity": take})
            left, room = left - take, room - take
    return parts


def refuse_pack(rt: Runtime, record: OrderRecord, reason: str) -> None:
    """The provider refused the pack with `reason` (nothing was charged): reject it, with the plan of its split,
    then carry the split out."""
    if not record.split:
        members = [member for member in rt.store.get_many(list(record.members)) if member is not None]
        plan = split_plan(rt, record, members, reason)
        rt.store.transition(record.request_id, states.REJECTED, note=reason, reason=reason, split=json.dumps(plan))
        record = rt.store.get(record.request_id)
    carry_out_split(rt, record)


def split_plan(rt: Runtime, record: OrderRecord, members: list[OrderRecord], reason: str) -> dict:
    """Which members the refusal rejects, and the packs the others ride in next (each a new provider RequestId)."""
    ids = [member.request_id for member in members]
    if len(ids) <= 1:
        return {"refused": ids, "groups": []}
    if reason in LINE_REFUSALS:
        snapshot = _catalog(rt, record.credential)
        refused = [member.request_id for member in members if snapshot and _refused_alone(snapshot, member, reason)]
        if refused:
            rest = [request_id for request_id in ids if request_id not in refused]
            return {"refused": refused, "groups": [_group(rest)] if rest else []}
    if reason in LINE_REFUSALS | WHOLE_ORDER_REFUSALS:
        half = len(ids) // 2
        return {"refused": [], "groups": [_group(ids[:half]), _group(ids[half:])]}
    return {"refused": ids, "groups": []}  # the account or the credential is refused: for each member alike


def carry_out_split(rt: Runtime, record: OrderRecord) -> None:
    """Make the split a refused pack's record plans (again, if it was cut short: each step is done once)."""
    plan = record.split
    made = rt.throttle.repack(record.credential, record.request_id, plan)
    for group in plan["groups"]:
        for member in group["members"]:
            _move_to_pack(rt, member, record.request_id, group["id"])
    for member in plan["refused"]:
        rt.store.transition(member, states.REJECTED, note=f"provider order {record.request_id}: {record.reason}",
                            reason=record.reason)  # fmt: skip
    if made:
        logger.info("provider order %s refused (%s): %d orders rejected, %d packs made of the others",
                    record.request_id, record.reason, len(plan["refused"]), made)  # fmt: skip


def _move_to_pack(rt: Runtime, request_id: str, old_pack: str, new_pack: str) -> None:
    key = rt.keys.order(request_id)
    rt.store.amend(request_id, lambda member: (lambda pipe: pipe.hset(key, "pack", new_pack))
                   if member.pack == old_pack else None)  # fmt: skip


def _group(members: list[str]) -> dict:
    return {"id": str(uuid.uuid4()), "members": members}


def _catalog(rt: Runtime, credential: str) -> CatalogSnapshot | None:
    """The credential's catalog, read once for a split; None if it cannot be read (then no member is named)."""
    try:
        return rt.catalog(credential).snapshot()
    except CatalogUnavailable:
        return None


def _refused_alone(snapshot: CatalogSnapshot, member: OrderRecord, reason: str) -> bool:
    """Whether the catalog says `member` alone has a line the refusal is about (a stock refusal of what only the
    members together ask for names no one: the pack is halved instead)."""
    return any(_breaks(snapshot, member.request["Products"], line, reason) for line in member.request["Products"])


def _breaks(snapshot: CatalogSnapshot, lines: list[dict], line: dict, reason: str) -> bool:
    product = snapshot.products.get(int(line["ProductId"]))
    if reason == "InvalidProductIds":
        return product is None
    if product is None:
        return False
    if reason == "InvalidDenomination":
        return not product.min_face_value <= Decimal(str(line["Value"])) <= product.max_face_value
    if reason == "InvalidProduct":
        return product.min_face_value > product.max_face_value
    wanted = sum(other["Quantity"] for other in lines if other["ProductId"] == line["ProductId"])
    return product.stock is not None and product.stock < wanted  # ProductIsOutOfStock
