"""The per-pack view `pack(lotId, index)` and the dispense chain view."""

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


def test_pack_moved_is_flagged_and_names_no_container(world):
    """A moved pack's container is in the listings (the mirror's), not in the contract: `container` stays zero."""
    pt = world.pt
    stock = Stock(world)
    tote = stock.tote(0, [group(stock.a, stock.l1, [3, 4])])
    info = pack(world, 3)
    assert (info["container"], info["custodian"], flags(info)) == (ZERO, NOBODY, {"allocated": True, "moved": True})
    assert flags(pack(world, 5)) == {"allocated": True}
    world.send(pt.functions.packPallet(PALLET_SSCC, [tote]), world.distributor)
    world.deliver([sscc_id(PALLET_SSCC)], world.distributor, world.pharmacy)
    stock.dispense(tote, stock.l1, [3])
    world.send(pt.functions.reportStolenListed([stock.draw(tote, [(stock.l1, [4])])]), world.pharmacy)
    assert flags(pack(world, 3)) == {"allocated": True, "moved": True, "dispensed": True}
    assert flags(pack(world, 4)) == {"allocated": True, "moved": True, "stolen": True}


def test_pack_destroyed_and_quarantined(world):
    case = world.pack_case(1, 0, 10)
    world.send(world.pt.functions.destroy(case, world.lot_id, pack_set([1]), NO_PROOF), world.maker)
    world.send(world.pt.functions.quarantinePacks(case, world.lot_id, pack_set([2]), NO_PROOF), world.maker)
    assert flags(pack(world, 1)) == {"allocated": True, "destroyed": True}
    assert flags(pack(world, 2)) == {"allocated": True, "quarantined": True}


def chained(word: int, time: int, call_hash: bytes) -> int:
    """The dispense chain word after a dispenseDay call (IPharmaTrack: `day << 224 | uint224(keccak(...))`)."""
    acc = int.from_bytes(keccak(encode(["uint256", "uint256", "bytes32"], [word, time, call_hash])), "big")
    return (time // DAY) << 224 | acc & ((1 << 224) - 1)


def test_dispenseChain_is_the_hash_chain_of_the_dispensers_calls(world):
    case = world.pack_case(1, 0, 600)
    world.deliver([case], world.maker, world.pharmacy)
    counter = Counter(world, world.pharmacy)
    assert world.pt.functions.dispenseChain(world.pharmacy).call() == 0
    counter.dispense(case, world.lot_id, [1, 2])
    counter.dispense(case, world.lot_id, [300, 513])
    word = 0
    for call in counter.calls:
        assert call["before"] == word
        word = chained(word, call["time"], call["hash"])
    assert world.pt.functions.dispenseChain(world.pharmacy).call() == word != 0
    assert world.pt.functions.dispenseChain(world.pharmacy2).call() == 0
