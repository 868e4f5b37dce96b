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
INSERT_SERIALS = "INSERT INTO lot_serials (lot_id, leaf_index, serial, sgtin_id) VALUES %s"
INSERT_SERIALS_IF_NEW = INSERT_SERIALS + " ON CONFLICT DO NOTHING"
FIRST_TAKEN = "SELECT serial FROM lot_serials WHERE sgtin_id = ANY(%s) LIMIT 1"
# its serials go with it (ON DELETE CASCADE)
DELETE_COMMISSION_OF = "DELETE FROM lot_commissions WHERE operation_id = %s"
STORE_TREE = """
INSERT INTO lot_trees (lot_id, nodes) VALUES (%s, %s)
ON CONFLICT (lot_id) DO UPDATE SET nodes = EXCLUDED.nodes
"""
# n from the tree's size (2n - 1 nodes): length() of an uncompressed EXTERNAL value reads only its
# TOAST pointer, and lot_proof() reads only the chunks that hold the proof's nodes.
PROOF = """
SELECT t.n, CASE WHEN %(leaf)s < t.n THEN lot_proof(t.lot_id, t.n, %(leaf)s) END AS proof
FROM (SELECT lot_id, (length(nodes) / 32 + 1) / 2 AS n FROM lot_trees WHERE lot_id = %(lot)s) t
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
    conn, lot_id: bytes, serials: list[tuple[str, bytes]], skip_existing: bool = False
) -> str | None:
    """The lot's (serial, sgtin id) pairs in leaf order. Returns None, or the first serial already in a
    lot (then nothing is written and the caller's transaction goes on). skip_existing: rows already
    present are left as they are (re-seeding the demo)."""
    rows = [(lot_id, i, serial, sid) for i, (serial, sid) in enumerate(serials)]
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
    """(n, siblings) of leaf `leaf_index` of the lot's stored tree: n its number of leaves, siblings the
    proof from the leaf up (None when leaf_index >= n, or for a one-leaf tree). None: no stored tree."""
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
