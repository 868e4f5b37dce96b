"""Where a moved pack is (contracts/libraries/PackPointers.sol): 16-bit pointers into a per-256-packs table of
container keys (a tote's SSCC, CONSIGNMENT | number for a consignment). Packs of one pointer word in different totes, a block's table past its first word, and a
full table compacted and reused (issue 14 review #14: it used to freeze the block for good, PackPointersFull)."""

from __future__ import annotations

import pytest
from eth_abi import encode
from eth_utils import keccak

from app.ids import lgtin_id, sscc_id
from tests.contracts.conftest import GTIN
from tests.contracts.helpers import ZERO, reverts
from tests.contracts.picking import TOTE_SSCC, Stock, group

TABLE = 1 << 255
FULL = 0xFFFF


@pytest.fixture
def stock(world):
    return Stock(world)


_BASE = 19  # the mapping's slot: AccessControl's _roles is 0, then PharmaTrackStorage's variables in order


def _slot(lot_id: bytes, key: int) -> int:
    """The storage slot of `_packContainers[lotId][key]` (test_the_table_head_slot_is_where_the_test_writes checks
    _BASE)."""
    inner = keccak(encode(["bytes32", "uint256"], [lot_id, _BASE]))
    return int.from_bytes(keccak(encode(["uint256", "bytes32"], [key, inner])), "big")


def _read(world, slot: int) -> int:
    return int.from_bytes(world.w3.eth.get_storage_at(world.pt.address, slot), "big")


def _write(world, slot: int, value: int) -> None:
    world.w3.provider.make_request(
        "anvil_setStorageAt", [world.pt.address, hex(slot), "0x" + value.to_bytes(32, "big").hex()]
    )


def container(world, lot_id, index) -> bytes:
    return world.pt.functions.pack(lot_id, index).call()[0]


def test_packs_of_one_pointer_word_in_different_totes(world, stock):
    first = stock.tote(0, [group(stock.a, stock.l1, [0, 1, 2])])
    second = stock.tote(1, [group(stock.a, stock.l1, [3, 4])])
    assert [container(world, stock.l1, i) for i in range(5)] == [first] * 3 + [second] * 2
    # one check over packs of both totes names the first pack of the other one
    call = world.pt.functions.packTote(TOTE_SSCC + 2, [group(first, stock.l1, [0, 1, 2, 3])])
    world.send(world.pt.functions.unpack([first, second]), world.distributor)
    reverts(world.pt, call, world.distributor, "PackNotInCase", first, stock.l1, 3)
    call = world.pt.functions.packTote(TOTE_SSCC + 2, [group(second, stock.l1, [3, 4, 5])])
    reverts(world.pt, call, world.distributor, "PackNotInCase", second, stock.l1, 5)
    # the same container under two entries of the block (two groups of one lot from two sources into one tote)
    third = stock.tote(2, [group(first, stock.l1, [0]), group(second, stock.l1, [4])])
    world.send(world.pt.functions.unpack([third]), world.distributor)
    fourth = stock.tote(3, [group(third, stock.l1, [0, 4])])
    assert [container(world, stock.l1, i) for i in (0, 1, 4)] == [fourth, first, fourth]


def test_the_table_head_slot_is_where_the_test_writes(world, stock):
    stock.tote(0, [group(stock.a, stock.l1, [3])])
    head = _read(world, _slot(stock.l1, TABLE))
    assert head == 1 | (TOTE_SSCC << 64)  # one entry: the tote, by its SSCC


def test_a_block_table_past_its_first_word_and_full(world, stock):
    stock.tote(0, [group(stock.a, stock.l1, [3])])
    head_slot = _slot(stock.l1, TABLE)
    head = _read(world, head_slot)
    _write(world, head_slot, (head & ~0xFFFFFFFFFFFFFFFF) | (FULL - 1))  # as if 65,534 moves had touched the block
    last = stock.tote(1, [group(stock.a, stock.l1, [4])])  # entry 65,535: the table's last word, lane 3
    assert _read(world, _slot(stock.l1, TABLE | (FULL >> 2))) >> (3 * 64) == TOTE_SSCC + 1
    assert container(world, stock.l1, 4) == last == sscc_id(TOTE_SSCC + 1)
    assert container(world, stock.l1, 3) == sscc_id(TOTE_SSCC)
    # full: the next move compacts the table to the two entries still pointed at (3 -> 1, 4 -> 2), then adds its own
    third = stock.tote(2, [group(stock.a, stock.l1, [5])])
    assert _read(world, head_slot) == 3 | (TOTE_SSCC << 64) | ((TOTE_SSCC + 1) << 128) | ((TOTE_SSCC + 2) << 192)
    assert _read(world, _slot(stock.l1, 0)) == (1 << 48) | (2 << 64) | (3 << 80)  # pointers of packs 3, 4, 5
    assert [container(world, stock.l1, i) for i in (3, 4, 5, 6)] == [sscc_id(TOTE_SSCC), last, third, ZERO]
    # the packs move on from their renumbered entries as before
    world.send(world.pt.functions.unpack([last, third]), world.distributor)
    fourth = stock.tote(3, [group(last, stock.l1, [4]), group(third, stock.l1, [5])])
    assert [container(world, stock.l1, i) for i in (3, 4, 5)] == [sscc_id(TOTE_SSCC), fourth, fourth]
    # another block of the lot is not affected
    stock.tote(4, [group(stock.b, stock.l2, [5])])


