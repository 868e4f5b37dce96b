"""The indexer's SQL: cursor, blocks and mirror rows. Connection first, parameterised always."""

from __future__ import annotations

from psycopg2.extras import execute_values

from app.db import fetch_all, fetch_one

CURSOR_NAME = "main"

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
ADVANCE_CURSOR = """
UPDATE indexer_cursor SET block_number = %s, block_hash = %s, updated_at = now()
WHERE name = %s AND block_number = %s
"""

UPSERT_BLOCKS = """
INSERT INTO blocks (number, hash, parent_hash, timestamp) VALUES %s
ON CONFLICT (number) DO UPDATE SET hash = EXCLUDED.hash, parent_hash = EXCLUDED.parent_hash,
    timestamp = EXCLUDED.timestamp
"""

INSERT_PINGS = """
INSERT INTO pings (block_number, log_index, tx_hash, contract, sender, seq, note) VALUES %s
"""

MIRROR_TABLES = ("pings", "blocks", "indexer_cursor")


class CursorMoved(Exception):
    """Another indexer advanced the cursor concurrently."""


def read_cursor(conn, name: str = CURSOR_NAME, lock: bool = False) -> dict | None:
    row = fetch_one(conn, LOCK_CURSOR if lock else READ_CURSOR, (name,))
    if row:
        row["genesis_hash"] = bytes(row["genesis_hash"])
        row["block_hash"] = bytes(row["block_hash"])
    return row


def create_cursor(conn, chain_id: int, genesis: bytes, block_number: int, block_hash: bytes, name: str = CURSOR_NAME):
    with conn.cursor() as cur:
        cur.execute(INSERT_CURSOR, (name, chain_id, genesis, block_number, block_hash))


def advance_cursor(conn, old_block: int, block_number: int, block_hash: bytes, name: str = CURSOR_NAME) -> None:
    with conn.cursor() as cur:
        cur.execute(ADVANCE_CURSOR, (block_number, block_hash, name, old_block))
        if cur.rowcount != 1:
            raise CursorMoved(f"cursor {name!r} is no longer at block {old_block}")


def upsert_blocks(conn, blocks: list[tuple[int, bytes, bytes, object]]) -> None:
    if blocks:
        with conn.cursor() as cur:
            execute_values(cur, UPSERT_BLOCKS, blocks)


def insert_pings(conn, rows: list[dict]) -> None:
    if rows:
        with conn.cursor() as cur:
            execute_values(
                cur,
                INSERT_PINGS,
                [
                    (r["block_number"], r["log_index"], r["tx_hash"], r["contract"], r["sender"], r["seq"], r["note"])
                    for r in rows
                ],
            )


def reset(conn) -> None:
    """Empty the mirror (used when the local dev chain was replaced by a new one)."""
    with conn.cursor() as cur:
        cur.execute("TRUNCATE " + ", ".join(MIRROR_TABLES))


LIST_PINGS = """
SELECT p.block_number, p.log_index, p.tx_hash, p.contract, p.sender, p.seq, p.note, b.timestamp
FROM pings p LEFT JOIN blocks b ON b.number = p.block_number
WHERE (p.block_number, p.log_index) < (%s, %s)
ORDER BY p.block_number DESC, p.log_index DESC
LIMIT %s
"""


def list_pings(conn, before: tuple[int, int], limit: int) -> list[dict]:
    return fetch_all(conn, LIST_PINGS, (before[0], before[1], limit))
