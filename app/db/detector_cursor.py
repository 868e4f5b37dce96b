"""The detector's cursor over the chain mirror (`detector_cursor`): how far it has read the mirror's
events (verifications carry their own `detected` flag).
"""

from __future__ import annotations

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
