"""The listed units' mirror (app/listings.py, app/indexer/listings.py) on decoded rows written through the writer
into a real Postgres: a tote's listing built from its PacksMoved, a roll cage's from its CagePacked, the rest after a
return, a detached tote, and a CagePacked the mirror did not build stopping it. The hashes are checked against
eth_abi's encoding of the contract's types (tests/services/test_custody_fold.py checks every listed unit's and cage's
against the contract's `listingOf` on random supply chains)."""

from __future__ import annotations

import psycopg2
import pytest
from eth_abi import encode
from eth_utils import keccak

from app.db import listings as listings_db
from app.ids import sscc_id
from app.indexer import writer
from app.indexer.events import EventSpec
from app.indexer.listings import ListingDiverged
from app.listings import Group, clear, decode_cage, decode_listing, listing_hash, taken_sets


def _event(name: str, *inputs: tuple[str, str, bool]) -> EventSpec:
    return EventSpec.from_abi(
        {"type": "event", "name": name, "inputs": [{"name": n, "type": t, "indexed": i} for n, t, i in inputs]}
    )


B32 = "bytes32"
PACKS_MOVED = _event(
    "PacksMoved", ("lotId", B32, True), ("containerId", B32, True), ("by", "address", True), ("source", B32, False),
    ("firstWord", "uint32", False), ("masks", "uint256[]", False),
)  # fmt: skip
CAGE_PACKED = _event(
    "CagePacked", ("cageId", B32, True), ("packer", "address", True), ("sscc", "uint64", False),
    ("toteIds", "bytes32[]", False), ("hashes", "bytes32[]", False), ("caseIds", "bytes32[]", False),
)  # fmt: skip
CASES_PACKED = _event(
    "CasesPacked", ("lotId", B32, True), ("packer", "address", True), ("firstIndex", "uint32", False),
    ("perCase", "uint32", False), ("ssccs", "uint64[]", False),
)  # fmt: skip
TOTE_DETACHED = _event("ToteDetached", ("toteId", B32, True), ("cageId", B32, True), ("listingHash", B32, False))

LOT_A, LOT_B = keccak(b"lot a"), keccak(b"lot b")
CASE_1, CASE_2 = sscc_id(100000000000000001), sscc_id(100000000000000002)
TOTE_1, TOTE_2, CAGE = sscc_id(200000000000000001), sscc_id(200000000000000002), sscc_id(300000000000000001)
RETURN = keccak(b"a return consignment")
BY = bytes(20)


def _tx(n: int) -> bytes:
    return n.to_bytes(32, "big")


def _moved(block, log, tx, lot, container, source, first, masks):
    return (block, log, _tx(tx), lot, container, BY, source, first, masks)


def _write(url: str, rows_by_spec: dict) -> None:
    conn = psycopg2.connect(url)
    with conn:
        writer.write_events(conn, rows_by_spec)
    conn.close()


def _current(url: str, *units: bytes) -> dict:
    conn = psycopg2.connect(url)
    with conn:
        found = listings_db.current(conn, units)
    conn.close()
    return found


def test_the_listing_hash_is_keccak_of_abi_encoded_listed_array():
    groups = [Group(CASE_1, LOT_A, 0, (0b1011,)), Group(CASE_2, LOT_B, 1, (0, 1 << 255))]
    raw = encode(
        ["(bytes32,bytes32,(uint32,uint256[]))[]"], [[(CASE_1, LOT_A, (0, [11])), (CASE_2, LOT_B, (1, [0, 1 << 255]))]]
    )
    assert listing_hash(groups) == keccak(raw)
    assert decode_listing(raw) == tuple(groups)


def test_the_rest_keeps_the_shape_and_a_stray_pack_is_refused():
    groups = (Group(CASE_1, LOT_A, 0, (0b1011, 0b1)), Group(CASE_2, LOT_A, 2, (0b110,)), Group(CASE_2, LOT_B, 0, (1,)))
    rest = clear(groups, LOT_A, 0, [0b0010, 0b1])
    assert rest == (Group(CASE_1, LOT_A, 0, (0b1001, 0)), groups[1], groups[2])
    assert clear(rest, LOT_A, 2, [0b110])[1] == Group(CASE_2, LOT_A, 2, (0,))  # an emptied group stays
    with pytest.raises(ValueError, match="pack 2 of lot"):
        clear(groups, LOT_A, 0, [0b100])
    assert taken_sets(groups, LOT_A, [1, 256, 514]) == [(0, [0b10, 1]), (2, [0b100]), (0, [])]
    with pytest.raises(ValueError, match="pack 3 of lot"):
        taken_sets(groups, LOT_B, [0, 3])


