"""Which decoded rows go into which mirror table (written with COPY by app/db/indexer.py), inside the
caller's transaction.

`mirror_tables()` is the one list of the tables the indexer writes rows into: the writer fills them,
a reorg rolls them back, a reset empties them and `pharmatrack index --verify` rebuilds and compares
them. A table derived from event rows is added to DERIVED, and nowhere else. A derivation gets the
window's decoded rows and the connection (it may read the mirror as it stood before the window, e.g.
the listed units' current listings; never another table). EXPANDED adds rows of a new event to an
older event's table where they mean the same thing (a case of CasesPacked is a case like one of
CasePacked; a roll cage of CagePacked a pallet)."""

from __future__ import annotations

from app.db.indexer import copy_mirror_rows
from app.indexer import listings, packs
from app.indexer.events import EventSpec

# Tables derived from the decoded event rows, written in the same transaction: name -> (columns, rows of)
DERIVED = {
    "pack_events": (packs.COLUMNS, lambda conn, rows_by_spec: packs.pack_rows(rows_by_spec)),
    "unit_listings": (listings.COLUMNS, listings.listing_rows),
}
# Event tables that also take rows derived from another event: name -> (columns, rows of)
EXPANDED = {
    "ev_case_packed": (listings.CASE_COLUMNS, listings.case_rows),
    "ev_pallet_packed": (listings.PALLET_COLUMNS, listings.pallet_rows),
}


def mirror_tables(specs: dict[bytes, EventSpec]) -> list[str]:
    """Every table of mirrored rows (keyed by block_number) for these event specs: one per event, then
    the derived ones."""
    return [*sorted({s.table for s in specs.values()} | set(EXPANDED)), *DERIVED]


def write_events(conn, rows_by_spec: dict[EventSpec, list[tuple]]) -> int:
    """The event rows, and the rows of every DERIVED table (e.g. `pack_events`, one per pack)."""
    total = 0
    for spec, rows in rows_by_spec.items():
        copy_mirror_rows(conn, spec.table, spec.all_columns, rows)
        total += len(rows)
    for table, (columns, expand) in EXPANDED.items():
        copy_mirror_rows(conn, table, columns, list(expand(rows_by_spec)))
    for table, (columns, derive) in DERIVED.items():
        copy_mirror_rows(conn, table, columns, list(derive(conn, rows_by_spec)))
    return total
