"""Lots commissioned in batches: openLot, commissionBatch, the batch view, and packing across batches."""

from __future__ import annotations

import pytest

from app.ids import lgtin_id, pack_set, sgtin_id
from app.merkle import LOT_LEAF, Tree, lot_leaf, process_proof
from tests.contracts.conftest import CASE_SSCC, GTIN, LOT, MAX_TEMP, MIN_TEMP
from tests.contracts.helpers import NO_PROOF, advance_time, events, reverts, role

BATCHED = "B1"
CAPACITY = 600
ROOT = b"\x22" * 32
ZERO = b"\0" * 32


def batch_tree(first: int, serials: list[str]) -> Tree:
    """A batch's tree: leaves (first + i, sgtinId) — the lot's indexes, not from 0."""
    return Tree([(first + i, sgtin_id(f"{GTIN:014d}", s)) for i, s in enumerate(serials)], LOT_LEAF)


@pytest.fixture
def opened(world):
    world.send(world.pt.functions.openLot(GTIN, BATCHED, world.expiry, CAPACITY), world.maker)
    return lgtin_id(f"{GTIN:014d}", BATCHED)


def commission(world, lot_id, first, count, by=None):
    tree = batch_tree(first, [f"B{i:05d}" for i in range(first, first + count)])
    return world.send(world.pt.functions.commissionBatch(lot_id, first, count, tree.root), by or world.maker), tree


def lot_dict(world, lot_id) -> dict:
    fields = next(i for i in world.pt.abi if i.get("name") == "lot")["outputs"][0]["components"]
    return dict(zip([f["name"] for f in fields], world.pt.functions.lot(lot_id).call(), strict=True))


# ---------------------------------------------------------------- openLot


def test_openLot_declares_an_empty_lot(world):
    receipt = world.send(world.pt.functions.openLot(GTIN, BATCHED, world.expiry, CAPACITY), world.maker)
    lot_id = lgtin_id(f"{GTIN:014d}", BATCHED)
    info = lot_dict(world, lot_id)
    assert info["manufacturer"] == world.maker
    assert (info["serialCount"], info["capacity"], info["batches"], info["serialsRoot"]) == (0, CAPACITY, 0, ZERO)
    assert (info["minTemp"], info["maxTemp"], info["expiry"]) == (MIN_TEMP, MAX_TEMP, world.expiry)
    assert events(world.pt, receipt) == [
        (
            "LotOpened",
            {
                "lotId": lot_id,
                "gtin": GTIN,
                "manufacturer": world.maker,
                "lotNumber": BATCHED,
                "expiry": world.expiry,
                "capacity": CAPACITY,
            },
        )
    ]
    assert world.pt.functions.batch(lot_id, 0).call() == [0, 0, ZERO]


def test_openLot_packing_before_any_batch_reverts(world, opened):
    call = world.pt.functions.packCase(CASE_SSCC + 1, opened, 0, 1)
    reverts(world.pt, call, world.maker, "PackIndexOutOfRange", opened, 0, 0)


def test_openLot_zero_capacity_reverts(world):
    call = world.pt.functions.openLot(GTIN, BATCHED, world.expiry, 0)
    reverts(world.pt, call, world.maker, "LotInvalidCapacity", 0)


def test_openLot_unregistered_caller_reverts(world):
    call = world.pt.functions.openLot(GTIN, BATCHED, world.expiry, CAPACITY)
    reverts(world.pt, call, world.outsider, "OrganisationNotRegistered", world.outsider)


def test_openLot_without_manufacturer_role_reverts(world):
    call = world.pt.functions.openLot(GTIN, BATCHED, world.expiry, CAPACITY)
    reverts(world.pt, call, world.distributor, "OrganisationMissingRole", world.distributor, role("MANUFACTURER_ROLE"))


def test_openLot_unknown_product_reverts(world):
    call = world.pt.functions.openLot(9506000000017, BATCHED, world.expiry, CAPACITY)
    reverts(world.pt, call, world.maker, "ProductNotRegistered", 9506000000017)


def test_openLot_other_manufacturers_product_reverts(world):
    call = world.pt.functions.openLot(GTIN, BATCHED, world.expiry, CAPACITY)
    reverts(world.pt, call, world.maker2, "ProductNotManufacturer", GTIN, world.maker2)


def test_openLot_invalid_lot_number_reverts(world):
    for lot in ("", "X" * 21):
        reverts(world.pt, world.pt.functions.openLot(GTIN, lot, world.expiry, 5), world.maker, "LotInvalidCode", lot)


def test_openLot_expiry_not_in_future_reverts(world):
    now = world.w3.eth.get_block("latest").timestamp
    call = world.pt.functions.openLot(GTIN, BATCHED, now, CAPACITY)
    reverts(world.pt, call, world.maker, "LotInvalidExpiry", now)


def test_openLot_existing_lot_reverts(world, opened):
    for lot, lot_id in ((LOT, world.lot_id), (BATCHED, opened)):
        call = world.pt.functions.openLot(GTIN, lot, world.expiry, CAPACITY)
        reverts(world.pt, call, world.maker, "LotAlreadyCommissioned", lot_id)


# ---------------------------------------------------------------- commissionBatch


def test_commissionBatch_appends_contiguous_batches(world, opened):
    r0, t0 = commission(world, opened, 0, 256)
    r1, t1 = commission(world, opened, 256, 44)
    assert events(world.pt, r1) == [
        (
            "BatchCommissioned",
            {"lotId": opened, "batch": 1, "firstIndex": 256, "count": 44, "serialsRoot": t1.root},
        )
    ]
    assert events(world.pt, r0)[0][1]["batch"] == 0
    assert world.pt.functions.batch(opened, 0).call() == [0, 256, t0.root]
    assert world.pt.functions.batch(opened, 1).call() == [256, 44, t1.root]
    info = lot_dict(world, opened)
    assert (info["serialCount"], info["capacity"], info["batches"], info["serialsRoot"]) == (300, CAPACITY, 2, t0.root)


