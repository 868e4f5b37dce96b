"""A lot's serials off-chain: the one writer of `lot_commissions`, `lot_serials` and `lot_trees`.

The hashing (pack ids, the Merkle tree in OpenZeppelin's layout) is app/services/serials.py; here is
only what the tables do. The writers are the lot commissioning (a commission row with its operation,
then its serials and its tree), the relayer releasing a failed operation's commission, the demo and
the bulk loader (COPY).
"""

from __future__ import annotations

import psycopg2.errors
from psycopg2.extras import execute_values

from app.db import fetch_all, fetch_one
from app.db.copy import copy_rows

COMMISSION_COLUMNS = ("lot_id", "gtin", "lot", "expiry", "serial_count", "serials_root", "organisation_id")
SERIAL_COLUMNS = ("lot_id", "leaf_index", "serial", "sgtin_id")
TREE_COLUMNS = ("lot_id", "nodes")

INSERT_COMMISSION = """
INSERT INTO lot_commissions (lot_id, gtin, lot, expiry, serial_count, serials_root, organisation_id, operation_id)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (lot_id) DO NOTHING RETURNING lot_id
"""
INSERT_SERIALS = "INSERT INTO lot_serials (lot_id, leaf_index, serial, sgtin_id, batch) VALUES %s"
INSERT_SERIALS_IF_NEW = INSERT_SERIALS + " ON CONFLICT DO NOTHING"
FIRST_TAKEN = "SELECT serial FROM lot_serials WHERE sgtin_id = ANY(%s) LIMIT 1"
TAKEN = "SELECT sgtin_id FROM lot_serials WHERE sgtin_id = ANY(%s)"
# The lot's commission row, locked until the caller's transaction ends: batches of one lot are accepted one at a time
# (each takes the next leaf indexes and batch number). The next batch number is one past the highest held, not the
# count: a failed earlier batch's tree is gone while later ones are still held (their numbers stay taken); the two
# differ exactly while such a gap exists.
LOCK_COMMISSION = """
SELECT c.lot_id, c.gtin, c.lot, c.expiry, c.serial_count, c.capacity, c.organisation_id,
       (SELECT coalesce(max(t.batch) + 1, 0) FROM lot_trees t WHERE t.lot_id = c.lot_id) AS next_batch,
       (SELECT count(*) FROM lot_trees t WHERE t.lot_id = c.lot_id) AS batches
FROM lot_commissions c WHERE c.lot_id = %s FOR UPDATE
"""
INSERT_OPENED = """
INSERT INTO lot_commissions (lot_id, gtin, lot, expiry, serial_count, capacity, organisation_id, operation_id)
VALUES (%s, %s, %s, %s, 0, %s, %s, %s) ON CONFLICT (lot_id) DO NOTHING RETURNING lot_id
"""
ADD_SERIALS = "UPDATE lot_commissions SET serial_count = serial_count + %s WHERE lot_id = %s"
INSERT_BATCH_TREE = (
    "INSERT INTO lot_trees (lot_id, batch, first_index, nodes, operation_id) VALUES (%s, %s, %s, %s, %s)"
)
# a failed commission_batch: its tree and serials go, and the lot's count goes back (later batches of the lot,
# accepted after it, fail on chain too: LotBatchOutOfOrder)
DELETE_BATCH_OF = """
WITH gone AS (DELETE FROM lot_trees WHERE operation_id = %(op)s RETURNING lot_id, batch, (length(nodes) / 32 + 1) / 2 AS n),
serials AS (DELETE FROM lot_serials s USING gone g WHERE s.lot_id = g.lot_id AND s.batch = g.batch)
UPDATE lot_commissions c SET serial_count = c.serial_count - g.n FROM gone g WHERE c.lot_id = g.lot_id
"""
# its serials go with it (ON DELETE CASCADE)
DELETE_COMMISSION_OF = "DELETE FROM lot_commissions WHERE operation_id = %s"
STORE_TREE = """
INSERT INTO lot_trees (lot_id, nodes) VALUES (%s, %s)
ON CONFLICT (lot_id, batch) DO UPDATE SET nodes = EXCLUDED.nodes
"""
# n from the tree's size (2n - 1 nodes): length() of an uncompressed EXTERNAL value reads only its
# TOAST pointer, and lot_proof() reads only the chunks that hold the proof's nodes.
PROOF = """
SELECT t.first_index + t.n AS n,
       CASE WHEN %(leaf)s - t.first_index < t.n THEN batch_proof(t.lot_id, t.batch, t.n, %(leaf)s - t.first_index) END
           AS proof
FROM (SELECT lot_id, batch, first_index, (length(nodes) / 32 + 1) / 2 AS n FROM lot_trees
      WHERE lot_id = %(lot)s AND first_index <= %(leaf)s ORDER BY first_index DESC LIMIT 1) t
"""


def insert_lot_commission(
    conn,
    lot_id: bytes,
    gtin: int,
    lot: str,
    expiry,
    serial_count: int,
    root: bytes,
    organisation_id: int,
    operation_id: str | None,
) -> bool:
    """The lot's commissioning record beside the chain (operation_id None: commissioned outside the
    API); False when the lot already has one (nothing written)."""
    params = (lot_id, gtin, lot, expiry, serial_count, root, organisation_id, operation_id)
    return fetch_one(conn, INSERT_COMMISSION, params) is not None


