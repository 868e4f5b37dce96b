"""The verification log: the one writer of `verifications` (and of its monthly tables).

Three things write it: the API's buffered log (app/services/verifylog.py, by COPY in batches), a
refused scan recorded as a sighting (app/services/writes.py), and the detector marking the rows it
has seen. Every one of them goes through a function here.
"""

from __future__ import annotations

from app.db import fetch_all, fetch_one
from app.db.copy import copy_rows

# What the buffered log writes, in this order (app/services/verifylog.py keeps tuples of these).
COLUMNS = ("at", "organisation_id", "requester_gln", "channel", "code", "gtin", "serial", "lot", "expiry",
           "sgtin_id", "unit_id", "verdict", "reasons", "corr_uuid", "context")  # fmt: skip

REFUSED_SCAN = """
INSERT INTO verifications (organisation_id, requester_gln, channel, code, gtin, serial, lot, sgtin_id, unit_id,
                           verdict, reasons)
VALUES (%s, %s, 'scan', %s, %s, %s, %s, %s, %s, 'refused', %s)
"""
# the writers of every API process serialise their month maintenance on this lock
LOCK_MONTHS = "SELECT pg_advisory_xact_lock(hashtext('pharmatrack.verification_months'))"
MAKE_MONTHS = "SELECT verification_months(now(), now() + %s * interval '1 month') AS made"
# keep the current month and the `retention` months before it
DROP_MONTHS = "SELECT drop_verification_months(date_trunc('month', now()) - %s * interval '1 month') AS dropped"
UNDETECTED = """
SELECT id, at, organisation_id, requester_gln, channel, code, gtin, serial, lot, sgtin_id, unit_id, verdict, reasons
FROM verifications WHERE NOT detected ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED
"""
MARK_DETECTED = "UPDATE verifications SET detected = true WHERE id = ANY(%s)"


def copy_verifications(conn, rows: list[tuple]) -> None:
    """Write log rows (tuples of COLUMNS, `at` as ISO-8601 text) with COPY, in the caller's transaction.
    A row for a month without its table raises psycopg2.errors.CheckViolation; a value Postgres
    refuses, a psycopg2.DataError."""
    copy_rows(conn, "verifications", COLUMNS, rows)


def insert_refused_scan(conn, organisation_id: int, requester_gln: int, values: tuple, reasons: list[str]) -> None:
    """Log a scan the write path refused as a sighting for the detection rules (channel 'scan',
    verdict 'refused'); `values` is (code, gtin, serial, lot, sgtin_id, unit_id)."""
    with conn.cursor() as cur:
        cur.execute(REFUSED_SCAN, (organisation_id, requester_gln, *values, reasons))


def maintain_months(conn, ahead: int, retention: int) -> tuple[int, int]:
    """Create the monthly tables up to `ahead` months from now and, with `retention` > 0, drop those
    older than that many months before the current one; returns (made, dropped). Concurrent callers
    wait for each other (a transaction-scoped advisory lock)."""
    with conn.cursor() as cur:
        cur.execute(LOCK_MONTHS)
    made = fetch_one(conn, MAKE_MONTHS, (ahead,))["made"]
    dropped = fetch_one(conn, DROP_MONTHS, (retention,))["dropped"] if retention > 0 else 0
    return made, dropped


def claim_undetected(conn, limit: int) -> list[dict]:
    """The oldest `limit` rows the detector has not seen, locked (others skip them) until the caller's
    transaction ends: {id, at, organisation_id, requester_gln, channel, code, gtin, serial, lot,
    sgtin_id, unit_id, verdict, reasons}."""
    return fetch_all(conn, UNDETECTED, (limit,))


def mark_detected(conn, ids: list[int]) -> None:
    if ids:
        with conn.cursor() as cur:
            cur.execute(MARK_DETECTED, (ids,))
