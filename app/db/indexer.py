"""The chain mirror's writes: the indexer's cursor, block headers, the mirrored event tables and the
tables derived from them (pack_events), plus the re-index audit's scratch schema.

The ONLY module that writes `indexer_cursor`, `blocks`, the `ev_*` tables and `pack_events`
(COPY through app/db/copy.py, rollback deletes, reset, prune). The transaction stays with the caller
(the indexer's loop). Table names are generated from the contract's ABI: they are only ever passed
as psycopg2.sql.Identifier.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from psycopg2 import sql
from psycopg2.extras import execute_values

from app.db import fetch_all, fetch_one
from app.db.copy import copy_rows

CURSOR_NAME = "main"
# The indexer's bookkeeping beside the mirrored rows (writer.mirror_tables() lists those): headers, cursor.
BOOKKEEPING = ("blocks", "indexer_cursor")
# The mirror tables derived from the event rows (app/indexer/writer.DERIVED says how), beside one `ev_*`
# table per event.
DERIVED_TABLES = ("pack_events", "unit_listings")

READ_CURSOR = """
SELECT name, chain_id, genesis_hash, block_number, block_hash, updated_at
FROM indexer_cursor WHERE name = %s
"""
LOCK_CURSOR = READ_CURSOR + " FOR UPDATE"
INSERT_CURSOR = """
INSERT INTO indexer_cursor (name, chain_id, genesis_hash, block_number, block_hash)
VALUES (%s, %s, %s, %s, %s)
"""
# Compare-and-set: the update only lands if nobody moved the cursor since we read it.
MOVE_CURSOR = """
UPDATE indexer_cursor SET block_number = %s, block_hash = %s, updated_at = now()
WHERE name = %s AND block_number = %s AND block_hash = %s
"""
DELETE_CURSOR = "DELETE FROM indexer_cursor WHERE name = %s"
# One writer per mirror (per schema: the audit's scratch re-index runs beside the live indexer).
LOCK_INDEXER = "SELECT pg_advisory_xact_lock(hashtext(current_schema() || ':indexer:' || %s))"

INSERT_BLOCKS = """
INSERT INTO blocks (number, hash, parent_hash, timestamp, has_events) VALUES %s
ON CONFLICT (number) DO UPDATE SET hash = EXCLUDED.hash, parent_hash = EXCLUDED.parent_hash,
    timestamp = EXCLUDED.timestamp, has_events = blocks.has_events OR EXCLUDED.has_events
