"""Reads of the chain mirror for provenance answers (app/services/provenance.py): timelines,
containment, cold chain. Reads only (the indexer writes these tables). The parties come from
app/db/mirror.parties, the one account -> party lookup.
"""

from __future__ import annotations

from app.db import fetch_all, fetch_one

LOT = """
SELECT lot_id, gtin, manufacturer, lot_number, expiry, serial_count FROM lot_status WHERE lot_id = %s
"""
SERIAL = "SELECT lot_id, leaf_index, batch FROM lot_serials WHERE sgtin_id = %s"
UNIT_ORIGIN = "SELECT kind, sscc, lot_id FROM unit_status WHERE unit_id = %(u)s LIMIT 1"
CASE_SSCCS = """
SELECT case_id, sscc, 'case' AS kind FROM ev_case_packed WHERE case_id = ANY(%(cases)s::bytea[])
UNION ALL SELECT case_id, sscc, 'case' FROM ev_case_tree_packed WHERE case_id = ANY(%(cases)s::bytea[])
UNION ALL SELECT tote_id, sscc, 'tote' FROM ev_tote_packed WHERE tote_id = ANY(%(cases)s::bytea[])
"""
# The lot's own events; `batch` names the commissioning batch of a `commissioned` row (0 for a lot commissioned in
# one go), NULL on the others (a pack's timeline shows only its own batch's commissioning).
LOT_EVENTS = """
SELECT e.*, b.timestamp FROM (
    SELECT 'commissioned' AS event, block_number, log_index, tx_hash, manufacturer AS actor, 0::bigint AS batch
    FROM ev_lot_commissioned WHERE lot_id = %(lot)s
    UNION ALL SELECT 'opened', block_number, log_index, tx_hash, manufacturer, NULL FROM ev_lot_opened
    WHERE lot_id = %(lot)s
    UNION ALL SELECT 'commissioned', c.block_number, c.log_index, c.tx_hash, o.manufacturer, c.batch
    FROM ev_batch_commissioned c JOIN ev_lot_opened o USING (lot_id) WHERE c.lot_id = %(lot)s
    UNION ALL SELECT 'recalled', block_number, log_index, tx_hash, by, NULL FROM ev_lot_recalled WHERE lot_id = %(lot)s
    UNION ALL SELECT 'quarantined', block_number, log_index, tx_hash, by, NULL FROM ev_lot_quarantined
    WHERE lot_id = %(lot)s
    UNION ALL SELECT 'cleared', block_number, log_index, tx_hash, by, NULL FROM ev_lot_quarantine_cleared
    WHERE lot_id = %(lot)s
) e LEFT JOIN blocks b ON b.number = e.block_number
ORDER BY e.block_number, e.log_index
"""
# A unit's own events (a consignment's making is `consigned`, or `returned` for a return). `actor` acts; `sender`/`recipient` are the two ends of a handoff.
# A tree case's pack count is not in its event: it is the number of pack_events rows the event made.
UNIT_EVENTS = """
SELECT e.*, b.timestamp FROM (
    SELECT 'packed' AS event, block_number, log_index, tx_hash, packer AS actor, NULL::bytea AS sender,
           NULL::bytea AS recipient, NULL::bytea AS container_id, NULL::numeric AS container_sscc, count AS packs
    FROM ev_case_packed WHERE case_id = %(u)s
    UNION ALL SELECT 'packed', t.block_number, t.log_index, t.tx_hash, t.packer, NULL, NULL, NULL, NULL,
           (SELECT count(*) FROM pack_events p WHERE p.block_number = t.block_number AND p.log_index = t.log_index)
    FROM ev_case_tree_packed t WHERE t.case_id = %(u)s
    UNION ALL SELECT 'packed', block_number, log_index, tx_hash, packer, NULL, NULL, NULL, NULL, NULL
    FROM ev_pallet_packed WHERE pallet_id = %(u)s
    UNION ALL SELECT 'packed', t.block_number, t.log_index, t.tx_hash, t.packer, NULL, NULL, NULL, NULL,
           (SELECT count(*) FROM pack_events p WHERE p.container_id = t.tote_id AND p.block_number = t.block_number)
    FROM ev_tote_packed t WHERE t.tote_id = %(u)s
    UNION ALL SELECT CASE WHEN c.is_return THEN 'returned' ELSE 'consigned' END, c.block_number, c.log_index,
           c.tx_hash, c.from_org, c.from_org, c.to_org, NULL, NULL,
           (SELECT count(*) FROM pack_events p
            WHERE p.container_id = c.consignment_id AND p.block_number = c.block_number)
    FROM ev_consignment_created c WHERE c.consignment_id = %(u)s
    UNION ALL SELECT 'accepted', block_number, log_index, tx_hash, by, from_org, by, NULL, NULL, NULL
    FROM ev_return_accepted WHERE consignment_id = %(u)s
    UNION ALL SELECT 'palletised', block_number, log_index, tx_hash, packer, NULL, NULL, pallet_id, sscc, NULL
    FROM ev_pallet_packed WHERE case_ids @> ARRAY[%(u)s::bytea]
    UNION ALL SELECT 'shipped', block_number, log_index, tx_hash, from_org, from_org, to_org, NULL, NULL, NULL
    FROM ev_shipped WHERE unit_id = %(u)s
    UNION ALL SELECT 'received', block_number, log_index, tx_hash, by, from_org, by, NULL, NULL, NULL
    FROM ev_received WHERE unit_id = %(u)s
    UNION ALL SELECT 'refused', block_number, log_index, tx_hash, by, sender, by, NULL, NULL, NULL
    FROM ev_refused WHERE unit_id = %(u)s
    UNION ALL SELECT 'unpacked', block_number, log_index, tx_hash, by, NULL, NULL, NULL, NULL, NULL
    FROM ev_unpacked WHERE unit_id = %(u)s
    UNION ALL SELECT 'quarantined', block_number, log_index, tx_hash, by, NULL, NULL, NULL, NULL, NULL
    FROM ev_unit_quarantined WHERE unit_id = %(u)s
    UNION ALL SELECT 'cleared', block_number, log_index, tx_hash, by, NULL, NULL, NULL, NULL, NULL
    FROM ev_unit_quarantine_cleared WHERE unit_id = %(u)s
) e LEFT JOIN blocks b ON b.number = e.block_number
ORDER BY e.block_number, e.log_index
"""
# pack_events rows keep no transaction hash: it comes from the event row they were exploded from.
_PACK_EVENT_SOURCES = """
FROM pack_events p
LEFT JOIN ev_dispensed d ON p.kind = 'dispensed' AND d.block_number = p.block_number AND d.log_index = p.log_index
LEFT JOIN ev_destroyed x ON p.kind = 'destroyed' AND x.block_number = p.block_number AND x.log_index = p.log_index
LEFT JOIN ev_packs_quarantined q
       ON p.kind = 'quarantined' AND q.block_number = p.block_number AND q.log_index = p.log_index
LEFT JOIN ev_packs_quarantine_cleared c
       ON p.kind = 'cleared' AND c.block_number = p.block_number AND c.log_index = p.log_index
LEFT JOIN ev_packs_moved m
       ON p.kind IN ('moved', 'returned') AND m.block_number = p.block_number AND m.log_index = p.log_index
LEFT JOIN ev_packs_stolen s ON p.kind = 'stolen' AND s.block_number = p.block_number AND s.log_index = p.log_index
LEFT JOIN ev_dispense_undone u ON p.kind = 'undone' AND u.block_number = p.block_number AND u.log_index = p.log_index
LEFT JOIN blocks b ON b.number = p.block_number
"""
_PACK_EVENT_TX = "COALESCE(d.tx_hash, x.tx_hash, q.tx_hash, c.tx_hash, m.tx_hash, s.tx_hash, u.tx_hash)"
PACK_CASE = """
SELECT p.container_id, p.block_number, p.log_index, b.timestamp
FROM pack_events p LEFT JOIN blocks b ON b.number = p.block_number
WHERE p.lot_id = %(lot)s AND p.leaf_index = %(index)s AND p.kind = 'cased'
ORDER BY p.block_number, p.log_index LIMIT 1
"""
# Every container a pack was put in (its case, totes, consignments), oldest first: custody.legs reads them.
PACK_LEGS = """
SELECT p.kind, p.container_id, p.block_number, p.log_index, p.actor, b.timestamp
FROM pack_events p LEFT JOIN blocks b ON b.number = p.block_number
WHERE p.lot_id = %(lot)s AND p.leaf_index = %(index)s AND p.kind IN ('cased', 'moved', 'returned')
ORDER BY p.block_number, p.log_index
"""
PACK_EVENTS = f"""
SELECT p.kind AS event, p.block_number, p.log_index, p.container_id, p.actor, b.timestamp,
       {_PACK_EVENT_TX} AS tx_hash
{_PACK_EVENT_SOURCES}
WHERE p.lot_id = %(lot)s AND p.leaf_index = %(index)s AND p.kind <> 'cased'
ORDER BY p.block_number, p.log_index
"""
CASE_PACK_EVENTS = f"""
SELECT p.kind AS event, p.block_number, p.log_index, p.actor, b.timestamp, count(*) AS packs,
       {_PACK_EVENT_TX} AS tx_hash
{_PACK_EVENT_SOURCES}
WHERE p.container_id = %(u)s AND p.kind <> 'cased'
GROUP BY p.kind, p.block_number, p.log_index, p.actor, b.timestamp, 7
ORDER BY p.block_number, p.log_index
"""
LOT_CASES = """
SELECT k.*, b.timestamp FROM (
    SELECT case_id, sscc, packer, block_number, log_index, tx_hash, count AS packs
    FROM ev_case_packed WHERE lot_id = %(lot)s
    UNION ALL SELECT t.case_id, t.sscc, t.packer, t.block_number, t.log_index, t.tx_hash,
           (SELECT count(*) FROM pack_events p WHERE p.block_number = t.block_number AND p.log_index = t.log_index)
    FROM ev_case_tree_packed t WHERE t.lot_id = %(lot)s
) k LEFT JOIN blocks b ON b.number = k.block_number
ORDER BY k.block_number, k.log_index
"""
# A dispense undone (EU FMD) no longer counts: a pack is dispensed when its latest dispensed/undone row is one.
LOT_PACK_COUNTS = """
SELECT kind, count(DISTINCT leaf_index) AS packs FROM pack_events
WHERE lot_id = %(lot)s AND kind IN ('cased', 'destroyed', 'stolen') GROUP BY kind
UNION ALL
SELECT 'dispensed', count(*) FROM (
    SELECT DISTINCT ON (leaf_index) kind FROM pack_events
    WHERE lot_id = %(lot)s AND kind IN ('dispensed', 'undone')
    ORDER BY leaf_index, block_number DESC, log_index DESC
) latest WHERE kind = 'dispensed'
"""
LOT_PACKS_QUARANTINED = """
SELECT count(*) AS packs FROM (
    SELECT DISTINCT ON (leaf_index) kind FROM pack_events
    WHERE lot_id = %(lot)s AND kind IN ('quarantined', 'cleared')
    ORDER BY leaf_index, block_number DESC, log_index DESC
) latest WHERE kind = 'quarantined'
"""
PALLET_CASES = "SELECT case_ids FROM ev_pallet_packed WHERE pallet_id = %s"
READINGS = """
SELECT unit_id, sensor_id, start, interval, readings, block_number, log_index FROM ev_temperature_recorded
WHERE unit_id = ANY(%(units)s::bytea[])
ORDER BY block_number, log_index
"""
EXCURSIONS = """
SELECT x.unit_id, x.sensor_id, x.time, x.value, x.min_temp, x.max_temp, x.block_number, x.log_index, x.tx_hash,
       b.timestamp
FROM ev_excursion_detected x LEFT JOIN blocks b ON b.number = x.block_number
WHERE x.unit_id = ANY(%(units)s::bytea[])
ORDER BY x.block_number, x.log_index
"""


