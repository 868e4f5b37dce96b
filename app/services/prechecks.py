"""Lookups the write path's pre-checks make against the mirror (no Flask here).

Each answers from the indexed events, so an accepted scan is checked against the chain as the
indexer last saw it. Addresses and ids are bytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from app.db import fetch_all, fetch_one
from app.ids import unpack_set

ORG_BY_GLN = "SELECT account FROM ev_organisation_registered WHERE gln = %s ORDER BY block_number DESC LIMIT 1"
ORG_ROLES = "SELECT roles FROM ev_organisation_registered WHERE account = %s ORDER BY block_number DESC LIMIT 1"
SUSPENDED = """
SELECT COALESCE((SELECT max(block_number * 100000 + log_index) FROM ev_organisation_suspended WHERE account = %(a)s), -1)
     > COALESCE((SELECT max(block_number * 100000 + log_index) FROM ev_organisation_reinstated WHERE account = %(a)s), -1)
       AS suspended
"""
PRODUCT = "SELECT gtin, manufacturer, min_temp, max_temp FROM ev_product_registered WHERE gtin = %s LIMIT 1"
LOT = """
SELECT l.lot_id, l.gtin, l.manufacturer, l.lot_number, l.expiry, l.serial_count, l.serials_root,
       EXISTS (SELECT 1 FROM ev_lot_recalled r WHERE r.lot_id = l.lot_id) AS recalled,
       COALESCE((SELECT q.block_number * 100000 + q.log_index FROM ev_lot_quarantined q WHERE q.lot_id = l.lot_id
                 ORDER BY q.block_number DESC, q.log_index DESC LIMIT 1), -1)
     > COALESCE((SELECT c.block_number * 100000 + c.log_index FROM ev_lot_quarantine_cleared c WHERE c.lot_id = l.lot_id
                 ORDER BY c.block_number DESC, c.log_index DESC LIMIT 1), -1) AS quarantined
FROM ev_lot_commissioned l WHERE l.lot_id = %s
"""
RUN_CASE_OF = """
SELECT case_id FROM ev_case_packed
WHERE lot_id = %(lot)s AND first_index <= %(i)s AND %(i)s < first_index + count LIMIT 1
"""
TREE_CASES = "SELECT case_id, first_word, masks FROM ev_case_tree_packed WHERE lot_id = %s"
TREE_CASE = "SELECT lot_id, first_word, masks FROM ev_case_tree_packed WHERE case_id = %s"
PACK_ENDS = """
SELECT 'dispensed' AS state, first_word, masks FROM ev_dispensed WHERE lot_id = %(lot)s
UNION ALL SELECT 'destroyed', first_word, masks FROM ev_destroyed WHERE lot_id = %(lot)s
"""
SERIAL = """
SELECT s.lot_id, s.leaf_index, c.gtin, c.lot FROM lot_serials s JOIN lot_commissions c USING (lot_id)
WHERE s.sgtin_id = %s
"""
FIRST_CASED = """
SELECT leaf_index FROM pack_events
WHERE lot_id = %(lot)s AND kind = 'cased' AND leaf_index >= %(first)s AND leaf_index < %(end)s
  AND (%(indexes)s::integer[] IS NULL OR leaf_index = ANY(%(indexes)s::integer[]))
