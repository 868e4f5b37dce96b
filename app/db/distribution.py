"""Reads of the chain mirror the write path's pre-checks need for issue 14's actions (totes, loose consignments,
returns, stolen packs, undone dispenses): where a moved pack is now, what a loose consignment is, and
a dispenser's dispenses of a day. Reads only (the indexer writes the ev_* tables, migration 0013).

Addresses and ids come back as bytes.
"""

from __future__ import annotations

from app.db import fetch_all, fetch_one

# Every move of packs of a lot into a tote or consignment, in chain order: the latest that names a pack is where
# the pack is now (PacksMoved).
PACK_MOVES = """
SELECT container_id, source, first_word, masks, block_number, log_index FROM ev_packs_moved
WHERE lot_id = %(lot)s ORDER BY block_number, log_index
"""

# The dispenses of packs of a lot, newest first, with their block time (which dispense a pack's is).
DISPENSES_OF_LOT = """
SELECT d.case_id, d.by, d.first_word, d.masks, d.block_number, d.log_index,
       extract(epoch FROM b.timestamp)::bigint AS time
FROM ev_dispensed d JOIN blocks b ON b.number = d.block_number
WHERE d.lot_id = %(lot)s ORDER BY d.block_number DESC, d.log_index DESC
"""

LATEST_BLOCK_TIME = "SELECT extract(epoch FROM timestamp)::bigint AS time FROM blocks ORDER BY number DESC LIMIT 1"

CONSIGNMENT_OF_TRANSIT = """
SELECT c.consignment_id, c.from_org, c.to_org, c.is_return FROM ev_consignment_created c
WHERE c.consignment_id = %(u)s
"""


def pack_moves(conn, lot_id: bytes) -> list[dict]:
    """The lot's PacksMoved rows in chain order: container_id, source, first_word, masks, block_number, log_index."""
    return fetch_all(conn, PACK_MOVES, {"lot": lot_id})


def consignment(conn, unit_id: bytes) -> dict | None:
    """{consignment_id, from_org, to_org, is_return} of a loose consignment, None for any other id."""
    return fetch_one(conn, CONSIGNMENT_OF_TRANSIT, {"u": unit_id})


def dispenses_of_lot(conn, lot_id: bytes) -> list[dict]:
    """A lot's Dispensed rows, newest first: case_id, by, first_word, masks, block_number, log_index, time."""
    return fetch_all(conn, DISPENSES_OF_LOT, {"lot": lot_id})


def latest_block_time(conn) -> int | None:
    """The latest mirrored block's timestamp (unix seconds), None with no block."""
    row = fetch_one(conn, LATEST_BLOCK_TIME)
    return None if row is None else int(row["time"])