def lot(conn, lot_id: bytes) -> dict | None:
    """{lot_id, gtin, manufacturer, lot_number, expiry, serial_count} of a commissioned lot, or None."""
    return fetch_one(conn, LOT, (lot_id,))


def serial_leaf(conn, sgtin_id: bytes) -> dict | None:
    """{lot_id, leaf_index, batch} of a serial commissioned through this service, or None."""
    return fetch_one(conn, SERIAL, (sgtin_id,))


def unit_origin(conn, unit_id: bytes) -> dict | None:
    """{kind (case, pallet, tote or consignment), sscc (None for a consignment), lot_id (a case's)} of a unit,
    or None."""
    return fetch_one(conn, UNIT_ORIGIN, {"u": unit_id})


def case_ssccs(conn, case_ids: list[bytes]) -> list[dict]:
    """{case_id, sscc, kind (case or tote)} of each of these cases and totes (a pallet's units)."""
    return fetch_all(conn, CASE_SSCCS, {"cases": case_ids})


def lot_events(conn, lot_id: bytes) -> list[dict]:
    """The lot's own events in chain order: event, block_number, log_index, tx_hash, actor, batch (of a
    `commissioned` row), timestamp."""
    return fetch_all(conn, LOT_EVENTS, {"lot": lot_id})


