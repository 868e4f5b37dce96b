"""Reads of the verification path (app/services/verify.py): a pack and a lot, each in one prepared statement
(``fetch_all_prepared``), so that a pack's verification is one round trip in the common case. A case's or
pallet's custody events and the parties behind accounts are app/db/mirror.py's (custody_events, parties), folded
by app/services/custody.py like every other reader's.

Rows: ``PackRow`` and ``LotRow`` (the caller uses their fields).
"""

from __future__ import annotations

from datetime import date
from typing import NamedTuple

from app.db import fetch_all_prepared, fetch_rows_prepared

# One round trip whatever the answer: the serial's lot and leaf, the lot's record and status (lot_status: the one
# status source), the pack's own events and its proof; when the serial is unknown, whether its GTIN is (unknown
# product or counterfeit serial) and whether the printed lot is on chain without its serials here.
# Every lookup after the serial's is a LATERAL subquery keyed by its lot (and batch): a nested loop of index
# lookups that runs only when the serial is found. Plain LEFT JOINs were planned (generic plan) as hash joins
# that read every lot's commission and tree rows on each verification, found or not (issue 13: 60 -> 140 µs of
# Postgres CPU for an unknown serial once lot_trees and lot_batches joined).
PACK = """
SELECT s.lot_id, s.leaf_index, c.lot, c.expiry,
       l.serials_root IS NOT NULL AS on_chain, l.manufacturer, l.expiry AS chain_expiry,
       l.recalled, l.quarantined AS lot_quarantined,
       (SELECT json_agg(json_build_array(p.kind, encode(p.container_id, 'hex'), p.block_number, p.log_index,
                                         encode(p.actor, 'hex')) ORDER BY p.block_number, p.log_index)
        FROM pack_events p WHERE p.lot_id = s.lot_id AND p.leaf_index = s.leaf_index) AS pack_events,
       s.batch, t.first_index AS batch_first, t.n AS batch_count,
       CASE WHEN pf.siblings IS NOT NULL
            THEN COALESCE((SELECT string_agg(u.node, ''::bytea ORDER BY u.depth)
                           FROM unnest(pf.siblings) WITH ORDINALITY AS u(node, depth)), ''::bytea) END AS proof,
       r.serials_root AS batch_root, r.block_number AS batch_block, r.tx_hash AS batch_tx,
       CASE WHEN s.lot_id IS NULL THEN EXISTS (SELECT 1 FROM ev_product_registered p WHERE p.gtin = $2) END AS product,
       CASE WHEN s.lot_id IS NULL THEN (EXISTS (SELECT 1 FROM ev_lot_commissioned u WHERE u.lot_id = $3)
                                        OR EXISTS (SELECT 1 FROM ev_lot_opened u WHERE u.lot_id = $3))
                                   AND NOT EXISTS (SELECT 1 FROM lot_commissions v WHERE v.lot_id = $3) END AS unlisted
FROM (SELECT 1) one
LEFT JOIN lot_serials s ON s.sgtin_id = $1
LEFT JOIN LATERAL (SELECT c.lot, c.expiry, c.serial_count FROM lot_commissions c WHERE c.lot_id = s.lot_id) c ON true
LEFT JOIN LATERAL (SELECT l.serials_root, l.block_number, l.tx_hash, l.manufacturer, l.expiry, l.recalled, l.quarantined
                   FROM lot_status l WHERE l.lot_id = s.lot_id LIMIT 1) l ON true
LEFT JOIN LATERAL (SELECT t.first_index, (length(t.nodes) / 32 + 1) / 2 AS n
                   FROM lot_trees t WHERE t.lot_id = s.lot_id AND t.batch = s.batch) t ON true
LEFT JOIN LATERAL (SELECT r.serials_root, r.block_number, r.tx_hash
                   FROM lot_batches r WHERE r.lot_id = s.lot_id AND r.batch = s.batch LIMIT 1) r ON true
LEFT JOIN LATERAL (SELECT batch_proof(s.lot_id, s.batch, t.n, s.leaf_index - t.first_index) AS siblings) pf ON true
"""

LOT = """
SELECT l.lot_id, l.gtin, l.lot_number, l.expiry, l.serial_count, l.serials_root, l.manufacturer,
       l.block_number AS lot_block, l.tx_hash AS lot_tx, l.recalled, l.quarantined AS lot_quarantined,
       EXISTS (SELECT 1 FROM ev_product_registered p WHERE p.gtin = $2) AS product
FROM (SELECT 1) one LEFT JOIN lot_status l ON l.lot_id = $1
"""


class PackRow(NamedTuple):
    """A serial's lot and leaf, the lot's record (as loaded and as committed on chain), the pack's own events
    and its Merkle proof. With no such serial (``lot_id`` None): whether its GTIN is registered (``product``)
    and whether the printed lot is on chain without its serial list here (``unlisted``)."""

    lot_id: bytes | None
    leaf_index: int | None
    lot: str | None
    expiry: date | None
    on_chain: bool | None  # False: the lot is not (yet) committed on chain
    manufacturer: bytes | None
    chain_expiry: int | None  # seconds, as committed on chain
    recalled: bool | None
    lot_quarantined: bool | None
    pack_events: list[dict]  # its pack_events rows, as app.db.mirror.pack_events gives them (for custody.pack_state)
    batch: int | None  # the commissioning batch that holds the serial (0 for a lot commissioned in one go)
    batch_first: int | None  # its first leaf index
    batch_count: int | None  # its serials (leaves of its tree)
    proof: bytes | None  # the siblings from the leaf up in the batch's tree, 32 bytes each (None: no stored tree)
    batch_root: bytes | None  # the batch's root on chain (None: not (yet) committed)
    batch_block: int | None
    batch_tx: bytes | None
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
    row = PackRow(*fetch_rows_prepared(conn, "verify_pack", PACK, (sgtin_id, gtin, printed_lot_id))[0])
    return row._replace(pack_events=[
        {"kind": kind, "container_id": bytes.fromhex(container), "block_number": block, "log_index": index,
         "actor": bytes.fromhex(actor)}
        for kind, container, block, index, actor in row.pack_events or ()
    ])  # fmt: skip


def lot(conn, lot_id: bytes, gtin: int) -> LotRow:
    """The lot `lot_id` as committed on chain, with its status (lot_status)."""
    return LotRow(**fetch_all_prepared(conn, "verify_lot", LOT, (lot_id, gtin))[0])
