"""Participation facts for the access policy (app/services/access.py): reads of the chain mirror only.

A viewer's custody events on cases are its own events on the case, and its events on a pallet while the
pallet held the case (from the palletisation up to and including the event that ended the stay: the
pallet unpacked, or the case shipped, unpacked or palletised again). Totes and consignments count as
cases here (their lots are those of the packs moved into them), and a viewer's own pack-level moves,
stolen reports and undone dispenses make it a participant of the packs' lot.
"""

from __future__ import annotations

from app.db import fetch_all, fetch_one

# The custody events of account %(me)s on any unit (case or pallet): each branch is an index lookup on an
# account column. Then each of them as an event of a case: on the case itself, or on a pallet while the
# pallet held the case (no stay end strictly between the palletisation and the event).
_MY_CASE_EVENTS = """
my_events AS (
    SELECT 'shipped' AS kind, unit_id, block_number, log_index FROM ev_shipped WHERE from_org = %(me)s
    UNION ALL SELECT 'shipped', unit_id, block_number, log_index FROM ev_shipped WHERE to_org = %(me)s
    UNION ALL SELECT 'received', unit_id, block_number, log_index FROM ev_received WHERE by = %(me)s
    UNION ALL SELECT 'refused', unit_id, block_number, log_index FROM ev_refused WHERE by = %(me)s
    UNION ALL SELECT 'refused', unit_id, block_number, log_index FROM ev_refused WHERE sender = %(me)s
    UNION ALL SELECT 'unpacked', unit_id, block_number, log_index FROM ev_unpacked WHERE by = %(me)s
    UNION ALL SELECT 'packed', case_id, block_number, log_index FROM ev_case_packed WHERE packer = %(me)s
    UNION ALL SELECT 'packed', case_id, block_number, log_index FROM ev_case_tree_packed WHERE packer = %(me)s
    UNION ALL SELECT 'packed', pallet_id, block_number, log_index FROM ev_pallet_packed WHERE packer = %(me)s
    UNION ALL SELECT 'packed', tote_id, block_number, log_index FROM ev_tote_packed WHERE packer = %(me)s
    UNION ALL SELECT 'accepted', consignment_id, block_number, log_index FROM ev_return_accepted WHERE by = %(me)s
),
my_case_events AS (
    SELECT kind, unit_id AS case_id, block_number, log_index FROM my_events
    UNION ALL
    SELECT CASE WHEN m.kind = 'packed' THEN 'palletised' ELSE m.kind END, c.case_id, m.block_number, m.log_index
    FROM my_events m
    JOIN ev_pallet_packed p ON p.pallet_id = m.unit_id
    CROSS JOIN LATERAL unnest(p.case_ids) AS c (case_id)
    WHERE (m.block_number, m.log_index) >= (p.block_number, p.log_index)
      AND NOT EXISTS (
          SELECT 1 FROM (
              SELECT block_number, log_index FROM ev_unpacked WHERE unit_id = p.pallet_id
              UNION ALL SELECT block_number, log_index FROM ev_unpacked WHERE unit_id = c.case_id
              UNION ALL SELECT block_number, log_index FROM ev_shipped WHERE unit_id = c.case_id
              UNION ALL SELECT block_number, log_index FROM ev_pallet_packed q WHERE q.case_ids @> ARRAY[c.case_id]
          ) e
          WHERE (e.block_number, e.log_index) > (p.block_number, p.log_index)
            AND (e.block_number, e.log_index) < (m.block_number, m.log_index)
      )
)"""

# The lots account %(me)s may see listed: those it manufactured, and those it took part in (a case of
# the lot, a pallet while it held one, or packs of the lot dispensed or destroyed). Ends with the CTE
# `my_lots`: prefix a select that reads it (app/services/queries.py).
MY_LOTS = f"""
WITH {_MY_CASE_EVENTS},
my_lots AS (
    SELECT lot_id FROM lot_status WHERE manufacturer = %(me)s
    UNION SELECT c.lot_id FROM ev_case_packed c JOIN my_case_events m USING (case_id)
    UNION SELECT c.lot_id FROM ev_case_tree_packed c JOIN my_case_events m USING (case_id)
    UNION SELECT lot_id FROM ev_dispensed WHERE by = %(me)s
    UNION SELECT lot_id FROM ev_destroyed WHERE by = %(me)s
    UNION SELECT p.lot_id FROM pack_events p JOIN my_case_events m ON p.container_id = m.case_id
          WHERE p.kind IN ('moved', 'returned')
    UNION SELECT lot_id FROM ev_packs_moved WHERE by = %(me)s
    UNION SELECT lot_id FROM ev_packs_stolen WHERE by = %(me)s
    UNION SELECT lot_id FROM ev_dispense_undone WHERE by = %(me)s
)
"""

