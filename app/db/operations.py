"""The outbox: `operations` (accepted writes and their Idempotency-Keys) and the lifecycle the relayer
moves them through (pending -> submitted -> confirmed | failed, and back on a reorg or a new chain).

The ONLY module that writes `operations`: the outbox service accepts through it, the relayer claims,
submits, confirms and fails through it, and the relayer's mirror-rollback hook reopens through it.
The caller holds the transaction. Rows are returned as dicts of the table's columns (`id`,
`organisation_id`, `action`, `payload`, `idempotency_key`, `request_sha256`, `status`, `tx_hash`,
`block_number`, `error`, `attempts`, `transaction_id`, `requeued_by`, `created_at`, `updated_at`).

The side data stored with an accepted operation in the same transaction have their own writers: the
product details of a registration in app/db/products.py, the lot record and serial list of a
commissioning in app/db/serials.py, the log row of a refused scan in app/db/verifications.py.
"""

from __future__ import annotations

import json

from psycopg2.extras import Json, execute_values

from app.db import fetch_all, fetch_one

INSERT = """
INSERT INTO operations (id, organisation_id, action, payload, idempotency_key, request_sha256)
VALUES (%s, %s, %s, %s, %s, %s)
ON CONFLICT (organisation_id, idempotency_key) DO NOTHING
RETURNING *
"""
INSERT_MANY = """
INSERT INTO operations (id, organisation_id, action, payload, idempotency_key, request_sha256)
VALUES %s
ON CONFLICT (organisation_id, idempotency_key) DO NOTHING
RETURNING id::text
"""
BY_KEY = "SELECT * FROM operations WHERE organisation_id = %s AND idempotency_key = %s"
BY_ID = "SELECT * FROM operations WHERE id = %s"
BY_IDS = "SELECT * FROM operations WHERE id = ANY(%s::uuid[])"

# Serialises status changes of one target (a lot or unit) for the caller's transaction.
LOCK_TARGET = "SELECT pg_advisory_xact_lock(%s)"
STATUS_CHANGE_IN_FLIGHT = """
SELECT id, action, status, organisation_id FROM operations
WHERE status IN ('pending', 'submitted') AND action IN ('recall', 'quarantine', 'clear_quarantine')
  AND coalesce(payload->>'unit_id', payload->>'lot_id') = %(target)s AND action = ANY(%(actions)s)
ORDER BY created_at DESC, id DESC
LIMIT 1
"""