def insert_lot_serials(
    conn, lot_id: bytes, serials: list[tuple[str, bytes]], skip_existing: bool = False, first: int = 0, batch: int = 0
) -> str | None:
    """The lot's (serial, sgtin id) pairs in leaf order (from leaf index `first`, of batch `batch`). Returns None,
    or the first serial already in a lot (then nothing is written and the caller's transaction goes on).
    skip_existing: rows already present are left as they are (re-seeding the demo)."""
    rows = [(lot_id, first + i, serial, sid, batch) for i, (serial, sid) in enumerate(serials)]
    with conn.cursor() as cur:
        if skip_existing:
            execute_values(cur, INSERT_SERIALS_IF_NEW, rows, page_size=5000)
            return None
        cur.execute("SAVEPOINT serials")
        try:
            execute_values(cur, INSERT_SERIALS, rows, page_size=5000)
        except psycopg2.errors.UniqueViolation:
            cur.execute("ROLLBACK TO SAVEPOINT serials")
            taken = fetch_one(conn, FIRST_TAKEN, ([sid for _, sid in serials],))
            return taken["serial"] if taken else "?"
        cur.execute("RELEASE SAVEPOINT serials")
    return None


def insert_opened_lot(
    conn, lot_id: bytes, gtin: int, lot: str, expiry, capacity: int, organisation_id: int, operation_id: str
) -> bool:
    """An opened lot's record (no serials yet); False when the lot already has one (nothing written)."""
    params = (lot_id, gtin, lot, expiry, capacity, organisation_id, operation_id)
    return fetch_one(conn, INSERT_OPENED, params) is not None


def lock_commission(conn, lot_id: bytes) -> dict | None:
    """The lot's commission row (serial_count: serials accepted so far, pending batches included; next_batch: one
    past its highest batch held; batches: how many it holds), locked until the caller's transaction ends; None when this service has none."""
    return fetch_one(conn, LOCK_COMMISSION, (lot_id,))


def first_taken(conn, sgtin_ids: list[bytes]) -> int | None:
    """The position in `sgtin_ids` of the first serial already commissioned (in any lot or batch), or None."""
    taken = {bytes(r["sgtin_id"]) for r in fetch_all(conn, TAKEN, (list(sgtin_ids),))}
    return next((i for i, sid in enumerate(sgtin_ids) if sid in taken), None)


def insert_batch(
    conn, lot_id: bytes, batch: int, first: int, serials: list[tuple[str, bytes]], nodes: bytes, operation_id: str
) -> str | None:
    """A commissioning batch: its serials (leaf indexes from `first`), its tree, the lot's count raised. Returns
    None, or a serial already in a lot (then nothing is written). A batch number the lot already holds raises
    BatchTaken (nothing written)."""
    with conn.cursor() as cur:
        cur.execute("SAVEPOINT batch")
        taken = insert_lot_serials(conn, lot_id, serials, first=first, batch=batch)
        if taken is not None:
            cur.execute("ROLLBACK TO SAVEPOINT batch")
            return taken
        try:
            cur.execute(INSERT_BATCH_TREE, (lot_id, batch, first, nodes, operation_id))
        except psycopg2.errors.UniqueViolation as exc:
            cur.execute("ROLLBACK TO SAVEPOINT batch")
            raise BatchTaken(batch) from exc
        cur.execute(ADD_SERIALS, (len(serials), lot_id))
        cur.execute("RELEASE SAVEPOINT batch")
    return None


class BatchTaken(Exception):
    """The lot already holds a tree of this batch number."""

    def __init__(self, batch: int):
        super().__init__(f"batch {batch} of the lot is already held")
        self.batch = batch


def delete_batch_of(conn, operation_id: str) -> int:
    """Forget the commissioning batch a failed operation recorded (tree, serials, the lot's count); returns the
    lot rows updated (0 or 1)."""
    with conn.cursor() as cur:
        cur.execute(DELETE_BATCH_OF, {"op": operation_id})
        return cur.rowcount


def delete_commission_of(conn, operation_id: str) -> int:
    """Forget the commission (and its serials) an operation recorded; returns the rows deleted (0 or 1)."""
    with conn.cursor() as cur:
        cur.execute(DELETE_COMMISSION_OF, (operation_id,))
        return cur.rowcount


def store_tree(conn, lot_id: bytes, nodes: bytes) -> None:
    """Store a lot's whole tree (replacing a stored one)."""
    with conn.cursor() as cur:
        cur.execute(STORE_TREE, (lot_id, nodes))


def proof_slice(conn, lot_id: bytes, leaf_index: int) -> tuple[int, list[bytes] | None] | None:
    """(n, siblings) of leaf `leaf_index` in the stored tree of the lot's batch that holds it (a lot commissioned in
    one go: its one tree): n one past that batch's last leaf index, siblings the proof from the leaf up in the
    batch's tree (None when leaf_index >= n, or for a one-leaf tree). None: no stored tree."""
    rows = fetch_all(conn, PROOF, {"lot": lot_id, "leaf": leaf_index})
    if not rows:
        return None
    siblings = rows[0]["proof"]
    return rows[0]["n"], None if siblings is None else [bytes(s) for s in siblings]


def copy_lots(conn, commissions: list[tuple], serials: list[tuple], trees: list[tuple]) -> None:
    """COPY rows of COMMISSION_COLUMNS, SERIAL_COLUMNS and TREE_COLUMNS, in the caller's transaction.
    A lot or serial already present fails the COPY (unique violation)."""
    copy_rows(conn, "lot_commissions", COMMISSION_COLUMNS, commissions)
    copy_rows(conn, "lot_serials", SERIAL_COLUMNS, serials)
    copy_rows(conn, "lot_trees", TREE_COLUMNS, trees)