def test_commissionBatch_returns_the_batch_number(world, opened):
    commission(world, opened, 0, 10)
    tree = batch_tree(10, ["X1"])
    assert world.pt.functions.commissionBatch(opened, 10, 1, tree.root).call({"from": world.maker}) == 1


def test_commissionBatch_serial_proves_against_its_batch_root(world, opened):
    commission(world, opened, 0, 100)
    _, tree = commission(world, opened, 100, 50)
    first, _, root = world.pt.functions.batch(opened, 1).call()
    position = 7
    leaf = lot_leaf(first + position, sgtin_id(f"{GTIN:014d}", f"B{first + position:05d}"))
    assert process_proof(leaf, tree.proof(position)) == root


def test_commissionBatch_packs_across_batches(world, opened):
    commission(world, opened, 0, 100)
    call = world.pt.functions.packCase(CASE_SSCC + 1, opened, 90, 20)
    reverts(world.pt, call, world.maker, "PackIndexOutOfRange", opened, 109, 100)
    commission(world, opened, 100, 100)
    world.send(call, world.maker)
    assert world.pt.functions.packState(opened, 109).call() == [True, False, False, False]


def test_commissionBatch_fills_the_capacity_exactly(world, opened):
    commission(world, opened, 0, CAPACITY)
    call = world.pt.functions.commissionBatch(opened, CAPACITY, 1, ROOT)
    reverts(world.pt, call, world.maker, "LotCapacityExceeded", opened, CAPACITY + 1, CAPACITY)


def test_commissionBatch_beyond_capacity_reverts(world, opened):
    commission(world, opened, 0, 500)
    call = world.pt.functions.commissionBatch(opened, 500, 101, ROOT)
    reverts(world.pt, call, world.maker, "LotCapacityExceeded", opened, 601, CAPACITY)


def test_commissionBatch_on_a_lot_commissioned_in_one_go_reverts(world):
    call = world.pt.functions.commissionBatch(world.lot_id, 1024, 1, ROOT)
    reverts(world.pt, call, world.maker, "LotCapacityExceeded", world.lot_id, 1025, 1024)


@pytest.mark.parametrize("first", [0, 99, 101])
def test_commissionBatch_not_the_next_range_reverts(world, opened, first):
    commission(world, opened, 0, 100)
    call = world.pt.functions.commissionBatch(opened, first, 10, ROOT)
    reverts(world.pt, call, world.maker, "LotBatchOutOfOrder", opened, first, 100)


def test_commissionBatch_empty_reverts(world, opened):
    call = world.pt.functions.commissionBatch(opened, 0, 0, ROOT)
    reverts(world.pt, call, world.maker, "LotInvalidSerialCount", 0)


def test_commissionBatch_zero_root_reverts(world, opened):
    call = world.pt.functions.commissionBatch(opened, 0, 10, ZERO)
    reverts(world.pt, call, world.maker, "LotInvalidRoot", ZERO)


def test_commissionBatch_unknown_lot_reverts(world):
    unknown = b"\x05" * 32
    reverts(world.pt, world.pt.functions.commissionBatch(unknown, 0, 1, ROOT), world.maker, "LotNotFound", unknown)


def test_commissionBatch_by_other_manufacturer_reverts(world, opened):
    call = world.pt.functions.commissionBatch(opened, 0, 1, ROOT)
    reverts(world.pt, call, world.maker2, "LotNotManufacturer", opened, world.maker2)


def test_commissionBatch_unregistered_caller_reverts(world, opened):
    call = world.pt.functions.commissionBatch(opened, 0, 1, ROOT)
    reverts(world.pt, call, world.outsider, "OrganisationNotRegistered", world.outsider)


def test_commissionBatch_without_manufacturer_role_reverts(world, opened):
    call = world.pt.functions.commissionBatch(opened, 0, 1, ROOT)
    reverts(world.pt, call, world.regulator, "OrganisationMissingRole", world.regulator, role("MANUFACTURER_ROLE"))


def test_commissionBatch_recalled_lot_reverts(world, opened):
    world.send(world.pt.functions.recallLot(opened), world.regulator)
    reverts(world.pt, world.pt.functions.commissionBatch(opened, 0, 1, ROOT), world.maker, "LotIsRecalled", opened)


def test_commissionBatch_quarantined_lot_is_allowed(world, opened):
    world.send(world.pt.functions.quarantineLot(opened), world.regulator)
    commission(world, opened, 0, 5)
    assert lot_dict(world, opened)["serialCount"] == 5


def test_commissionBatch_expired_lot_reverts(world, opened):
    now = world.w3.eth.get_block("latest").timestamp
    advance_time(world.w3, world.expiry - now + 1)
    call = world.pt.functions.commissionBatch(opened, 0, 1, ROOT)
    reverts(world.pt, call, world.maker, "LotIsExpired", opened, world.expiry)


def test_commissionBatch_packs_of_a_later_batch_dispense(world, opened):
    commission(world, opened, 0, 256)
    commission(world, opened, 256, 256)
    case = world.pack_case(1, 300, 10, lot_id=opened)
    world.deliver([case], world.maker, world.pharmacy)
    world.send(world.pt.functions.dispenseDay([(case, opened, pack_set([305]), NO_PROOF)], [], []), world.pharmacy)
    assert world.pt.functions.packState(opened, 305).call() == [True, True, False, False]
