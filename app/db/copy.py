"""Bulk writes with COPY (text format), inside the caller's transaction: the indexer's event rows,
the serial lists of lots and the verification log go through here."""

from __future__ import annotations

import io

from psycopg2 import sql

_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _array_elem(value) -> str:
    if isinstance(value, (bytes, bytearray, memoryview)):
        # array literal {"\\x01"} (quoted, backslash escaped), then COPY text doubles each backslash
        return '"' + "\\" * 4 + "x" + bytes(value).hex() + '"'
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, int):
        return str(value)
    text = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return '"' + text.translate(_ESCAPES) + '"'


def _text(value: str) -> str:
    return value.translate(_ESCAPES) if ("\\" in value or "\t" in value or "\n" in value or "\r" in value) else value


def _bytes(value) -> str:
    return "\\\\x" + bytes(value).hex()


# by exact type (a dict lookup instead of a chain of isinstance: the verification log writes 15 fields a row);
# subclasses and anything else go through _other
_FIELD = {
    type(None): lambda value: "\\N",
    str: _text,
    int: str,
    bool: lambda value: "t" if value else "f",
    bytes: _bytes,
    bytearray: _bytes,
    memoryview: _bytes,
    list: lambda value: "{" + ",".join(_array_elem(v) for v in value) + "}",
}


def _other(value) -> str:
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, int):
        return str(int(value))
    if isinstance(value, (bytes, bytearray, memoryview)):
        return _bytes(value)
    if isinstance(value, list):
        return _FIELD[list](value)
    return _text(str(value))


def copy_field(value) -> str:
    """One value in COPY text format."""
    return _FIELD.get(type(value), _other)(value)


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