# One unmined transaction per (organisation, action) at a time: while it is in flight the next
# scans queue up, so batches grow with the load instead of one small transaction per round.
# An undo_dispense also waits out the organisation's unmined dispenses: it must name all of the day's
# dispenses as the chain will hold them when it runs, and it is built from the mined logs.
# A dispense waits out an undo in flight likewise (it would change the chain the undo proves against).
# An action that draws packs out of listed units (docs/gas-redesign.md) passes their current listings, read
# from the mirror: it waits until the mirror has seen every move out of the organisation's units
# (pack_tote, ship_packs, return_packs) that it submitted, so two draws from one unit never use one listing.
PENDING_GROUPS = """
SELECT p.organisation_id, p.action, g.account, p.n
FROM (SELECT organisation_id, action, count(*) AS n, min(created_at) AS first FROM operations
      WHERE status = 'pending' GROUP BY 1, 2) p  -- grouped first: one join per group, not per pending row
JOIN organisations g ON g.id = p.organisation_id
WHERE NOT EXISTS (SELECT 1 FROM relay_transactions t
                  WHERE t.status = 'sent' AND t.organisation_id = p.organisation_id
                    AND (t.action = p.action OR (p.action = 'undo_dispense' AND t.action = 'dispense')
                         OR (p.action = 'dispense' AND t.action = 'undo_dispense')))
  AND NOT (p.action IN ('pack_tote', 'ship_packs', 'return_packs', 'dispense', 'destroy', 'report_stolen')
           AND EXISTS (SELECT 1 FROM operations m
                       WHERE m.status = 'submitted' AND m.organisation_id = p.organisation_id
                         AND m.action IN ('pack_tote', 'ship_packs', 'return_packs')))
ORDER BY p.first
"""
CLAIM_PENDING = """
SELECT id, organisation_id, action, payload, attempts, requeued_by FROM operations
WHERE status = 'pending' AND organisation_id = %s AND action = %s
ORDER BY created_at, id LIMIT %s FOR UPDATE SKIP LOCKED
"""
MARK_FAILED = """
UPDATE operations SET status = 'failed', error = %s, transaction_id = NULL, updated_at = now()
WHERE id = %s
"""
MARK_SUBMITTED = """
UPDATE operations SET status = 'submitted', transaction_id = %s, tx_hash = %s, attempts = attempts + 1,
       updated_at = now()
WHERE id = ANY(%s::uuid[])
"""
SUBMITTED_OF_TRANSACTION = "SELECT id, attempts FROM operations WHERE transaction_id = %s AND status = 'submitted'"
MARK_PENDING = """
UPDATE operations SET status = 'pending', transaction_id = NULL, tx_hash = NULL, updated_at = now()
WHERE id = %s
"""
SET_TX_HASH = """
UPDATE operations SET tx_hash = %(h)s, updated_at = now()
WHERE transaction_id = %(t)s AND status = 'submitted' AND tx_hash IS DISTINCT FROM %(h)s
"""
# Confirmed: the mirror holds the very block (number and hash) the transaction was mined in.
CONFIRM_MIRRORED = """
WITH settled AS MATERIALIZED (  -- each mined transaction checked once, not once per operation it carries
    SELECT t.id, t.mined_hash, t.block_number FROM relay_transactions t
    WHERE t.id IN (SELECT transaction_id FROM operations WHERE status = 'submitted') AND t.status = 'mined'
      AND t.block_number <= (SELECT block_number FROM indexer_cursor WHERE name = 'main')
      AND (t.block_hash IS NULL  -- mined before migration 0007 recorded block hashes
           OR EXISTS (SELECT 1 FROM blocks b WHERE b.number = t.block_number AND b.hash = t.block_hash)))
UPDATE operations o SET status = 'confirmed', tx_hash = s.mined_hash, block_number = s.block_number,
       updated_at = now()
FROM settled s
WHERE o.transaction_id = s.id AND o.status = 'submitted'
"""
RESUBMIT_CONFIRMED = """
UPDATE operations SET status = 'submitted', block_number = NULL, updated_at = now()
WHERE status = 'confirmed' AND transaction_id = ANY(%s)
"""
REQUEUE_IN_FLIGHT = """
UPDATE operations SET status = 'pending', transaction_id = NULL, tx_hash = NULL, requeued_by = 'chain_reset',
       updated_at = now()
WHERE status IN ('pending', 'submitted')
"""
COUNT_BY_STATUS = "SELECT status, count(*) AS n FROM operations GROUP BY status"


# --------------------------------------------------------------------------- accepting


def insert_operation(
    conn, operation_id: str, organisation_id: int, action: str, payload: dict, idempotency_key: str, digest: bytes
) -> dict | None:
    """Store a pending operation; None when this organisation already used the key (nothing stored)."""
    return fetch_one(
        conn, INSERT, (operation_id, organisation_id, action, json.dumps(payload), idempotency_key, digest)
    )


def insert_operations(conn, organisation_id: int, rows: list[tuple[str, str, dict, str, bytes]]) -> set[str]:
    """Store pending operations in one statement: rows of (id, action, payload, idempotency_key, digest); returns
    the ids stored (a row whose key this organisation already used is not)."""
    if not rows:
        return set()
    values = [(op_id, organisation_id, action, json.dumps(payload), key, digest)
              for op_id, action, payload, key, digest in rows]  # fmt: skip
    with conn.cursor() as cur:
        stored = execute_values(cur, INSERT_MANY, values, page_size=1000, fetch=True)
    return {row[0] for row in stored}