# The last custody event of account %(me)s in lot %(lot)s: on a case of the lot, on a pallet while it held
# one, or on packs of the lot.
LAST_IN_LOT = f"""
WITH {_MY_CASE_EVENTS},
lot_cases AS (
    SELECT case_id FROM ev_case_packed WHERE lot_id = %(lot)s
    UNION ALL SELECT case_id FROM ev_case_tree_packed WHERE lot_id = %(lot)s
    UNION SELECT container_id FROM pack_events WHERE lot_id = %(lot)s AND kind IN ('moved', 'returned')
)
SELECT kind, block_number, log_index FROM (
    SELECT m.kind, m.block_number, m.log_index FROM my_case_events m JOIN lot_cases USING (case_id)
    UNION ALL SELECT 'dispensed', block_number, log_index FROM ev_dispensed WHERE by = %(me)s AND lot_id = %(lot)s
    UNION ALL SELECT 'destroyed', block_number, log_index FROM ev_destroyed WHERE by = %(me)s AND lot_id = %(lot)s
    UNION ALL SELECT 'moved', block_number, log_index FROM ev_packs_moved WHERE by = %(me)s AND lot_id = %(lot)s
    UNION ALL SELECT 'stolen', block_number, log_index FROM ev_packs_stolen WHERE by = %(me)s AND lot_id = %(lot)s
    UNION ALL SELECT 'undone', block_number, log_index FROM ev_dispense_undone WHERE by = %(me)s AND lot_id = %(lot)s
) e
ORDER BY block_number DESC, log_index DESC
LIMIT 1
"""

# The manufacturers of a unit: those of every lot in a case, tote, consignment or pallet (the SQL function
# unit_manufacturers, migration 0019: the one place the rule is written).
UNIT_MANUFACTURERS = "SELECT m AS manufacturer FROM unit_manufacturers(%(u)s::bytea) m"

# The manufacturers of what an alert (row alias `a`) is about: its product, its lot, its pack's lot, the
# lots in its unit (case, tote, consignment or pallet).
_ALERT_OBJECT_MANUFACTURERS = """
    SELECT p.manufacturer FROM ev_product_registered p WHERE p.gtin = a.gtin
    UNION ALL SELECT l.manufacturer FROM lot_status l WHERE l.lot_id = a.lot_id
    UNION ALL SELECT l.manufacturer FROM lot_serials s JOIN lot_status l USING (lot_id)
              WHERE s.sgtin_id = a.sgtin_id
    UNION ALL SELECT m FROM unit_manufacturers(a.unit_id) m"""
# A predicate on an alert row `a`: account %(me)s manufactured what it is about (alert lists).
ALERT_MANUFACTURED_BY = f"%(me)s::bytea IN ({_ALERT_OBJECT_MANUFACTURERS}\n)"
ALERT_MANUFACTURERS = f"""
SELECT DISTINCT manufacturer FROM (SELECT %(gtin)s::numeric AS gtin, %(lot)s::bytea AS lot_id,
                                          %(sgtin)s::bytea AS sgtin_id, %(unit)s::bytea AS unit_id) a
CROSS JOIN LATERAL ({_ALERT_OBJECT_MANUFACTURERS}
) m (manufacturer)
"""


def last_in_lot(conn, account: bytes, lot_id: bytes) -> dict | None:
    """`account`'s last custody event in the lot, {kind, block_number, log_index}; None if it took part in none."""
    return fetch_one(conn, LAST_IN_LOT, {"me": account, "lot": lot_id})


def unit_manufacturers(conn, unit_id: bytes) -> set[bytes]:
    """The manufacturers of every lot in a case, tote, consignment or pallet."""
    return {bytes(r["manufacturer"]) for r in fetch_all(conn, UNIT_MANUFACTURERS, {"u": unit_id})}


def alert_manufacturers(conn, row: dict) -> set[bytes]:
    """The manufacturers of what an alert row (gtin, lot_id, sgtin_id, unit_id) is about."""
    params = {
        "gtin": int(row["gtin"]) if row.get("gtin") is not None else None,
        "lot": row.get("lot_id") and bytes(row["lot_id"]),
        "sgtin": row.get("sgtin_id") and bytes(row["sgtin_id"]),
        "unit": row.get("unit_id") and bytes(row["unit_id"]),
    }
    return {bytes(r["manufacturer"]) for r in fetch_all(conn, ALERT_MANUFACTURERS, params) if r["manufacturer"]}
