"""Bulk writes of decoded rows with COPY (text format), inside the caller's transaction.

`mirror_tables()` is the one list of the tables the indexer writes rows into: the writer fills them,
a reorg rolls them back, a reset empties them and `pharmatrack index --verify` rebuilds and compares
them. A table derived from event rows is added to DERIVED, and nowhere else."""

from __future__ import annotations

import io

from psycopg2 import sql

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


_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _array_elem(value) -> str:
    if isinstance(value, (bytes, bytearray)):
        # array literal {"\\x01"} (quoted, backslash escaped), then COPY text doubles each backslash
        return '"' + "\\" * 4 + "x" + bytes(value).hex() + '"'
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, int):
        return str(value)
    text = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return '"' + text.translate(_ESCAPES) + '"'


def copy_field(value) -> str:
    """One value in COPY text format."""
    if value is None:
        return "\\N"
    if isinstance(value, (bytes, bytearray)):
        return "\\\\x" + bytes(value).hex()
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, list):
        return "{" + ",".join(_array_elem(v) for v in value) + "}"
    return str(value).translate(_ESCAPES)


def copy_rows(conn, table: str, columns: tuple[str, ...], rows: list[tuple]) -> None:
    if not rows:
        return
    buf = io.StringIO()
    buf.writelines("\t".join(map(copy_field, row)) + "\n" for row in rows)
    buf.seek(0)
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, columns))
    )
    with conn.cursor() as cur:
        cur.copy_expert(statement.as_string(conn), buf)


def write_events(conn, rows_by_spec: dict[EventSpec, list[tuple]]) -> int:
    """The event rows, and the rows of every DERIVED table (e.g. `pack_events`, one per pack)."""
    total = 0
    for spec, rows in rows_by_spec.items():
        copy_rows(conn, spec.table, spec.all_columns, rows)
        total += len(rows)
    for table, (columns, derive) in DERIVED.items():
        copy_rows(conn, table, columns, list(derive(rows_by_spec)))
    return total
