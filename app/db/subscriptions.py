"""EPCIS named queries, webhook subscriptions and their delivery outbox (migration 0020): the one module that writes
epcis_queries, epcis_subscriptions and epcis_deliveries. Who may see which row is decided above
(app/services/epcis/subscriptions.py): every statement here is scoped by the organisation it is given."""

from __future__ import annotations

import json

from psycopg2.extras import Json

from app.db import fetch_all, fetch_one

# ------------------------------------------------------------------------------------------------ named queries

INSERT_QUERY = """
INSERT INTO epcis_queries (organisation_id, name, query) VALUES (%(org)s, %(name)s, %(query)s)
ON CONFLICT (organisation_id, name) DO NOTHING
RETURNING name, query, created_at
"""
QUERIES = """
SELECT name, query, created_at FROM epcis_queries
WHERE organisation_id = %(org)s AND name > %(after)s
ORDER BY name LIMIT %(n)s
"""
QUERY = "SELECT name, query, created_at FROM epcis_queries WHERE organisation_id = %(org)s AND name = %(name)s"
DELETE_QUERY = "DELETE FROM epcis_queries WHERE organisation_id = %(org)s AND name = %(name)s RETURNING name"


def insert_query(conn, organisation_id: int, name: str, query: dict) -> dict | None:
    """The new named query; None when the organisation already has one of that name."""
    return fetch_one(conn, INSERT_QUERY, {"org": organisation_id, "name": name, "query": Json(query)})


def queries(conn, organisation_id: int, after: str, n: int) -> list[dict]:
    """Up to n of the organisation's named queries after name `after`, by name."""
    return fetch_all(conn, QUERIES, {"org": organisation_id, "after": after, "n": n})


def query(conn, organisation_id: int, name: str) -> dict | None:
    return fetch_one(conn, QUERY, {"org": organisation_id, "name": name})


def delete_query(conn, organisation_id: int, name: str) -> bool:
    """Delete a named query, its subscriptions and their undelivered rows (ON DELETE CASCADE)."""
    return fetch_one(conn, DELETE_QUERY, {"org": organisation_id, "name": name}) is not None


# ------------------------------------------------------------------------------------------------ subscriptions

_SUBSCRIPTION = """id, organisation_id, query_name, dest, signature_token, stream, schedule, report_if_empty,
initial_record_time, scanned_block, next_run_at, created_at, last_notified_at"""
INSERT_SUBSCRIPTION = f"""
INSERT INTO epcis_subscriptions (id, organisation_id, query_name, dest, signature_token, stream, schedule,
                                 report_if_empty, initial_record_time, scanned_block, next_run_at)
VALUES (%(id)s, %(org)s, %(name)s, %(dest)s, %(token)s, %(stream)s, %(schedule)s, %(report)s, %(initial)s,
        %(scanned)s, %(next_run)s)
RETURNING {_SUBSCRIPTION}
"""
SUBSCRIPTIONS = f"""
SELECT {_SUBSCRIPTION} FROM epcis_subscriptions
WHERE organisation_id = %(org)s AND query_name = %(name)s ORDER BY created_at, id
"""
SUBSCRIPTION = f"""
SELECT {_SUBSCRIPTION} FROM epcis_subscriptions
WHERE organisation_id = %(org)s AND query_name = %(name)s AND id = %(id)s
"""
DELETE_SUBSCRIPTION = """
DELETE FROM epcis_subscriptions WHERE organisation_id = %(org)s AND query_name = %(name)s AND id = %(id)s
RETURNING id
"""
# The subscriptions to scan now: every stream, and the scheduled ones whose run is due; with their query.
DUE_SUBSCRIPTIONS = f"""
SELECT {", ".join("s." + c.strip() for c in _SUBSCRIPTION.split(","))}, q.query
FROM epcis_subscriptions s
JOIN epcis_queries q ON q.organisation_id = s.organisation_id AND q.name = s.query_name
WHERE s.stream OR s.next_run_at <= %(now)s
ORDER BY s.created_at, s.id
"""
# Only while the scan's head block is still the mirror's (a reorg since removed it: the scan is redone).
SCANNED = """
UPDATE epcis_subscriptions SET scanned_block = %(block)s, next_run_at = %(next_run)s
WHERE id = %(id)s AND scanned_block = %(was)s
  AND (%(block)s = -1 OR EXISTS (SELECT 1 FROM blocks WHERE number = %(block)s AND hash = %(hash)s))
RETURNING id
"""
MIRROR_HEAD = "SELECT number, hash FROM blocks ORDER BY number DESC LIMIT 1"
REWIND = "UPDATE epcis_subscriptions SET scanned_block = %(block)s WHERE scanned_block > %(block)s"
RESET = "UPDATE epcis_subscriptions SET scanned_block = -1"


def insert_subscription(conn, row: dict) -> dict:
    params = {**row, "schedule": Json(row["schedule"]) if row["schedule"] is not None else None}
    return fetch_one(conn, INSERT_SUBSCRIPTION, params)


def subscriptions(conn, organisation_id: int, name: str) -> list[dict]:
    return fetch_all(conn, SUBSCRIPTIONS, {"org": organisation_id, "name": name})


def subscription(conn, organisation_id: int, name: str, subscription_id: str) -> dict | None:
    return fetch_one(conn, SUBSCRIPTION, {"org": organisation_id, "name": name, "id": subscription_id})


def delete_subscription(conn, organisation_id: int, name: str, subscription_id: str) -> bool:
    params = {"org": organisation_id, "name": name, "id": subscription_id}
    return fetch_one(conn, DELETE_SUBSCRIPTION, params) is not None