"""
# Blocks without events are kept only as reorg checkpoints near the head.
PRUNE_BLOCKS = "DELETE FROM blocks WHERE number < %s AND NOT has_events"
RECENT_BLOCKS = "SELECT number, hash FROM blocks WHERE number <= %s ORDER BY number DESC LIMIT %s"

DELETE_ABOVE = "DELETE FROM {table} WHERE {column} > %s"
TRUNCATE = "TRUNCATE {tables}"

# A mirror table: the log's place and transaction, then one column per event input (NOT NULL: an event
# always carries every input), keyed by the log's place.
MIRROR_TABLE = """-- {signature}
CREATE TABLE {table} (
    block_number  bigint NOT NULL,
    log_index     integer NOT NULL,
    tx_hash       bytea NOT NULL,
{columns}
    PRIMARY KEY (block_number, log_index)
);
"""

# The re-index audit (`pharmatrack index --verify`): a scratch schema of empty copies of the live tables.
CREATE_SCHEMA = "CREATE SCHEMA {schema}"
CREATE_LIKE = "CREATE TABLE {schema}.{table} (LIKE public.{table} INCLUDING ALL)"
DROP_SCHEMA = "DROP SCHEMA {schema} CASCADE"
LIVE_ROWS = "SELECT * FROM public.{table} WHERE {where}"
SCRATCH_ROWS = "SELECT * FROM {schema}.{table} WHERE {where}"
ONLY_LEFT = "({left}) EXCEPT ALL ({right}) LIMIT {limit}"
COUNT = "SELECT count(*) AS n FROM ({rows}) q"
# Which rows of a table the audit compares (up to the live cursor): the event tables by block_number,
# the headers only of the blocks that carry events (the others are pruned at different times).
UP_TO_BLOCK = "block_number <= %(block)s"
EVENT_BLOCKS_UP_TO = "number <= %(block)s AND has_events"


class CursorMoved(Exception):
    """Another indexer moved the cursor concurrently."""


@dataclass(frozen=True)
class Cursor:
    name: str
    chain_id: int
    genesis_hash: bytes
    block_number: int
    block_hash: bytes
    updated_at: datetime


# --------------------------------------------------------------------------- cursor


def lock_indexer(conn, name: str = CURSOR_NAME) -> None:
    """Serialise indexers of the same mirror (per schema) for the rest of the transaction."""
    with conn.cursor() as cur:
        cur.execute(LOCK_INDEXER, (name,))


def read_cursor(conn, name: str = CURSOR_NAME, lock: bool = False) -> Cursor | None:
    """The cursor (FOR UPDATE with lock=True: the relayer's confirmations wait for a rollback), or None."""
    row = fetch_one(conn, LOCK_CURSOR if lock else READ_CURSOR, (name,))
    if row is None:
        return None
    return Cursor(**(row | {"genesis_hash": bytes(row["genesis_hash"]), "block_hash": bytes(row["block_hash"])}))


def create_cursor(conn, chain_id: int, genesis: bytes, block_number: int, block_hash: bytes, name: str = CURSOR_NAME):
    with conn.cursor() as cur:
        cur.execute(INSERT_CURSOR, (name, chain_id, genesis, block_number, block_hash))


def move_cursor(conn, old: Cursor, block_number: int, block_hash: bytes, name: str = CURSOR_NAME) -> None:
    """Compare-and-set from `old`; CursorMoved when another indexer moved it meanwhile."""
    with conn.cursor() as cur:
        cur.execute(MOVE_CURSOR, (block_number, block_hash, name, old.block_number, old.block_hash))
        if cur.rowcount != 1:
            raise CursorMoved(f"cursor {name!r} is no longer at block {old.block_number}")


def delete_cursor(conn, name: str = CURSOR_NAME) -> None:
    with conn.cursor() as cur:
        cur.execute(DELETE_CURSOR, (name,))


# --------------------------------------------------------------------------- blocks and rows


def insert_blocks(conn, headers: dict[int, dict]) -> None:
    """Upsert block headers: number -> {hash, parentHash, timestamp, has_events}."""
    if headers:
        rows = [
            (n, h["hash"], h["parentHash"], datetime.fromtimestamp(h["timestamp"], UTC), h["has_events"])
            for n, h in sorted(headers.items())
        ]
        with conn.cursor() as cur:
            execute_values(cur, INSERT_BLOCKS, rows)


def prune_blocks(conn, below: int) -> None:
    with conn.cursor() as cur:
        cur.execute(PRUNE_BLOCKS, (below,))


def recent_blocks(conn, at_or_below: int, limit: int) -> list[tuple[int, bytes]]:
    """(number, hash) of the newest stored blocks at or below a height, newest first."""
    return [(r["number"], bytes(r["hash"])) for r in fetch_all(conn, RECENT_BLOCKS, (at_or_below, limit))]


def copy_mirror_rows(conn, table: str, columns: tuple[str, ...], rows: list[tuple]) -> None:
    """Append decoded rows to a mirror table (COPY)."""
    copy_rows(conn, table, columns, rows)


def rollback_above(conn, tables: list[str], block_number: int) -> dict[str, int]:
    """Delete every mirrored row (and block header) above block_number; rows deleted per table."""
    deleted = {}
    with conn.cursor() as cur:
        for table in [*tables, "blocks"]:
            column = "number" if table == "blocks" else "block_number"
            cur.execute(
                sql.SQL(DELETE_ABOVE).format(table=sql.Identifier(table), column=sql.Identifier(column)),
                (block_number,),
            )
            deleted[table] = cur.rowcount
    return deleted


def reset(conn, tables: list[str]) -> None:
    """Empty the mirror tables, the block headers and the cursor (the chain was replaced)."""
    with conn.cursor() as cur:
        cur.execute(sql.SQL(TRUNCATE).format(tables=sql.SQL(", ").join(map(sql.Identifier, [*tables, *BOOKKEEPING]))))


def create_table_sql(table: str, signature: str, columns: list[tuple[str, str]]) -> str:
    """The CREATE TABLE a migration needs for an event's mirror table, from its (column, Postgres type)
    pairs (app/indexer/events.column_types): text to paste into a migration file, the names being the
    ABI's, checked by app/indexer/events.column_name (no SQL reserved word)."""
    lines = "".join(f"    {column:<13} {kind} NOT NULL,\n" for column, kind in columns)
    return MIRROR_TABLE.format(signature=signature, table=table, columns=lines.rstrip("\n"))


# --------------------------------------------------------------------------- the audit's scratch schema


def create_scratch_schema(conn, schema: str, tables: list[str]) -> None:
    """A schema holding empty copies of the mirror tables and the bookkeeping, for a re-index."""
    with conn.cursor() as cur:
        cur.execute(sql.SQL(CREATE_SCHEMA).format(schema=sql.Identifier(schema)))
        for table in [*tables, *BOOKKEEPING]:
            cur.execute(sql.SQL(CREATE_LIKE).format(schema=sql.Identifier(schema), table=sql.Identifier(table)))


def drop_scratch_schema(conn, schema: str) -> None:
    with conn.cursor() as cur:
        cur.execute(sql.SQL(DROP_SCHEMA).format(schema=sql.Identifier(schema)))


def compare_with_scratch(conn, schema: str, table: str, block: int, limit: int) -> tuple[int, list[tuple[str, dict]]]:
    """Compare a live mirror table with its re-indexed copy up to `block` (for `blocks`: the headers
    of the blocks that carry events). Returns (live rows compared, differences), each difference
    (which side has it, the row as a dict), at most `limit` per side."""
    where = sql.SQL(EVENT_BLOCKS_UP_TO if table == "blocks" else UP_TO_BLOCK)
    live = sql.SQL(LIVE_ROWS).format(table=sql.Identifier(table), where=where)
    fresh = sql.SQL(SCRATCH_ROWS).format(schema=sql.Identifier(schema), table=sql.Identifier(table), where=where)
    diffs = []
    for label, left, right in (("only in the live mirror", live, fresh), ("only in the re-index", fresh, live)):
        query = sql.SQL(ONLY_LEFT).format(left=left, right=right, limit=sql.Literal(limit))
        diffs += [(label, row) for row in fetch_all(conn, query, {"block": block})]
    count = fetch_all(conn, sql.SQL(COUNT).format(rows=live), {"block": block})[0]["n"]
    return count, diffs
