"""Where a moved pack is (contracts/libraries/PackPointers.sol): 16-bit pointers into a per-256-packs table of
container keys (a tote's SSCC, CONSIGNMENT | number for a consignment). Packs of one pointer word in different totes, a block's table past its first word, and the
table's limit (PackPointersFull)."""

from __future__ import annotations

import pytest
from eth_abi import encode
from eth_utils import keccak

from app.ids import sscc_id
from tests.contracts.helpers import reverts
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
    call = world.pt.functions.packTote(TOTE_SSCC + 2, [group(stock.a, stock.l1, [5])])
    reverts(world.pt, call, world.distributor, "PackPointersFull", stock.l1, 0)
    # another block of the lot is not affected
    stock.tote(2, [group(stock.b, stock.l2, [5])])


def test_a_consignment_is_named_by_its_number(world, stock):
    consignment, _ = stock.consign([group(stock.a, stock.l1, [7, 8])], world.pharmacy)
    assert world.pt.functions.consignmentIdOf(1).call() == consignment
    head = _read(world, _slot(stock.l1, TABLE))
    assert head == 1 | (((1 << 63) | 1) << 64)
    assert [container(world, stock.l1, i) for i in (7, 8)] == [consignment] * 2
