"""Reads of the chain mirror the write path's pre-checks need for issue 14's actions (totes, loose consignments,
returns, stolen packs, undone dispenses): where a moved pack is now, what a tote or consignment went through, and
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

# The rows app/services/custody.fold replays (the columns of app/db/mirror.CUSTODY_EVENTS), for a tote or a loose
# consignment: its creation as its `packed` row (a consignment has no SSCC: 0), the unit events that name it or a
# pallet it was put on, and a return's acceptance as its receipt. (A bridge until the one custody query reads
# these kinds itself.)
CONTAINER_EVENTS = """
WITH pallets AS (SELECT pallet_id FROM ev_pallet_packed WHERE case_ids @> ARRAY[%(u)s::bytea]),
units AS (SELECT %(u)s::bytea AS u UNION SELECT pallet_id FROM pallets)
SELECT e.*, b.timestamp AS at FROM (
    SELECT tote_id AS unit, 'packed' AS kind, block_number, log_index, tx_hash, packer AS actor, NULL::bytea AS other,
           sscc, tote_id AS lot_id, NULL::bytea[] AS case_ids, NULL::bytea AS sensor_id, NULL::integer AS value,
           NULL::integer AS min_temp, NULL::integer AS max_temp, NULL::bigint AS time, 'tote' AS container_kind
      FROM ev_tote_packed WHERE tote_id = %(u)s
    UNION ALL SELECT consignment_id, 'packed', block_number, log_index, tx_hash, from_org, NULL, 0, consignment_id,
           NULL, NULL, NULL, NULL, NULL, NULL, CASE WHEN is_return THEN 'return' ELSE 'consignment' END
      FROM ev_consignment_created WHERE consignment_id = %(u)s
    UNION ALL SELECT pallet_id, 'packed', block_number, log_index, tx_hash, packer, NULL, sscc, NULL, case_ids,
           NULL, NULL, NULL, NULL, NULL, NULL
      FROM ev_pallet_packed WHERE pallet_id IN (SELECT u FROM units)
    UNION ALL SELECT unit_id, 'shipped', block_number, log_index, tx_hash, from_org, to_org, NULL, NULL, NULL,
           NULL, NULL, NULL, NULL, NULL, NULL
      FROM ev_shipped WHERE unit_id IN (SELECT u FROM units)
    UNION ALL SELECT unit_id, 'received', block_number, log_index, tx_hash, by, from_org, NULL, NULL, NULL,
           NULL, NULL, NULL, NULL, NULL, NULL
      FROM ev_received WHERE unit_id IN (SELECT u FROM units)
    UNION ALL SELECT consignment_id, 'received', block_number, log_index, tx_hash, by, from_org, NULL, NULL, NULL,
           NULL, NULL, NULL, NULL, NULL, 'accepted'
      FROM ev_return_accepted WHERE consignment_id = %(u)s
    UNION ALL SELECT unit_id, 'refused', block_number, log_index, tx_hash, by, sender, NULL, NULL, NULL,
           NULL, NULL, NULL, NULL, NULL, NULL
      FROM ev_refused WHERE unit_id IN (SELECT u FROM units)
    UNION ALL SELECT unit_id, 'unpacked', block_number, log_index, tx_hash, by, NULL, NULL, NULL, NULL,
           NULL, NULL, NULL, NULL, NULL, NULL
      FROM ev_unpacked WHERE unit_id IN (SELECT u FROM units)
    UNION ALL SELECT unit_id, 'quarantined', block_number, log_index, tx_hash, by, NULL, NULL, NULL, NULL,
           NULL, NULL, NULL, NULL, NULL, NULL
      FROM ev_unit_quarantined WHERE unit_id IN (SELECT u FROM units)
    UNION ALL SELECT unit_id, 'cleared', block_number, log_index, tx_hash, by, NULL, NULL, NULL, NULL,
           NULL, NULL, NULL, NULL, NULL, NULL
      FROM ev_unit_quarantine_cleared WHERE unit_id IN (SELECT u FROM units)
) e LEFT JOIN blocks b ON b.number = e.block_number
ORDER BY e.block_number, e.log_index
"""

# A dispenser's Dispensed events of one UTC day (block time), in chain order: the records undoDispense folds.
DISPENSES_OF_DAY = """
SELECT d.lot_id, d.case_id, d.first_word, d.masks, d.block_number, d.log_index,
       extract(epoch FROM b.timestamp)::bigint AS time
FROM ev_dispensed d JOIN blocks b ON b.number = d.block_number
WHERE d.by = %(by)s AND b.timestamp >= to_timestamp(%(day)s::bigint * 86400)
  AND b.timestamp < to_timestamp((%(day)s::bigint + 1) * 86400)
ORDER BY d.block_number, d.log_index
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


def container_events(conn, unit_id: bytes) -> list[dict]:
    """The rows app/services/custody.fold replays for a tote or consignment (and its pallets), in chain order,
    with `container_kind` on its own `packed` row (tote, consignment or return) and on a return's acceptance
    ('accepted'). [] for any other id."""
    return fetch_all(conn, CONTAINER_EVENTS, {"u": unit_id})


def consignment(conn, unit_id: bytes) -> dict | None:
    """{consignment_id, from_org, to_org, is_return} of a loose consignment, None for any other id."""
    return fetch_one(conn, CONSIGNMENT_OF_TRANSIT, {"u": unit_id})


def dispenses_of_day(conn, dispenser: bytes, day: int) -> list[dict]:
    """The dispenser's Dispensed rows of a UTC day in chain order: lot_id, case_id, first_word, masks,
    block_number, log_index, time (block time, unix seconds)."""
    return fetch_all(conn, DISPENSES_OF_DAY, {"by": dispenser, "day": day})


def dispenses_of_lot(conn, lot_id: bytes) -> list[dict]:
    """A lot's Dispensed rows, newest first: case_id, by, first_word, masks, block_number, log_index, time."""
    return fetch_all(conn, DISPENSES_OF_LOT, {"lot": lot_id})


def latest_block_time(conn) -> int | None:
    """The latest mirrored block's timestamp (unix seconds), None with no block."""
    row = fetch_one(conn, LATEST_BLOCK_TIME)
    return None if row is None else int(row["time"])