def unit_events(conn, unit_id: bytes) -> list[dict]:
    """A case's or pallet's own events in chain order (UNIT_EVENTS: event, position, tx_hash, actor,
    sender, recipient, container_id, container_sscc, packs, timestamp)."""
    return fetch_all(conn, UNIT_EVENTS, {"u": unit_id})


def pack_case(conn, lot_id: bytes, index: int) -> dict | None:
    """{container_id, block_number, log_index, timestamp} of the pack's packing into a case, or None."""
    return fetch_one(conn, PACK_CASE, {"lot": lot_id, "index": index})


def pack_legs(conn, lot_id: bytes, index: int) -> list[dict]:
    """The pack's cased/moved/returned rows (kind, container_id, position, actor, timestamp), in chain order."""
    return fetch_all(conn, PACK_LEGS, {"lot": lot_id, "index": index})


def pack_timeline(conn, lot_id: bytes, index: int) -> list[dict]:
    """The pack's own pack-set events but its casing, with their transactions and block times."""
    return fetch_all(conn, PACK_EVENTS, {"lot": lot_id, "index": index})


def case_pack_events(conn, case_id: bytes) -> list[dict]:
    """The pack-set events naming the case, one row per event with the packs it counts."""
    return fetch_all(conn, CASE_PACK_EVENTS, {"u": case_id})


