"""Reads of the verification path (app/services/verify.py): a pack, a lot, a unit's custody events, and the
parties behind chain accounts. Every statement is prepared once per connection (``fetch_all_prepared``): a
verification is one round trip in the common case.

Rows: ``PackRow`` and ``LotRow`` (the caller uses their fields); a unit's custody events are pass-through dicts
for the custody fold.
"""

from __future__ import annotations

from datetime import date
from typing import NamedTuple

from app.db import fetch_all_prepared

# One round trip whatever the answer: the serial's lot, leaf, lot record, own events and proof;
# when the serial is unknown, whether its GTIN is (unknown product or counterfeit serial).
PACK = """
SELECT s.lot_id, s.leaf_index, c.lot, c.expiry, c.serial_count,
       l.serials_root, l.block_number AS lot_block, l.tx_hash AS lot_tx, l.manufacturer, l.expiry AS chain_expiry,
       EXISTS (SELECT 1 FROM ev_lot_recalled r WHERE r.lot_id = s.lot_id) AS recalled,
       COALESCE((SELECT max(q.block_number * 100000 + q.log_index) FROM ev_lot_quarantined q WHERE q.lot_id = s.lot_id), -1)
     > COALESCE((SELECT max(x.block_number * 100000 + x.log_index) FROM ev_lot_quarantine_cleared x
                 WHERE x.lot_id = s.lot_id), -1) AS lot_quarantined,
       (SELECT json_agg(json_build_array(p.kind, encode(p.container_id, 'hex'), p.block_number, encode(p.actor, 'hex'))
                        ORDER BY p.block_number, p.log_index)
        FROM pack_events p WHERE p.lot_id = s.lot_id AND p.leaf_index = s.leaf_index) AS pack_events,
       lot_proof(s.lot_id, c.serial_count, s.leaf_index) AS proof,
       CASE WHEN s.lot_id IS NULL THEN EXISTS (SELECT 1 FROM ev_product_registered p WHERE p.gtin = $2) END AS product,
       CASE WHEN s.lot_id IS NULL THEN EXISTS (SELECT 1 FROM ev_lot_commissioned u WHERE u.lot_id = $3)
                                   AND NOT EXISTS (SELECT 1 FROM lot_commissions v WHERE v.lot_id = $3) END AS unlisted
FROM (SELECT 1) one
LEFT JOIN lot_serials s ON s.sgtin_id = $1
LEFT JOIN lot_commissions c ON c.lot_id = s.lot_id
LEFT JOIN ev_lot_commissioned l ON l.lot_id = s.lot_id
"""

LOT = """
SELECT l.lot_id, l.gtin, l.lot_number, l.expiry, l.serial_count, l.serials_root, l.manufacturer,
       l.block_number AS lot_block, l.tx_hash AS lot_tx,
       EXISTS (SELECT 1 FROM ev_lot_recalled r WHERE r.lot_id = l.lot_id) AS recalled,
       COALESCE((SELECT max(q.block_number * 100000 + q.log_index) FROM ev_lot_quarantined q WHERE q.lot_id = l.lot_id), -1)
     > COALESCE((SELECT max(x.block_number * 100000 + x.log_index) FROM ev_lot_quarantine_cleared x
                 WHERE x.lot_id = l.lot_id), -1) AS lot_quarantined,
       EXISTS (SELECT 1 FROM ev_product_registered p WHERE p.gtin = $2) AS product
FROM (SELECT 1) one LEFT JOIN ev_lot_commissioned l ON l.lot_id = $1
"""

