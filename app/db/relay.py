"""The relayer's own state: `relay_transactions` (one per signed call, whatever its attempts),
`relay_attempts` (each signed form, raw bytes kept for re-broadcast), `relay_nonces` (the next nonce
per signing account) and `relay_chain` (the chain its transactions are signed for).

The ONLY module that writes those tables. The caller (the relayer's round, or its mirror-rollback
hook) holds the transaction. Rows are dicts of the named columns.
"""

from __future__ import annotations

from app.db import fetch_all, fetch_one

INSERT_TRANSACTION = """
INSERT INTO relay_transactions (organisation_id, action, account, nonce, to_address, calldata, gas_limit)
VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING id
"""
INSERT_ATTEMPT = """
INSERT INTO relay_attempts (tx_hash, transaction_id, raw, max_fee_per_gas, max_priority_fee_per_gas)
VALUES (%s, %s, %s, %s, %s)
"""
LOCK_NONCE = "SELECT next_nonce FROM relay_nonces WHERE account = %s FOR UPDATE"
SET_NONCE = """
INSERT INTO relay_nonces (account, next_nonce) VALUES (%s, %s)
ON CONFLICT (account) DO UPDATE SET next_nonce = EXCLUDED.next_nonce
"""
# What the relayer believes each account's next nonce is (a bounded sample: the most recently used).
NONCES = "SELECT account, next_nonce FROM relay_nonces ORDER BY next_nonce DESC LIMIT %s"
FORGET_NONCES = "DELETE FROM relay_nonces"

CLAIM_SENT = """
SELECT id, account, nonce, to_address, calldata, gas_limit, created_at FROM relay_transactions
WHERE status = 'sent' ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED
"""
ATTEMPTS = """
SELECT tx_hash, raw, max_fee_per_gas, max_priority_fee_per_gas, created_at FROM relay_attempts
WHERE transaction_id = %s ORDER BY created_at, tx_hash
"""
ATTEMPT_HASHES = "SELECT tx_hash FROM relay_attempts WHERE transaction_id = ANY(%s)"
MARK_MINED = """
UPDATE relay_transactions SET status = %s, mined_hash = %s, block_number = %s, block_hash = %s, gas_used = %s,
       updated_at = now()
WHERE id = %s
"""
MARK_DROPPED = "UPDATE relay_transactions SET status = 'dropped', updated_at = now() WHERE id = %s"
REOPEN = """
UPDATE relay_transactions SET status = 'sent', mined_hash = NULL, block_number = NULL, block_hash = NULL,
       gas_used = NULL, updated_at = now()
WHERE id = %s
"""
# A reorg removed the blocks from %s on: what was mined there is open again (the mirror-rollback hook).
REOPEN_MINED_FROM = """
UPDATE relay_transactions SET status = 'sent', mined_hash = NULL, block_number = NULL, block_hash = NULL,
       gas_used = NULL, updated_at = now()
WHERE status = 'mined' AND block_number >= %s
RETURNING id
"""
# A receipt from a block the chain then replaced: the indexer has passed that height without mirroring
# that block (a block with our events is never pruned).
REOPEN_ORPHANED = """
UPDATE relay_transactions t SET status = 'sent', mined_hash = NULL, block_number = NULL, block_hash = NULL,
       gas_used = NULL, updated_at = now()
WHERE t.id IN (SELECT o.transaction_id FROM operations o WHERE o.status = 'submitted')
  AND t.status = 'mined' AND t.block_hash IS NOT NULL
  AND t.block_number <= (SELECT block_number FROM indexer_cursor WHERE name = 'main')
  AND NOT EXISTS (SELECT 1 FROM blocks b WHERE b.number = t.block_number AND b.hash = t.block_hash)
"""
# Reverted transactions whose operations wait for the indexer to pass their block: a revert is final
# only if the block stays canonical (a reverted call emits no event, so the node says whether it does).
SETTLED_REVERTS = """
SELECT t.id, t.mined_hash, t.block_hash FROM relay_transactions t
WHERE t.id IN (SELECT o.transaction_id FROM operations o WHERE o.status = 'submitted')
  AND t.status = 'reverted' AND t.block_hash IS NOT NULL
  AND t.block_number <= (SELECT block_number FROM indexer_cursor WHERE name = 'main')
"""
LOCK_STILL_REVERTED = """
SELECT 1 FROM relay_transactions WHERE id = %s AND status = 'reverted' AND block_hash = %s FOR UPDATE
"""
# The indexer holds its cursor row FOR UPDATE while it rolls back: confirming waits for that, so a
# rollback never misses an operation confirmed from a block it is dropping.
# The data of the transaction the relayer sent that was mined as `tx_hash` (what an undo proof re-sends).
CALLDATA_OF_MINED = "SELECT calldata FROM relay_transactions WHERE mined_hash = %s AND status = 'mined'"
SHARE_MIRROR_CURSOR = "SELECT 1 FROM indexer_cursor WHERE name = 'main' FOR SHARE"

LOCK_CHAIN = "SELECT chain_id, genesis_hash FROM relay_chain WHERE name = 'main' FOR UPDATE"
SET_CHAIN = """
INSERT INTO relay_chain (name, chain_id, genesis_hash) VALUES ('main', %s, %s)
ON CONFLICT (name) DO UPDATE SET chain_id = EXCLUDED.chain_id, genesis_hash = EXCLUDED.genesis_hash, since = now()
"""
# Every transaction recorded for the old chain is void there; 'sent' ones may still sit in a node's pool.
VOID_ALL = """
WITH old AS (SELECT id, status FROM relay_transactions WHERE status <> 'voided' FOR UPDATE)
UPDATE relay_transactions t SET status = 'voided', updated_at = now() FROM old WHERE t.id = old.id
RETURNING t.id, old.status
"""


