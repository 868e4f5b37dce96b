"""The detector's chain cursor (`detector_cursor`): the last mirrored block whose events it has read.

The ONLY module that writes `detector_cursor`. The first two functions move it back with the mirror
(called through app/detector/hooks.py when the indexer rolls back or resets); the detector's own
read/advance functions follow them."""

from __future__ import annotations

# Keep the cursor at or below the last block the mirror still holds.
REWIND = "UPDATE detector_cursor SET block_number = LEAST(block_number, %s)"
RESET = "UPDATE detector_cursor SET block_number = -1"


def rewind_cursor(conn, last_kept_block: int) -> None:
    """The mirror dropped every block above `last_kept_block`: the detector reads them again."""
    with conn.cursor() as cur:
        cur.execute(REWIND, (last_kept_block,))


def reset_cursor(conn) -> None:
    """The mirror was emptied (a new chain): the detector starts again from the first block."""
    with conn.cursor() as cur:
        cur.execute(RESET)


# -- the detector's own reads and writes
# (this section uses no import: it is appended as it is below the mirror rollback's functions)

CLAIM_CURSOR = """
INSERT INTO detector_cursor (name) VALUES ('main') ON CONFLICT (name) DO NOTHING;
SELECT block_number FROM detector_cursor WHERE name = 'main' FOR UPDATE
"""
ADVANCE_CURSOR = "UPDATE detector_cursor SET block_number = %s WHERE name = 'main'"
READ_CURSOR = "SELECT block_number FROM detector_cursor WHERE name = 'main'"


def claim_cursor(conn) -> int:
    """The last block whose events the detector has read (-1: none), the row created if missing and
    locked until the caller's transaction ends (one detector round at a time)."""
    with conn.cursor() as cur:
        cur.execute(CLAIM_CURSOR)
        return cur.fetchone()[0]


def advance_cursor(conn, block_number: int) -> None:
    """The detector has read the events up to `block_number` (call after claim_cursor, same transaction)."""
    with conn.cursor() as cur:
        cur.execute(ADVANCE_CURSOR, (block_number,))


def cursor(conn) -> int | None:
    """The detector's cursor without locking it; None before its first round."""
    with conn.cursor() as cur:
        cur.execute(READ_CURSOR)
        row = cur.fetchone()
    return None if row is None else row[0]