def lot_cases(conn, lot_id: bytes) -> list[dict]:
    """Each case packed from the lot: case_id, sscc, packer, position, tx_hash, packs, timestamp."""
    return fetch_all(conn, LOT_CASES, {"lot": lot_id})


def lot_pack_counts(conn, lot_id: bytes) -> dict[str, int]:
    """kind (cased, dispensed, destroyed, stolen) -> how many packs of the lot (dispensed: not undone since)."""
    return {r["kind"]: r["packs"] for r in fetch_all(conn, LOT_PACK_COUNTS, {"lot": lot_id})}


def lot_packs_quarantined(conn, lot_id: bytes) -> int:
    """How many packs of the lot are quarantined now (their own quarantine)."""
    return fetch_one(conn, LOT_PACKS_QUARANTINED, {"lot": lot_id})["packs"]


def pallet_cases(conn, pallet_id: bytes) -> list[bytes]:
    """The cases a pallet was packed with ([] for an unknown pallet)."""
    row = fetch_one(conn, PALLET_CASES, (pallet_id,))
    return [] if row is None else [bytes(c) for c in row["case_ids"]]


def readings(conn, unit_ids: list[bytes]) -> list[dict]:
    """The temperature readings recorded on these units, in chain order."""
    return fetch_all(conn, READINGS, {"units": unit_ids})


def excursions(conn, unit_ids: list[bytes]) -> list[dict]:
    """The excursions the contract flagged on these units, in chain order, with block times."""
    return fetch_all(conn, EXCURSIONS, {"units": unit_ids})