# --------------------------------------------------------------------------- signing and recording


def insert_transaction(
    conn,
    organisation_id: int,
    action: str,
    account: bytes,
    nonce: int,
    to_address: bytes,
    calldata: bytes,
    gas_limit: int,
) -> int:
    """Record a signed call (status 'sent'); returns its id."""
    with conn.cursor() as cur:
        cur.execute(INSERT_TRANSACTION, (organisation_id, action, account, nonce, to_address, calldata, gas_limit))
        return cur.fetchone()[0]


def insert_attempt(conn, tx_hash: bytes, transaction_id: int, raw: bytes, max_fee: int, priority_fee: int) -> None:
    with conn.cursor() as cur:
        cur.execute(INSERT_ATTEMPT, (tx_hash, transaction_id, raw, max_fee, priority_fee))


def lock_next_nonce(conn, account: bytes) -> int | None:
    """The next nonce recorded for the account, locked for this transaction; None if none."""
    row = fetch_one(conn, LOCK_NONCE, (account,))
    return None if row is None else row["next_nonce"]


def set_next_nonce(conn, account: bytes, nonce: int) -> None:
    with conn.cursor() as cur:
        cur.execute(SET_NONCE, (account, nonce))


def believed_nonces(conn, limit: int = 10) -> dict[bytes, int]:
    """account -> next nonce as the relayer believes it, for the accounts with the highest ones."""
    return {bytes(r["account"]): r["next_nonce"] for r in fetch_all(conn, NONCES, (limit,))}


def forget_nonces(conn) -> None:
    with conn.cursor() as cur:
        cur.execute(FORGET_NONCES)


# --------------------------------------------------------------------------- settling


def claim_sent(conn, limit: int = 500) -> list[dict]:
    """Lock unmined transactions (status 'sent') for this transaction, SKIP LOCKED. Rows: id, account,
    nonce, to_address, calldata, gas_limit, created_at."""
    return fetch_all(conn, CLAIM_SENT, (limit,))


def attempts(conn, transaction_id: int) -> list[dict]:
    """A transaction's attempts, oldest first: tx_hash, raw, max_fee_per_gas, max_priority_fee_per_gas, created_at."""
    return fetch_all(conn, ATTEMPTS, (transaction_id,))


def mark_mined(
    conn, transaction_id: int, ok: bool, mined_hash: bytes, block_number: int, block_hash: bytes, gas_used: int
) -> None:
    """Its receipt: 'mined', or 'reverted' when not ok."""
    with conn.cursor() as cur:
        cur.execute(
            MARK_MINED,
            ("mined" if ok else "reverted", mined_hash, block_number, block_hash, gas_used, transaction_id),
        )


def mark_dropped(conn, transaction_id: int) -> None:
    with conn.cursor() as cur:
        cur.execute(MARK_DROPPED, (transaction_id,))


def reopen(conn, transaction_id: int) -> None:
    """Open again (status 'sent', receipt forgotten): the next settle round looks for it anew."""
    with conn.cursor() as cur:
        cur.execute(REOPEN, (transaction_id,))


def reopen_mined_from(conn, first_removed_block: int) -> list[int]:
    """Transactions mined in blocks the mirror removed are open again; their ids."""
    return [r["id"] for r in fetch_all(conn, REOPEN_MINED_FROM, (first_removed_block,))]


def reopen_orphaned(conn) -> int:
    """Open again the mined transactions whose block the mirror passed without holding it; how many."""
    with conn.cursor() as cur:
        cur.execute(REOPEN_ORPHANED)
        return cur.rowcount


def settled_reverts(conn) -> list[dict]:
    """Reverted transactions with operations still submitted, at or below the mirror's cursor: id,
    mined_hash, block_hash."""
    return fetch_all(conn, SETTLED_REVERTS)


def lock_if_still_reverted(conn, transaction_id: int, block_hash: bytes) -> bool:
    """Lock the transaction if it is still reverted in that block (no rollback reopened it meanwhile)."""
    return fetch_one(conn, LOCK_STILL_REVERTED, (transaction_id, block_hash)) is not None


def share_mirror_cursor(conn) -> bool:
    """Hold the indexer's cursor FOR SHARE (a rollback in progress finishes first); False before the
    mirror holds anything."""
    return fetch_one(conn, SHARE_MIRROR_CURSOR) is not None


# --------------------------------------------------------------------------- which chain


def lock_chain(conn) -> dict | None:
    """{chain_id, genesis_hash} the relayer signs for, locked; None before its first start."""
    return fetch_one(conn, LOCK_CHAIN)


def set_chain(conn, chain_id: int, genesis: bytes) -> None:
    with conn.cursor() as cur:
        cur.execute(SET_CHAIN, (chain_id, genesis))


def void_all(conn) -> list[tuple[int, str]]:
    """Void every transaction not yet voided; (id, the status it had) of each."""
    return [(r["id"], r["status"]) for r in fetch_all(conn, VOID_ALL)]


def attempt_hashes(conn, transaction_ids: list[int]) -> list[bytes]:
    return [bytes(r["tx_hash"]) for r in fetch_all(conn, ATTEMPT_HASHES, (transaction_ids,))]


def calldata_of_mined(conn, tx_hash: bytes) -> bytes | None:
    """The calldata of the relayer's transaction mined as `tx_hash`; None if the relayer did not send it."""
    with conn.cursor() as cur:
        cur.execute(CALLDATA_OF_MINED, (tx_hash,))
        row = cur.fetchone()
    return None if row is None else bytes(row[0])
