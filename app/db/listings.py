"""Reads of the listed units' mirror (`unit_listings`, migration 0022): each tote's, consignment's and roll cage's
current listing, as the contract commits it (app/listings.py says what a listing is).

Reads only: the indexer writes `unit_listings` (app/db/indexer.copy_mirror_rows; app/indexer/listings.py derives
the rows). A unit's current listing is its latest row.
"""

from __future__ import annotations

from typing import NamedTuple

from app.db import fetch_all

CURRENT = """
SELECT DISTINCT ON (unit_id) unit_id, kind, listing, listing_hash, cage_id, block_number, log_index
FROM unit_listings WHERE unit_id = ANY(%s)
ORDER BY unit_id, block_number DESC, log_index DESC
"""


class UnitListing(NamedTuple):
    unit_id: bytes
    kind: str  # 'listed' (tote, consignment: abi.encode(Listed[])) or 'cage' (abi.encode(toteIds, hashes))
    listing: bytes
    listing_hash: bytes
    cage_id: bytes | None  # a tote riding on a roll cage: the cage
    block_number: int
    log_index: int


def current(conn, unit_ids) -> dict[bytes, UnitListing]:
    """The current listing of each of these units that has one (a case, a pallet or an unknown id has none)."""
    ids = sorted({bytes(u) for u in unit_ids})
    if not ids:
        return {}
    rows = fetch_all(conn, CURRENT, (ids,))
    return {
        bytes(r["unit_id"]): UnitListing(
            bytes(r["unit_id"]),
            r["kind"],
            bytes(r["listing"]),
            bytes(r["listing_hash"]),
            bytes(r["cage_id"]) if r["cage_id"] is not None else None,
            r["block_number"],
            r["log_index"],
        )
        for r in rows
    }