def due_subscriptions(conn, now) -> list[dict]:
    return fetch_all(conn, DUE_SUBSCRIPTIONS, {"now": now})


def mirror_head(conn) -> tuple[int, bytes | None]:
    """The last block the mirror holds and its hash ((-1, None): none)."""
    row = fetch_one(conn, MIRROR_HEAD)
    return (-1, None) if row is None else (row["number"], bytes(row["hash"]))


def rewind(conn, block: int) -> None:
    """A reorg removed the blocks after `block`: every subscription scans them again."""
    fetch_none(conn, REWIND, {"block": block})


def reset(conn) -> None:
    """The mirror was emptied (a new chain): every subscription scans it from its start."""
    fetch_none(conn, RESET, {})


# ------------------------------------------------------------------------------------------------ the outbox

ENQUEUE = """
INSERT INTO epcis_deliveries (subscription_id, event_id, event, block_number, log_index, next_attempt_at)
SELECT %(id)s, e.event_id, e.event, e.block_number, e.log_index, %(now)s
FROM jsonb_to_recordset(%(rows)s::jsonb) AS e (event_id text, event jsonb, block_number bigint, log_index integer)
ON CONFLICT (subscription_id, event_id) DO NOTHING
"""
CLAIM_DUE = """
SELECT d.subscription_id, d.event_id, d.event, d.attempts, s.organisation_id, s.query_name, s.dest,
       s.signature_token, q.query
FROM epcis_deliveries d
JOIN epcis_subscriptions s ON s.id = d.subscription_id
JOIN epcis_queries q ON q.organisation_id = s.organisation_id AND q.name = s.query_name
WHERE d.status = 'pending' AND d.next_attempt_at <= %(now)s
ORDER BY d.next_attempt_at, d.subscription_id, d.block_number, d.log_index
LIMIT %(n)s
FOR UPDATE OF d SKIP LOCKED
"""
DELIVERED = """
WITH d AS (
    UPDATE epcis_deliveries SET status = %(status)s, attempts = attempts + 1, delivered_at = %(now)s, last_error = NULL
    WHERE subscription_id = %(id)s AND event_id = %(event_id)s AND status = 'pending'
    RETURNING subscription_id
)
UPDATE epcis_subscriptions SET last_notified_at = %(now)s
WHERE id IN (SELECT subscription_id FROM d) AND %(status)s = 'delivered'
"""
# The failed row's next attempt; the subscription's other pending rows wait as long (one dead subscriber costs one
# attempt per backoff step, not one per queued row: the others' deliveries are not held up behind it).
RETRY = """
WITH failed AS (
    UPDATE epcis_deliveries SET attempts = attempts + 1, next_attempt_at = %(next)s, last_error = %(error)s
    WHERE subscription_id = %(id)s AND event_id = %(event_id)s AND status = 'pending'
    RETURNING subscription_id
)
UPDATE epcis_deliveries SET next_attempt_at = %(next)s
WHERE subscription_id IN (SELECT subscription_id FROM failed) AND event_id <> %(event_id)s
  AND status = 'pending' AND next_attempt_at < %(next)s
"""
RETRY_ONE = """
UPDATE epcis_deliveries SET attempts = attempts + 1, next_attempt_at = %(next)s, last_error = %(error)s
WHERE subscription_id = %(id)s AND event_id = %(event_id)s AND status = 'pending'
"""
DELIVERIES = """
SELECT event_id, status, attempts, next_attempt_at, last_error, delivered_at FROM epcis_deliveries
WHERE subscription_id = %(id)s ORDER BY block_number, log_index, event_id
"""


def enqueue(conn, subscription_id: str, rows: list[dict], now) -> None:
    """Queue (event_id, event, block_number, log_index) rows for a subscription; a row already queued is kept."""
    if rows:
        fetch_none(conn, ENQUEUE, {"id": subscription_id, "rows": json.dumps(rows), "now": now})


def mark_scanned(conn, subscription_id: str, was: int, head: tuple[int, bytes | None], next_run) -> bool:
    """Events up to block `head` (number, hash) are queued (the scan started at `was`); False when another scan
    moved it meanwhile or a reorg removed that block (the scan is redone)."""
    params = {"id": subscription_id, "was": was, "block": head[0], "hash": head[1], "next_run": next_run}
    return fetch_one(conn, SCANNED, params) is not None


def claim_due(conn, now, n: int) -> list[dict]:
    """Up to n pending rows due at `now`, locked for this transaction (others skip them)."""
    return fetch_all(conn, CLAIM_DUE, {"now": now, "n": n})


def mark_done(conn, subscription_id: str, event_id: str, status: str, now) -> None:
    """'delivered' (the subscriber answered 2xx) or 'withheld' (the access policy no longer shows it)."""
    fetch_none(conn, DELIVERED, {"id": subscription_id, "event_id": event_id, "status": status, "now": now})


def mark_retry(conn, subscription_id: str, event_id: str, next_attempt_at, error: str, others: bool = True) -> None:
    """The row's next attempt; `others`: the subscription's other pending rows wait as long (the subscriber failed),
    else only this row (reading it failed: the others are not held up behind it)."""
    params = {"id": subscription_id, "event_id": event_id, "next": next_attempt_at, "error": error[:500]}
    fetch_none(conn, RETRY if others else RETRY_ONE, params)


def deliveries(conn, subscription_id: str) -> list[dict]:
    """The outbox rows of a subscription, in chain order."""
    return fetch_all(conn, DELIVERIES, {"id": subscription_id})


def fetch_none(conn, sql: str, params: dict) -> None:
    with conn.cursor() as cur:
        cur.execute(sql, params)
