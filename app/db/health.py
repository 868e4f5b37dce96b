"""Reads for readiness (/readyz) and metrics (/metrics): the footprints the indexer, the relayer and
the detector leave in the database. Reads only, each bounded and cheap (served by indexes, capped
counts, Postgres' own statistics)."""

from __future__ import annotations

from app.db import fetch_one
from app.db.indexer import DERIVED_TABLES, read_cursor

BOUND = "SET LOCAL statement_timeout = %s"
PING = "SELECT 1"

# One round trip, each part served by an index (partial ones on the few open rows), capped counts.
PIPELINE = """
SELECT
  (SELECT count(*) FROM (SELECT 1 FROM operations WHERE status = 'pending' LIMIT 10000) p) AS pending,
  (SELECT extract(epoch FROM now() - min(created_at)) FROM operations WHERE status = 'pending') AS oldest_pending,
  (SELECT count(*) FROM relay_transactions WHERE status = 'sent') AS in_flight,
  (SELECT count(*) FROM relay_transactions WHERE status = 'sent'
     AND created_at < now() - make_interval(secs => %(stuck)s)) AS stuck,
  (SELECT block_number FROM indexer_cursor WHERE name = 'main') AS indexer_cursor,
  (SELECT block_number FROM detector_cursor WHERE name = 'main') AS detector_cursor,
  (SELECT extract(epoch FROM now() - at) FROM verifications WHERE NOT detected ORDER BY id LIMIT 1) AS oldest_unseen
"""

# Live rows per mirror table from the statistics Postgres keeps as rows are written (cheap, no count(*)).
# Not pg_class.reltuples: that is a planner estimate, -1 until the table was first vacuumed or analyzed
# and 0 when that happened while it was empty, and autovacuum never analyzes a small table: so every
# table of a fresh or small mirror showed 0. The statistics trail a write by about a second.
TABLE_SIZES = """
SELECT relname, n_live_tup AS rows FROM pg_stat_user_tables
WHERE schemaname = 'public' AND (relname LIKE 'ev\\_%%' OR relname = ANY(%s))
ORDER BY relname
"""


def ping(conn, timeout_ms: int = 2000) -> None:
    """One trivial statement, bounded by `timeout_ms` for the rest of the caller's transaction."""
    with conn.cursor() as cur:
        cur.execute(BOUND, (timeout_ms,))
        cur.execute(PING)


def mirror_cursor_block(conn) -> int | None:
    """The last block the mirror holds, or None before the indexer stored one."""
    cursor = read_cursor(conn)
    return cursor.block_number if cursor else None


def pipeline(conn, stuck_seconds: float, timeout_ms: int = 2000) -> dict:
    """{pending, oldest_pending (s), in_flight, stuck, indexer_cursor, detector_cursor, oldest_unseen (s)}:
    the relayer's queue and transactions in flight (stuck: sent more than `stuck_seconds` ago), both
    cursors, and the age of the oldest verification the detector has not seen."""
    with conn.cursor() as cur:
        cur.execute(BOUND, (timeout_ms,))
    return fetch_one(conn, PIPELINE, {"stuck": stuck_seconds})


def mirror_table_sizes(conn) -> list[tuple[str, int]]:
    """(table, live rows) of every mirror table (`ev_*`, the derived ones) and of `blocks`, by name."""
    with conn.cursor() as cur:
        cur.execute(TABLE_SIZES, (["blocks", *DERIVED_TABLES],))
        return cur.fetchall()
