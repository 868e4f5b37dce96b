"""Bulk writes with COPY (text format), inside the caller's transaction: the indexer's event rows,
the serial lists of lots and the verification log go through here."""

from __future__ import annotations

import io

from psycopg2 import sql

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
