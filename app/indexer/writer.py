"""Which decoded rows go into which mirror table (written with COPY by app/db/indexer.py), inside the
caller's transaction.

`mirror_tables()` is the one list of the tables the indexer writes rows into: the writer fills them,
a reorg rolls them back, a reset empties them and `pharmatrack index --verify` rebuilds and compares
them. A table derived from event rows is added to DERIVED, and nowhere else."""

from __future__ import annotations

from app.db.indexer import copy_mirror_rows
from app.indexer import packs
from app.indexer.events import EventSpec

# Tables derived from the decoded event rows, written in the same transaction: name -> (columns, rows of)
DERIVED = {
    "pack_events": (packs.COLUMNS, packs.pack_rows),
}


def mirror_tables(specs: dict[bytes, EventSpec]) -> list[str]:
    """Every table of mirrored rows (keyed by block_number) for these event specs: one per event, then
    the derived ones."""
    return [*sorted({s.table for s in specs.values()}), *DERIVED]


def write_events(conn, rows_by_spec: dict[EventSpec, list[tuple]]) -> int:
    """The event rows, and the rows of every DERIVED table (e.g. `pack_events`, one per pack)."""
    total = 0
    for spec, rows in rows_by_spec.items():
        copy_mirror_rows(conn, spec.table, spec.all_columns, rows)
        total += len(rows)
    for table, (columns, derive) in DERIVED.items():
        copy_mirror_rows(conn, table, columns, list(derive(rows_by_spec)))
    return total