# The custody events of a unit and of every pallet it was put on, oldest first, with block times.
PATH = """
WITH pallets AS (SELECT pallet_id FROM ev_pallet_packed WHERE case_ids @> ARRAY[$1::bytea]),
units AS (SELECT $1::bytea AS u UNION SELECT pallet_id FROM pallets)
SELECT e.*, b.timestamp AS at FROM (
    SELECT case_id AS unit, 'packed' AS kind, block_number, log_index, tx_hash, packer AS actor, NULL::bytea AS other,
           sscc, NULL::integer AS value, NULL::integer AS min_temp, NULL::integer AS max_temp, NULL::bigint AS time
      FROM ev_case_packed WHERE case_id = $1
    UNION ALL SELECT case_id, 'packed', block_number, log_index, tx_hash, packer, NULL, sscc, NULL, NULL, NULL, NULL
      FROM ev_case_tree_packed WHERE case_id = $1
    UNION ALL SELECT pallet_id, 'packed', block_number, log_index, tx_hash, packer, NULL, sscc, NULL, NULL, NULL, NULL
      FROM ev_pallet_packed WHERE pallet_id IN (SELECT u FROM units)
    UNION ALL SELECT unit_id, 'shipped', block_number, log_index, tx_hash, from_org, to_org, NULL, NULL, NULL, NULL, NULL
      FROM ev_shipped WHERE unit_id IN (SELECT u FROM units)
    UNION ALL SELECT unit_id, 'received', block_number, log_index, tx_hash, by, from_org, NULL, NULL, NULL, NULL, NULL
      FROM ev_received WHERE unit_id IN (SELECT u FROM units)
    UNION ALL SELECT unit_id, 'refused', block_number, log_index, tx_hash, by, sender, NULL, NULL, NULL, NULL, NULL
      FROM ev_refused WHERE unit_id IN (SELECT u FROM units)
    UNION ALL SELECT unit_id, 'unpacked', block_number, log_index, tx_hash, by, NULL, NULL, NULL, NULL, NULL, NULL
      FROM ev_unpacked WHERE unit_id IN (SELECT u FROM units)
    UNION ALL SELECT unit_id, 'quarantined', block_number, log_index, tx_hash, by, NULL, NULL, NULL, NULL, NULL, NULL
      FROM ev_unit_quarantined WHERE unit_id IN (SELECT u FROM units)
    UNION ALL SELECT unit_id, 'cleared', block_number, log_index, tx_hash, by, NULL, NULL, NULL, NULL, NULL, NULL
      FROM ev_unit_quarantine_cleared WHERE unit_id IN (SELECT u FROM units)
    UNION ALL SELECT unit_id, 'excursion', block_number, log_index, tx_hash, NULL, NULL, NULL, value, min_temp, max_temp, time
      FROM ev_excursion_detected WHERE unit_id IN (SELECT u FROM units)
) e LEFT JOIN blocks b ON b.number = e.block_number
ORDER BY e.block_number, e.log_index
"""

ORGS = """
SELECT r.account, r.gln, o.name FROM ev_organisation_registered r
LEFT JOIN organisations o ON o.account = r.account
WHERE r.account = ANY($1)
"""


class PackRow(NamedTuple):
    """A serial's lot and leaf, the lot's record (as loaded and as committed on chain), the pack's own events
    and its Merkle proof. With no such serial (``lot_id`` None): whether its GTIN is registered (``product``)
    and whether the printed lot is on chain without its serial list here (``unlisted``)."""

    lot_id: bytes | None
    leaf_index: int | None
    lot: str | None
    expiry: date | None
    serial_count: int | None
    serials_root: bytes | None  # None: the lot is not (yet) committed on chain
    lot_block: int | None
    lot_tx: bytes | None
    manufacturer: bytes | None
    chain_expiry: int | None  # seconds, as committed on chain
    recalled: bool | None
    lot_quarantined: bool | None
    pack_events: list | None  # [kind, container hex, block, actor hex], oldest first
    proof: list | None  # the siblings from the leaf up (None: no stored tree)
    product: bool | None
    unlisted: bool | None


class LotRow(NamedTuple):
    """A lot as committed on chain (``lot_id`` None: no such lot) and whether its GTIN is registered."""

    lot_id: bytes | None
    gtin: int | None
    lot_number: str | None
    expiry: int | None  # seconds
    serial_count: int | None
    serials_root: bytes | None
    manufacturer: bytes | None
    lot_block: int | None
    lot_tx: bytes | None
    recalled: bool | None
    lot_quarantined: bool | None
    product: bool


def pack(conn, sgtin_id: bytes, gtin: int, printed_lot_id: bytes) -> PackRow:
    """The pack `sgtin_id` of `gtin`, printed with the lot `printed_lot_id` (any 32 bytes when none was printed)."""
    return PackRow(**fetch_all_prepared(conn, "verify_pack", PACK, (sgtin_id, gtin, printed_lot_id))[0])


def lot(conn, lot_id: bytes, gtin: int) -> LotRow:
    return LotRow(**fetch_all_prepared(conn, "verify_lot", LOT, (lot_id, gtin))[0])


def unit_events(conn, unit_id: bytes) -> list[dict]:
    """The custody events of a case or pallet and of every pallet it was put on, oldest first: dicts with
    unit, kind, block_number, log_index, tx_hash, actor, other, sscc, value, min_temp, max_temp, time, at."""
    return fetch_all_prepared(conn, "verify_path", PATH, (unit_id,))


def parties(conn, accounts: list[bytes]) -> list[dict]:
    """The registered organisations among `accounts`: dicts with account, gln and name (None when the
    service has no name for it)."""
    return fetch_all_prepared(conn, "verify_orgs", ORGS, (accounts,))
