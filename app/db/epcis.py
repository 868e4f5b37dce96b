"""Reads of the chain mirror for EPCIS answers (app/services/epcis/): the sensor readings of units as events
(with their transaction and block time). Reads only."""

from __future__ import annotations

from app.db import fetch_all

READING_EVENTS = """
SELECT r.unit_id, r.sensor_id, r.by, r.start, r.interval, r.readings, r.block_number, r.log_index, r.tx_hash, b.timestamp
FROM ev_temperature_recorded r LEFT JOIN blocks b ON b.number = r.block_number
WHERE r.unit_id = ANY(%(units)s::bytea[])
ORDER BY r.block_number, r.log_index
"""


def reading_events(conn, unit_ids: list[bytes]) -> list[dict]:
    """The temperature readings recorded on these units, one row per recording transaction, in chain order."""
    return fetch_all(conn, READING_EVENTS, {"units": unit_ids})


# The packs an event put into a container (a case or tote packed, packs moved into a tote or consignment).
EVENT_PACKS = """
SELECT l.gtin, s.serial, l.lot_number, l.manufacturer,
       EXISTS (SELECT 1 FROM pack_events h WHERE h.lot_id = p.lot_id AND h.leaf_index = p.leaf_index
               AND h.actor = %(viewer)s::bytea) AS held
FROM pack_events p
JOIN lot_serials s ON s.lot_id = p.lot_id AND s.leaf_index = p.leaf_index
JOIN lot_status l ON l.lot_id = p.lot_id
WHERE p.block_number = %(b)s AND p.container_id = %(u)s  -- a tote's packs are logged beside its event
ORDER BY l.gtin, s.serial
"""
# The cases (and totes) a pallet packing put on the pallet, with their SSCCs.
PALLET_CHILDREN = """
SELECT u.sscc FROM ev_pallet_packed p, unnest(p.case_ids) AS c(case_id)
JOIN (SELECT case_id, sscc FROM ev_case_packed UNION ALL SELECT case_id, sscc FROM ev_case_tree_packed
      UNION ALL SELECT tote_id, sscc FROM ev_tote_packed) u ON u.case_id = c.case_id
WHERE p.block_number = %(b)s AND p.log_index = %(l)s
ORDER BY u.sscc
"""


def event_packs(conn, unit_id: bytes, block_number: int, log_index: int, viewer: bytes | None = None) -> list[dict]:
    """(gtin, serial, lot_number, manufacturer, held) of the packs the event at this position put into this
    unit; `held`: `viewer` acted on the pack itself (some pack event of it names the viewer as its actor)."""
    del log_index  # the pack rows of a tote packing or a pack move sit at other log indexes of the block
    return fetch_all(conn, EVENT_PACKS, {"u": unit_id, "b": block_number, "viewer": viewer})


def pallet_children(conn, block_number: int, log_index: int) -> list[dict]:
    """The SSCCs of the units the pallet packing at this position put on its pallet."""
    return fetch_all(conn, PALLET_CHILDREN, {"b": block_number, "l": log_index})


# The packs one pack-set event names (dispensed, destroyed, moved, returned, stolen, undone, quarantined, cleared).
PACKS_AT = """
SELECT l.gtin, s.serial, l.lot_number, l.manufacturer,
       EXISTS (SELECT 1 FROM pack_events h WHERE h.lot_id = p.lot_id AND h.leaf_index = p.leaf_index
               AND h.actor = %(viewer)s::bytea) AS held
FROM pack_events p
JOIN lot_serials s ON s.lot_id = p.lot_id AND s.leaf_index = p.leaf_index
JOIN lot_status l ON l.lot_id = p.lot_id
WHERE p.block_number = %(b)s AND p.log_index = %(l)s
ORDER BY l.gtin, s.serial
"""


def packs_at(conn, block_number: int, log_index: int, viewer: bytes | None = None) -> list[dict]:
    """(gtin, serial, lot_number, manufacturer, held) of the packs the pack-set event at this position names
    (`held` as in event_packs)."""
    return fetch_all(conn, PACKS_AT, {"b": block_number, "l": log_index, "viewer": viewer})