def test_one_holder_moving_one_pack_cannot_freeze_its_block(world, stock):
    """Issue 14 review #14: the table's 65,535 entries are any mover's to use up, but compaction frees all but
    those still pointed at (at most 256): the distributor's pack 9 and the pharmacy's packs 10-11 of the same block
    keep moving."""
    theirs, _ = stock.consign([group(stock.a, stock.l1, [10, 11])], world.pharmacy)
    world.send(world.pt.functions.receiveShipment([theirs]), world.pharmacy)
    mine = stock.tote(0, [group(stock.a, stock.l1, [9])])
    head_slot = _slot(stock.l1, TABLE)
    _write(world, head_slot, (_read(world, head_slot) & ~0xFFFFFFFFFFFFFFFF) | FULL)  # the rest of the table used up
    world.send(world.pt.functions.unpack([mine]), world.distributor)
    again = stock.tote(1, [group(mine, stock.l1, [9])])
    assert _read(world, head_slot) & 0xFFFFFFFFFFFFFFFF == 3  # the pharmacy's consignment, the old tote, the new
    assert container(world, stock.l1, 9) == again
    back, _ = stock.consign([group(theirs, stock.l1, [10])], world.distributor, by=world.pharmacy)
    assert [container(world, stock.l1, i) for i in (9, 10, 11)] == [again, back, theirs]


def test_the_largest_compaction_costs_one_block_once(world):
    """Every one of a block's 256 packs in a tote of its own (256 live entries, the most there can be), the table
    full: the next move renumbers all 256 and adds its own entry, once in 65,279 or more moves of the block."""
    pt = world.pt
    world.send(pt.functions.commissionLot(GTIN, "W1", world.expiry, 256, b"\x01" * 32), world.maker)
    lot_id = lgtin_id(f"{GTIN:014d}", "W1")
    for start in range(0, 256, 64):
        calls = [pt.encode_abi("packTote", args=[TOTE_SSCC + i, [group(ZERO, lot_id, [i])]])
                 for i in range(start, start + 64)]  # fmt: skip
        world.send(pt.functions.multicall(calls), world.maker)
    head_slot = _slot(lot_id, TABLE)
    assert _read(world, head_slot) & 0xFFFFFFFFFFFFFFFF == 256
    _write(world, head_slot, (_read(world, head_slot) & ~0xFFFFFFFFFFFFFFFF) | FULL)
    world.send(pt.functions.unpack([sscc_id(TOTE_SSCC + 7)]), world.maker)
    receipt = world.send(pt.functions.packTote(TOTE_SSCC + 256, [group(sscc_id(TOTE_SSCC + 7), lot_id, [7])]),
                         world.maker)  # fmt: skip
    assert _read(world, head_slot) & 0xFFFFFFFFFFFFFFFF == 257
    assert [container(world, lot_id, i) for i in (0, 7, 8, 255)] == [
        sscc_id(TOTE_SSCC),
        sscc_id(TOTE_SSCC + 256),
        sscc_id(TOTE_SSCC + 8),
        sscc_id(TOTE_SSCC + 255),
    ]
    print(f"compaction of 256 live entries: packTote gas {receipt.gasUsed}")
    assert receipt.gasUsed < 1_000_000  # 614,140 gas when written: a fiftieth of a 30M block


def test_a_consignment_is_named_by_its_number(world, stock):
    consignment, _ = stock.consign([group(stock.a, stock.l1, [7, 8])], world.pharmacy)
    assert world.pt.functions.consignmentIdOf(1).call() == consignment
    head = _read(world, _slot(stock.l1, TABLE))
    assert head == 1 | (((1 << 63) | 1) << 64)
    assert [container(world, stock.l1, i) for i in (7, 8)] == [consignment] * 2