def by_key(conn, organisation_id: int, idempotency_key: str) -> dict | None:
    return fetch_one(conn, BY_KEY, (organisation_id, idempotency_key))


def by_id(conn, operation_id: str) -> dict | None:
    return fetch_one(conn, BY_ID, (operation_id,))


def by_ids(conn, operation_ids: list[str]) -> dict[str, dict]:
    """id (text) -> row, of those that exist."""
    if not operation_ids:
        return {}
    return {str(row["id"]): row for row in fetch_all(conn, BY_IDS, (list(operation_ids),))}


def lock_status_target(conn, target: bytes) -> None:
    """An advisory lock on a lot or unit id, held until the caller's transaction ends."""
    with conn.cursor() as cur:
        cur.execute(LOCK_TARGET, (int.from_bytes(target[:8], "big", signed=True),))


def latest_status_change(conn, target: bytes, actions: list[str]) -> dict | None:
    """The latest pending or submitted recall/quarantine/clear_quarantine of `actions` on `target`:
    {id, action, status, organisation_id}, or None."""
    return fetch_one(conn, STATUS_CHANGE_IN_FLIGHT, {"target": "0x" + target.hex(), "actions": actions})


# --------------------------------------------------------------------------- the relayer's lifecycle


def pending_groups(conn) -> list[dict]:
    """(organisation_id, action, account, n) with pending operations and no transaction in flight,
    oldest first."""
    return fetch_all(conn, PENDING_GROUPS)


def claim_pending(conn, organisation_id: int, action: str, limit: int) -> list[dict]:
    """Lock up to `limit` pending operations of one (organisation, action) for this transaction,
    oldest first; other relayers skip them. Rows: id, organisation_id, action, payload, attempts,
    requeued_by."""
    return fetch_all(conn, CLAIM_PENDING, (organisation_id, action, limit))


def mark_failed(conn, operation_id: str, reason: dict) -> None:
    with conn.cursor() as cur:
        cur.execute(MARK_FAILED, (Json(reason), operation_id))


def mark_submitted(conn, operation_ids: list[str], transaction_id: int, tx_hash: bytes) -> None:
    with conn.cursor() as cur:
        cur.execute(MARK_SUBMITTED, (transaction_id, tx_hash, operation_ids))


def submitted_of_transaction(conn, transaction_id: int) -> list[dict]:
    """{id, attempts} of the operations a transaction carries that are still submitted."""
    return fetch_all(conn, SUBMITTED_OF_TRANSACTION, (transaction_id,))


def mark_pending(conn, operation_id: str) -> None:
    """Back in the queue: its transaction had no effect."""
    with conn.cursor() as cur:
        cur.execute(MARK_PENDING, (operation_id,))


def set_tx_hash(conn, transaction_id: int, tx_hash: bytes) -> None:
    """The hash clients see for a transaction's submitted operations (a replacement, or the mined attempt)."""
    with conn.cursor() as cur:
        cur.execute(SET_TX_HASH, {"h": tx_hash, "t": transaction_id})


def confirm_mirrored(conn) -> int:
    """Confirm every submitted operation whose transaction's block the mirror holds; how many."""
    with conn.cursor() as cur:
        cur.execute(CONFIRM_MIRRORED)
        return cur.rowcount


def resubmit_confirmed(conn, transaction_ids: list[int]) -> int:
    """Confirmed operations of these transactions are submitted again (their block left the mirror)."""
    if not transaction_ids:
        return 0
    with conn.cursor() as cur:
        cur.execute(RESUBMIT_CONFIRMED, (transaction_ids,))
        return cur.rowcount


def requeue_in_flight(conn) -> int:
    """A new chain: every pending or submitted operation is pending again, marked `chain_reset`."""
    with conn.cursor() as cur:
        cur.execute(REQUEUE_IN_FLIGHT)
        return cur.rowcount


def count_by_status(conn) -> dict[str, int]:
    return {r["status"]: r["n"] for r in fetch_all(conn, COUNT_BY_STATUS)}
