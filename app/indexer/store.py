"""The indexer's SQL: cursor, blocks, rollback. Connection first, parameterised always."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from psycopg2 import sql
from psycopg2.extras import execute_values

from app.db import fetch_all, fetch_one

log = logging.getLogger(__name__)

CURSOR_NAME = "main"
# The indexer's bookkeeping beside the mirrored rows (writer.mirror_tables() lists those): headers, cursor.
BOOKKEEPING = ("blocks", "indexer_cursor")

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

INSERT_BLOCKS = """
INSERT INTO blocks (number, hash, parent_hash, timestamp, has_events) VALUES %s
ON CONFLICT (number) DO UPDATE SET hash = EXCLUDED.hash, parent_hash = EXCLUDED.parent_hash,
    timestamp = EXCLUDED.timestamp, has_events = blocks.has_events OR EXCLUDED.has_events
"""

# A reorg drops blocks the relayer saw its transactions mined in (see rollback_above).
REOPEN_ABOVE = """
WITH reopened AS (
    UPDATE relay_transactions SET status = 'sent', mined_hash = NULL, block_number = NULL, block_hash = NULL,
           gas_used = NULL, updated_at = now()
    WHERE status = 'mined' AND block_number > %s
    RETURNING id
), resubmitted AS (
    UPDATE operations SET status = 'submitted', block_number = NULL, updated_at = now()
    WHERE status = 'confirmed' AND transaction_id IN (SELECT id FROM reopened)
    RETURNING id
)
SELECT (SELECT count(*) FROM reopened), (SELECT count(*) FROM resubmitted)
"""
# Blocks without events are kept only as reorg checkpoints near the head.
PRUNE_BLOCKS = "DELETE FROM blocks WHERE number < %s AND NOT has_events"

RECENT_BLOCKS = """
SELECT number, hash FROM blocks WHERE number <= %s ORDER BY number DESC LIMIT %s
"""


class CursorMoved(Exception):
    """Another indexer moved the cursor concurrently."""


def lock_indexer(conn, name: str = CURSOR_NAME) -> None:
    """Serialise indexers of the same mirror (per schema) for the rest of the transaction."""
    with conn.cursor() as cur:
        cur.execute("SELECT pg_advisory_xact_lock(hashtext(current_schema() || ':indexer:' || %s))", (name,))


def read_cursor(conn, name: str = CURSOR_NAME, lock: bool = False) -> dict | None:
    row = fetch_one(conn, LOCK_CURSOR if lock else READ_CURSOR, (name,))
    if row:
        row["genesis_hash"] = bytes(row["genesis_hash"])
        row["block_hash"] = bytes(row["block_hash"])
    return row


def create_cursor(conn, chain_id: int, genesis: bytes, block_number: int, block_hash: bytes, name: str = CURSOR_NAME):
    with conn.cursor() as cur:
        cur.execute(INSERT_CURSOR, (name, chain_id, genesis, block_number, block_hash))


def move_cursor(conn, old: dict, block_number: int, block_hash: bytes, name: str = CURSOR_NAME) -> None:
    with conn.cursor() as cur:
        cur.execute(MOVE_CURSOR, (block_number, block_hash, name, old["block_number"], old["block_hash"]))
        if cur.rowcount != 1:
            raise CursorMoved(f"cursor {name!r} is no longer at block {old['block_number']}")


def insert_blocks(conn, headers: dict[int, dict]) -> None:
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


def delete_cursor(conn, name: str = CURSOR_NAME) -> None:
    with conn.cursor() as cur:
        cur.execute("DELETE FROM indexer_cursor WHERE name = %s", (name,))


def recent_blocks(conn, at_or_below: int, limit: int) -> list[tuple[int, bytes]]:
    return [(r["number"], bytes(r["hash"])) for r in fetch_all(conn, RECENT_BLOCKS, (at_or_below, limit))]


def rollback_above(conn, tables: list[str], block_number: int, followers: bool = True) -> dict[str, int]:
    """Delete every mirrored row above block_number; return rows deleted per table. `followers`: also
    move back what follows the mirror (the detector's cursor, the relayer's confirmations)."""
    deleted = {}
    with conn.cursor() as cur:
        for table in [*tables, "blocks"]:
            column = "number" if table == "blocks" else "block_number"
            cur.execute(
                sql.SQL("DELETE FROM {} WHERE {} > %s").format(sql.Identifier(table), sql.Identifier(column)),
                (block_number,),
            )
            deleted[table] = cur.rowcount
        if not followers:
            return deleted
        # the detector must read the replayed blocks' events again
        cur.execute("UPDATE detector_cursor SET block_number = LEAST(block_number, %s)", (block_number,))
        # what the relayer saw mined above the ancestor is open again, and what it had confirmed is
        # submitted again: it is confirmed anew only once mined on the new branch (exactly once: the
        # relayer re-broadcasts the recorded bytes, same nonce)
        cur.execute(REOPEN_ABOVE, (block_number,))
        transactions, operations = cur.fetchone()
        if transactions:
            log.warning("reorg: %d relayed transaction(s) and %d confirmed operation(s) above block %d are open "
                        "again", transactions, operations, block_number)  # fmt: skip
    return deleted


def reset(conn, tables: list[str], followers: bool = True) -> None:
    """Empty the mirror (the local dev chain was replaced by a new one)."""
    with conn.cursor() as cur:
        cur.execute(sql.SQL("TRUNCATE {}").format(sql.SQL(", ").join(map(sql.Identifier, [*tables, *BOOKKEEPING]))))
        if followers:
            cur.execute("UPDATE detector_cursor SET block_number = -1")
