"""The per-pack view `pack(lotId, index)` and the dispense accumulator view."""

from __future__ import annotations

from eth_abi import encode
from eth_utils import keccak

from app.ids import pack_set, sscc_id
from tests.contracts.conftest import PALLET_SSCC
from tests.contracts.helpers import NO_PROOF, ZERO
from tests.contracts.picking import DAY, Counter, Stock, group

NOBODY = "0x" + "00" * 20


def pack(world, index, lot_id=None) -> dict:
    fields = next(i for i in world.pt.abi if i.get("name") == "pack")["outputs"][0]["components"]
    values = world.pt.functions.pack(lot_id or world.lot_id, index).call()
    return dict(zip([f["name"] for f in fields], values, strict=True))


def flags(info: dict) -> dict:
    return {k: v for k, v in info.items() if isinstance(v, bool) and v}


def test_pack_unknown_lot_or_index_is_empty(world):
    for lot_id, index in ((b"\x05" * 32, 0), (world.lot_id, 1024)):
        info = pack(world, index, lot_id)
        assert (info["container"], info["custodian"], flags(info)) == (ZERO, NOBODY, {})


def test_pack_in_the_loose_stock_is_at_its_manufacturer(world):
    info = pack(world, 5)
    assert (info["container"], info["custodian"], flags(info)) == (ZERO, world.maker, {})


def test_pack_in_its_case_names_no_container(world):
    world.pack_case(1, 0, 10)
    info = pack(world, 5)
    assert (info["container"], info["custodian"], flags(info)) == (ZERO, NOBODY, {"allocated": True})


def test_pack_moved_follows_its_container(world):
    pt = world.pt
    stock = Stock(world)
    tote = stock.tote(0, [group(stock.a, stock.l1, [3, 4])])
    info = pack(world, 3)
    assert (info["container"], info["custodian"], flags(info)) == (
        tote,
        world.distributor,
        {"allocated": True, "moved": True},
    )
    world.send(pt.functions.packPallet(PALLET_SSCC, [tote]), world.distributor)
    world.send(pt.functions.ship([sscc_id(PALLET_SSCC)], world.pharmacy), world.distributor)
    assert pack(world, 3)["inTransit"] is True
    world.send(pt.functions.receiveShipment([sscc_id(PALLET_SSCC)]), world.pharmacy)
    info = pack(world, 3)
    assert (info["custodian"], info["inTransit"]) == (world.pharmacy, False)
    world.send(pt.functions.dispense(tote, stock.l1, pack_set([3]), NO_PROOF), world.pharmacy)
    world.send(pt.functions.reportStolen([group(tote, stock.l1, [4])]), world.pharmacy)
    assert flags(pack(world, 3)) == {"allocated": True, "moved": True, "dispensed": True}
    assert flags(pack(world, 4)) == {"allocated": True, "moved": True, "stolen": True}


def test_pack_in_a_pending_return(world):
    stock = Stock(world)
    tote = stock.tote(0, [group(stock.a, stock.l1, [3])])
    world.deliver([tote], world.distributor, world.pharmacy)
    world.send(world.pt.functions.unpack([tote]), world.pharmacy)
    world.send(world.pt.functions.returnPacks([group(tote, stock.l1, [3])], world.distributor), world.pharmacy)
    info = pack(world, 3)
    assert (info["custodian"], info["inTransit"], info["returnPending"]) == (world.pharmacy, True, True)
    assert info["container"] == world.pt.functions.consignmentIdOf(2).call()


def test_pack_destroyed_and_quarantined(world):
    case = world.pack_case(1, 0, 10)
    world.send(world.pt.functions.destroy(case, world.lot_id, pack_set([1]), NO_PROOF), world.maker)
    world.send(world.pt.functions.quarantinePacks(case, world.lot_id, pack_set([2]), NO_PROOF), world.maker)
    assert flags(pack(world, 1)) == {"allocated": True, "destroyed": True}
    assert flags(pack(world, 2)) == {"allocated": True, "quarantined": True}


def fold(acc: int, record) -> int:
    time, lot_id, container, (first_word, masks) = record
    masks_hash = keccak(b"".join(m.to_bytes(32, "big") for m in masks))
    data = encode(["uint256", "uint256", "bytes32", "bytes32", "uint32", "bytes32"],
                  [acc, time, lot_id, container, first_word, masks_hash])  # fmt: skip
    return int.from_bytes(keccak(data), "big") & ((1 << 224) - 1)


def test_dispenseAccumulator_is_the_fold_of_the_days_records(world):
    case = world.pack_case(1, 0, 600)
    world.deliver([case], world.maker, world.pharmacy)
    counter = Counter(world, world.pharmacy)
    counter.dispense(case, world.lot_id, [1, 2])
    day, _ = counter.dispense(case, world.lot_id, [300, 513])
    acc = 0
    for record in counter.days[day]:
        acc = fold(acc, record)
    assert world.pt.functions.dispenseAccumulator(world.pharmacy, day).call() == acc != 0
    assert world.pt.functions.dispenseAccumulator(world.pharmacy, day - 1).call() == 0
    assert world.pt.functions.dispenseAccumulator(world.pharmacy2, day).call() == 0
    assert world.pt.functions.dispenseAccumulator(world.pharmacy, day + 16).call() == 0
    assert DAY == 86400