ORDER BY leaf_index LIMIT 1
"""
UNIT_EXISTS = """
SELECT 1 FROM ev_case_packed WHERE case_id = %(u)s UNION ALL SELECT 1 FROM ev_case_tree_packed WHERE case_id = %(u)s
UNION ALL SELECT 1 FROM ev_pallet_packed WHERE pallet_id = %(u)s LIMIT 1
"""


@dataclass(frozen=True)
class LotState:
    lot_id: bytes
    gtin: int
    manufacturer: bytes
    lot_number: str
    expiry: int
    serial_count: int
    recalled: bool
    quarantined: bool

    @property
    def expired(self) -> bool:
        return self.expiry < datetime.now(UTC).timestamp()


_ACCOUNTS: dict[tuple[str, str], bytes] = {}  # (database, GLN) -> account: a registered GLN never moves


def account_of_gln(conn, gln: str) -> bytes | None:
    """The chain account registered with a GLN (the contract refuses a GLN twice, so a found
    answer is remembered; an unknown GLN is asked again next time)."""
    key = (conn.dsn, gln)
    if key in _ACCOUNTS:
        return _ACCOUNTS[key]
    row = fetch_one(conn, ORG_BY_GLN, (int(gln),))
    if row is None:
        return None
    _ACCOUNTS[key] = bytes(row["account"])
    return _ACCOUNTS[key]


def suspended(conn, account: bytes) -> bool:
    """Whether the chain has the organisation suspended now (it can then neither act nor be shipped to)."""
    return bool(fetch_one(conn, SUSPENDED, {"a": account})["suspended"])


def product(conn, gtin: str) -> dict | None:
    row = fetch_one(conn, PRODUCT, (int(gtin),))
    if row:
        row["manufacturer"] = bytes(row["manufacturer"])
    return row


def lot(conn, lot_id: bytes) -> LotState | None:
    row = fetch_one(conn, LOT, (lot_id,))
    if row is None:
        return None
    return LotState(
        lot_id=bytes(row["lot_id"]),
        gtin=int(row["gtin"]),
        manufacturer=bytes(row["manufacturer"]),
        lot_number=row["lot_number"],
        expiry=int(row["expiry"]),
        serial_count=int(row["serial_count"]),
        recalled=row["recalled"],
        quarantined=row["quarantined"],
    )


def unit_exists(conn, unit_id: bytes) -> bool:
    return fetch_one(conn, UNIT_EXISTS, {"u": unit_id}) is not None


def serial(conn, sgtin_id: bytes) -> dict | None:
    """Where a commissioned serial sits: its lot id, leaf index, GTIN and lot number."""
    row = fetch_one(conn, SERIAL, (sgtin_id,))
    if row:
        row["lot_id"] = bytes(row["lot_id"])
    return row


def case_of_pack(conn, lot_id: bytes, index: int) -> tuple[bytes, bool] | None:
    """The case a pack was packed into, and whether it is a tree case; None for loose stock."""
    row = fetch_one(conn, RUN_CASE_OF, {"lot": lot_id, "i": index})
    if row:
        return bytes(row["case_id"]), False
    for tree in fetch_all(conn, TREE_CASES, (lot_id,)):
        if index in set(unpack_set(int(tree["first_word"]), [int(m) for m in tree["masks"]])):
            return bytes(tree["case_id"]), True
    return None


def tree_case_indexes(conn, case_id: bytes) -> list[int]:
    row = fetch_one(conn, TREE_CASE, (case_id,))
    if row is None:
        return []
    return unpack_set(int(row["first_word"]), [int(m) for m in row["masks"]])


def first_cased(conn, lot_id: bytes, indexes: list[int] | None = None, first: int = 0, count: int = 0) -> int | None:
    """The lowest of the given leaf indexes (or of the run first … first+count-1) already packed into a
    case: the contract allocates a pack to one case for good (PackAlreadyAllocated)."""
    if indexes is not None:
        first, count = min(indexes), max(indexes) - min(indexes) + 1
    row = fetch_one(conn, FIRST_CASED, {"lot": lot_id, "first": first, "end": first + count, "indexes": indexes})
    return None if row is None else int(row["leaf_index"])


def pack_end_states(conn, lot_id: bytes) -> dict[int, str]:
    """Leaf index -> 'dispensed' or 'destroyed', for the packs of a lot that left the supply chain."""
    out: dict[int, str] = {}
    for row in fetch_all(conn, PACK_ENDS, {"lot": lot_id}):
        for index in unpack_set(int(row["first_word"]), [int(m) for m in row["masks"]]):
            out[index] = row["state"]
    return out
