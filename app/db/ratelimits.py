"""Rate-limit counters shared by every API process (`rate_limit_counters`, fixed windows).

The ONLY module that writes `rate_limit_counters`."""

from __future__ import annotations

ADD = """
INSERT INTO rate_limit_counters (bucket, window_start, hits)
SELECT bucket, %s, hits FROM unnest(%s::text[], %s::bigint[]) AS t(bucket, hits)
ON CONFLICT (bucket, window_start) DO UPDATE SET hits = rate_limit_counters.hits + EXCLUDED.hits
RETURNING bucket, hits
"""
EXPIRE = "DELETE FROM rate_limit_counters WHERE window_start < %s"


def add_hits(conn, window_start: int, hits: dict[str, int]) -> dict[str, int]:
    """Add hits per bucket to the window's shared counters; returns each bucket's new total."""
    with conn.cursor() as cur:
        cur.execute(ADD, (window_start, list(hits), list(hits.values())))
        return dict(cur.fetchall())


def expire_windows(conn, before: int) -> None:
    """Forget the counters of windows that started before `before`."""
    with conn.cursor() as cur:
        cur.execute(EXPIRE, (before,))