def test_a_caged_tote_a_return_out_of_it_and_a_detach(database_url):
    tote_1 = [Group(CASE_1, LOT_A, 0, (0b1111,)), Group(CASE_2, LOT_B, 0, (0b11,))]
    tote_2 = [Group(CASE_1, LOT_A, 0, (0b110000,))]
    hashes = [listing_hash(tote_1), listing_hash(tote_2)]
    _write(database_url, {
        PACKS_MOVED: [
            _moved(5, 1, 1, LOT_A, TOTE_1, CASE_1, 0, [0b1111]), _moved(5, 2, 1, LOT_B, TOTE_1, CASE_2, 0, [0b11]),
            _moved(5, 4, 1, LOT_A, TOTE_2, CASE_1, 0, [0b110000]),
        ],
        CAGE_PACKED: [(5, 6, _tx(1), CAGE, BY, 300000000000000001, [TOTE_1, TOTE_2], hashes, [CASE_2])],
    })  # fmt: skip
    now = _current(database_url, TOTE_1, TOTE_2, CAGE)
    assert decode_listing(now[TOTE_1].listing) == tuple(tote_1) and now[TOTE_1].cage_id == CAGE
    assert decode_cage(now[CAGE].listing) == ((TOTE_1, TOTE_2), tuple(hashes))
    assert now[CAGE].listing_hash == keccak(encode(["bytes32[]", "bytes32[]"], [[TOTE_1, TOTE_2], hashes]))
    assert (now[CAGE].block_number, now[CAGE].log_index) == (5, 6)
    pallet = _rows(database_url, "SELECT pallet_id, case_ids FROM ev_pallet_packed")
    assert pallet == [(CAGE, [TOTE_1, TOTE_2, CASE_2])]

    # a return of 2 packs of tote 1 (a later window: the listings come from the mirror)
    _write(database_url, {PACKS_MOVED: [
        _moved(7, 0, 2, LOT_A, RETURN, TOTE_1, 0, [0b0101]), _moved(7, 1, 2, LOT_B, RETURN, TOTE_1, 0, [0b10]),
    ]})  # fmt: skip
    now = _current(database_url, TOTE_1, CAGE, RETURN)
    rest = (Group(CASE_1, LOT_A, 0, (0b1010,)), Group(CASE_2, LOT_B, 0, (0b01,)))
    assert decode_listing(now[TOTE_1].listing) == rest
    assert decode_listing(now[RETURN].listing) == (Group(TOTE_1, LOT_A, 0, (0b101,)), Group(TOTE_1, LOT_B, 0, (2,)))
    assert decode_cage(now[CAGE].listing) == ((TOTE_1, TOTE_2), (listing_hash(rest), hashes[1]))
    assert (now[CAGE].block_number, now[CAGE].log_index) == (7, 1)

    _write(database_url, {TOTE_DETACHED: [(8, 0, _tx(3), TOTE_2, CAGE, hashes[1])]})
    now = _current(database_url, TOTE_2, CAGE)
    assert now[TOTE_2].cage_id is None and now[TOTE_2].listing_hash == hashes[1]
    assert decode_cage(now[CAGE].listing) == ((TOTE_1, TOTE_2), (listing_hash(rest), bytes(32)))


def test_a_cage_the_mirror_did_not_build_stops_it(database_url):
    with pytest.raises(ListingDiverged, match="commits other tote listings"):
        _write(database_url, {
            PACKS_MOVED: [_moved(5, 1, 1, LOT_A, TOTE_1, CASE_1, 0, [0b1111])],
            CAGE_PACKED: [(5, 2, _tx(1), CAGE, BY, 300000000000000001, [TOTE_1], [keccak(b"other")], [])],
        })  # fmt: skip
    with pytest.raises(ListingDiverged, match="not in the listing"):
        _write(database_url, {PACKS_MOVED: [
            _moved(5, 1, 1, LOT_A, TOTE_1, CASE_1, 0, [0b1]), _moved(6, 1, 2, LOT_A, RETURN, TOTE_1, 0, [0b10]),
        ]})  # fmt: skip


def test_cases_packed_in_one_call_are_cases(database_url):
    maker = b"\x01" * 20
    _write(
        database_url, {CASES_PACKED: [(3, 0, _tx(1), LOT_A, maker, 10, 5, [100000000000000001, 100000000000000002])]}
    )
    cases = _rows(
        database_url, "SELECT case_id, lot_id, packer, sscc, first_index, count FROM ev_case_packed ORDER BY sscc"
    )
    assert cases == [
        (CASE_1, LOT_A, maker, 100000000000000001, 10, 5),
        (CASE_2, LOT_A, maker, 100000000000000002, 15, 5),
    ]
    packs = _rows(database_url, "SELECT container_id, leaf_index FROM pack_events WHERE kind = 'cased' ORDER BY 2")
    assert packs == [(CASE_1, i) for i in range(10, 15)] + [(CASE_2, i) for i in range(15, 20)]


def _rows(url: str, query: str) -> list[tuple]:
    conn = psycopg2.connect(url)
    with conn, conn.cursor() as cur:
        cur.execute(query)
        out = [tuple(_plain(v) for v in row) for row in cur.fetchall()]
    conn.close()
    return out


def _plain(value):
    if isinstance(value, memoryview):
        return bytes(value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return int(value) if type(value).__name__ == "Decimal" else value
