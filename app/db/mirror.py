"""Reads of the chain mirror: organisations, products, lots, units, packs and their events.

Reads only: the indexer (app/db/indexer.py) is the one writer of the mirror tables. Lot and unit
status (recalled, quarantined, excursion, unpacked) comes from the `lot_status` and `unit_status`
views (migration 0012), the one place that says how events make a status.

- ``parties(conn, accounts)`` is THE account -> party lookup. Its rule: the GLN is the one the
  account registered on chain (its latest `OrganisationRegistered`; the contract refuses a second
  one), or, for an account with no registration in the mirror, the GLN of the service's
  `organisations` row; the name is the `organisations` row's (None for an organisation this
  service does not know). Every requested account is in the answer.
- ``custody_events(conn, unit_id)`` are the rows `app/services/custody.fold` replays.
- Regulator lists (``lots``, ``recalls``, ``activity``) take `scope`: the account whose lots
  limit the rows (``MY_LOTS``), or None for no limit. Who gets which scope is decided by the
  caller (app/services/queries.py).

Addresses and ids come back as bytes.
"""

from __future__ import annotations

from typing import NamedTuple

from app.db import access as access_db
from app.db import fetch_all, fetch_all_prepared, fetch_one
from app.ids import unpack_set

# --------------------------------------------------------------------------- snapshots


def read_snapshot(conn) -> None:
    """Make the rest of the caller's transaction read one snapshot (call it first in the
    transaction): the indexer may commit blocks between the several queries of one answer."""
    with conn.cursor() as cur:
        cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")


# --------------------------------------------------------------------------- organisations

ACCOUNT_OF_GLN = "SELECT account FROM ev_organisation_registered WHERE gln = %s ORDER BY block_number DESC LIMIT 1"
SUSPENDED = """
SELECT COALESCE((SELECT max(block_number * 100000 + log_index) FROM ev_organisation_suspended WHERE account = %(a)s), -1)
     > COALESCE((SELECT max(block_number * 100000 + log_index) FROM ev_organisation_reinstated WHERE account = %(a)s), -1)
       AS suspended
"""
# The one account -> party rule (module docstring).
PARTIES = """
SELECT a.account, COALESCE(lpad(r.gln::text, 13, '0'), o.gln::text) AS gln, o.name
FROM unnest($1::bytea[]) AS a (account)
LEFT JOIN LATERAL (
    SELECT gln FROM ev_organisation_registered WHERE account = a.account
    ORDER BY block_number DESC, log_index DESC LIMIT 1
) r ON true
LEFT JOIN organisations o ON o.account = a.account
"""


class Party(NamedTuple):
    """An organisation as the answers name it: chain account, GLN-13 (text) and name; gln and name
    are None when neither the chain nor this service knows the account."""

    account: bytes
    gln: str | None
    name: str | None

    def as_dict(self, account_hex: bool = True) -> dict:
        """{account, gln, name}; the account as 0x-hex (or bytes with account_hex=False)."""
        account = "0x" + self.account.hex() if account_hex else self.account
        return {"account": account, "gln": self.gln, "name": self.name}


def account_of_gln(conn, gln: str | int) -> bytes | None:
    """The chain account registered with a GLN, None if none is."""
    row = fetch_one(conn, ACCOUNT_OF_GLN, (int(gln),))
    return None if row is None else bytes(row["account"])


def suspended(conn, account: bytes) -> bool:
    """Whether the chain has the organisation suspended now."""
    return bool(fetch_one(conn, SUSPENDED, {"a": account})["suspended"])


def parties(conn, accounts) -> dict[bytes, Party]:
    """account -> Party for every account given (None entries skipped), by the one rule of the
    module docstring. A prepared statement (verification asks it per request)."""
    wanted = sorted({bytes(a) for a in accounts if a is not None})
    out = {a: Party(a, None, None) for a in wanted}
    if wanted:
        for row in fetch_all_prepared(conn, "mirror_parties", PARTIES, (wanted,)):
            account = bytes(row["account"])
            out[account] = Party(account, row["gln"], row["name"])
    return out


# --------------------------------------------------------------------------- products and lots

PRODUCT = "SELECT gtin, manufacturer, min_temp, max_temp FROM ev_product_registered WHERE gtin = %s LIMIT 1"
LOT_STATUS = """
SELECT lot_id, gtin, manufacturer, lot_number, expiry, serial_count, serials_root, block_number, log_index, tx_hash,
       recalled, quarantined, capacity, batches
FROM lot_status WHERE lot_id = %s
"""
SERIAL = """
SELECT s.lot_id, s.leaf_index, c.gtin, c.lot FROM lot_serials s JOIN lot_commissions c USING (lot_id)
WHERE s.sgtin_id = %s
"""
# The consignment a confirmed shipListed/return… call made, found by one pack it moved: the pack's move in the
# operation's block into a consignment created by the operation's transaction.
CONSIGNMENT_OF_MOVE = """
SELECT c.consignment_id FROM pack_events p
JOIN ev_consignment_created c ON c.consignment_id = p.container_id AND c.block_number = p.block_number
WHERE p.lot_id = %(lot)s AND p.leaf_index = %(index)s AND p.block_number = %(block)s
  AND p.kind IN ('moved', 'returned') AND c.tx_hash = %(tx)s
LIMIT 1
"""
LOT_NAMES = "SELECT lot_id, gtin, lot_number FROM lot_status WHERE lot_id = ANY(%s)"


class LotRow(NamedTuple):
    """A commissioned lot and its status now (the `lot_status` view)."""

    lot_id: bytes
    gtin: int
    manufacturer: bytes
    lot_number: str
    expiry: int  # unix seconds, the last valid second
    serial_count: int
    serials_root: bytes
    block_number: int
    log_index: int
    tx_hash: bytes
    recalled: bool
    quarantined: bool
    capacity: int = 0  # the most serials it may hold (a lot commissioned in one go: its serial_count)
    batches: int = 0  # commissioning batches on chain


def product(conn, gtin: str | int) -> dict | None:
    """{gtin, manufacturer (bytes), min_temp, max_temp} of a product registered on chain, or None."""
    row = fetch_one(conn, PRODUCT, (int(gtin),))
    if row:
        row["manufacturer"] = bytes(row["manufacturer"])
    return row


def consignment_of_move(conn, tx_hash: bytes, block: int, lot_id: bytes, index: int) -> bytes | None:
    """The id of the consignment that transaction `tx_hash` (mined in `block`) moved pack (lot_id, index) into."""
    row = fetch_one(conn, CONSIGNMENT_OF_MOVE, {"tx": tx_hash, "block": block, "lot": lot_id, "index": index})
    return bytes(row["consignment_id"]) if row else None


def lot_status(conn, lot_id: bytes) -> LotRow | None:
    """The lot's on-chain record and whether it is recalled or quarantined now; None if not commissioned."""
    row = fetch_one(conn, LOT_STATUS, (lot_id,))
    if row is None:
        return None
    return LotRow(
        lot_id=bytes(row["lot_id"]),
        gtin=int(row["gtin"]),
        manufacturer=bytes(row["manufacturer"]),
        lot_number=row["lot_number"],
        expiry=int(row["expiry"]),
        serial_count=int(row["serial_count"]),
        serials_root=bytes(row["serials_root"]),
        block_number=int(row["block_number"]),
        log_index=int(row["log_index"]),
        tx_hash=bytes(row["tx_hash"]),
        recalled=row["recalled"],
        quarantined=row["quarantined"],
        capacity=int(row["capacity"]),
        batches=int(row["batches"]),
    )


def serial(conn, sgtin_id: bytes) -> dict | None:
    """{lot_id (bytes), leaf_index, gtin, lot} of a serial commissioned through this service, or None."""
    row = fetch_one(conn, SERIAL, (sgtin_id,))
    if row:
        row["lot_id"] = bytes(row["lot_id"])
    return row


def lot_names(conn, lot_ids) -> dict[bytes, dict]:
    """lot id -> {gtin (14 digits), lot (number)}."""
    wanted = sorted({bytes(x) for x in lot_ids if x is not None})
    if not wanted:
        return {}
    return {
        bytes(r["lot_id"]): {"gtin": f"{int(r['gtin']):014d}", "lot": r["lot_number"]}
        for r in fetch_all(conn, LOT_NAMES, (wanted,))
    }


# --------------------------------------------------------------------------- units

UNITS = """
SELECT unit_id, sscc, kind FROM unit_status WHERE unit_id = ANY(%(ids)s::bytea[])
"""
UNIT_EXISTS = "SELECT 1 FROM unit_status WHERE unit_id = %(u)s LIMIT 1"

# The custody events of units and of every pallet they were put on, oldest first, with block times
# (the rows app/services/custody.fold replays; its docstring describes them). One text for one unit
# ($1 bytea, verification's hot path) and for many ($1 bytea[], provenance).
_CUSTODY_EVENTS = """
WITH pallets AS (SELECT pallet_id FROM ev_pallet_packed WHERE {pallets_of}),
units AS ({units} UNION SELECT pallet_id FROM pallets)
SELECT e.*, b.timestamp AS at FROM (
    SELECT case_id AS unit, 'packed' AS kind, block_number, log_index, tx_hash, packer AS actor, NULL::bytea AS other,
           sscc, lot_id, NULL::bytea[] AS case_ids, NULL::bytea AS sensor_id, NULL::integer AS value,
           NULL::integer AS min_temp, NULL::integer AS max_temp, NULL::bigint AS time, 'case'::text AS unit_kind
      FROM ev_case_packed WHERE case_id {is_one}
    UNION ALL SELECT case_id, 'packed', block_number, log_index, tx_hash, packer, NULL, sscc, lot_id, NULL,
           NULL, NULL, NULL, NULL, NULL, 'case'
      FROM ev_case_tree_packed WHERE case_id {is_one}
    UNION ALL SELECT tote_id, 'packed', block_number, log_index, tx_hash, packer, NULL, sscc, NULL, NULL,
           NULL, NULL, NULL, NULL, NULL, 'tote'
      FROM ev_tote_packed WHERE tote_id {is_one}
    UNION ALL SELECT tote_id, 'detached', block_number, log_index, tx_hash, NULL, cage_id, NULL, NULL, NULL,
           NULL, NULL, NULL, NULL, NULL, NULL
      FROM ev_tote_detached WHERE tote_id {is_one}
    UNION ALL SELECT consignment_id, 'packed', block_number, log_index, tx_hash, from_org, to_org, NULL, NULL, NULL,
           NULL, NULL, NULL, NULL, NULL, CASE WHEN is_return THEN 'return' ELSE 'consignment' END
      FROM ev_consignment_created WHERE consignment_id {is_one}
    UNION ALL SELECT pallet_id, 'packed', block_number, log_index, tx_hash, packer, NULL, sscc, NULL, case_ids,
           NULL, NULL, NULL, NULL, NULL,
           CASE WHEN EXISTS (SELECT 1 FROM ev_cage_packed c WHERE (c.block_number, c.log_index) = (p.block_number,
                p.log_index)) THEN 'cage' ELSE 'pallet' END
      FROM ev_pallet_packed p WHERE pallet_id IN (SELECT u FROM units)
    UNION ALL SELECT unit_id, 'shipped', block_number, log_index, tx_hash, from_org, to_org, NULL, NULL, NULL,
           NULL, NULL, NULL, NULL, NULL, NULL
      FROM ev_shipped WHERE unit_id IN (SELECT u FROM units)
    UNION ALL SELECT unit_id, 'received', block_number, log_index, tx_hash, by, from_org, NULL, NULL, NULL,
           NULL, NULL, NULL, NULL, NULL, NULL
      FROM ev_received WHERE unit_id IN (SELECT u FROM units)
    UNION ALL SELECT consignment_id, 'accepted', block_number, log_index, tx_hash, by, from_org, NULL, NULL, NULL,
           NULL, NULL, NULL, NULL, NULL, NULL
      FROM ev_return_accepted WHERE consignment_id IN (SELECT u FROM units)
    UNION ALL SELECT unit_id, 'refused', block_number, log_index, tx_hash, by, sender, NULL, NULL, NULL,
           NULL, NULL, NULL, NULL, NULL, NULL
      FROM ev_refused WHERE unit_id IN (SELECT u FROM units)
    UNION ALL SELECT unit_id, 'unpacked', block_number, log_index, tx_hash, by, NULL, NULL, NULL, NULL,
           NULL, NULL, NULL, NULL, NULL, NULL
      FROM ev_unpacked WHERE unit_id IN (SELECT u FROM units)
    UNION ALL SELECT unit_id, 'quarantined', block_number, log_index, tx_hash, by, NULL, NULL, NULL, NULL,
           NULL, NULL, NULL, NULL, NULL, NULL
      FROM ev_unit_quarantined WHERE unit_id IN (SELECT u FROM units)
    UNION ALL SELECT unit_id, 'cleared', block_number, log_index, tx_hash, by, NULL, NULL, NULL, NULL,
           NULL, NULL, NULL, NULL, NULL, NULL
      FROM ev_unit_quarantine_cleared WHERE unit_id IN (SELECT u FROM units)
    UNION ALL SELECT unit_id, 'excursion', block_number, log_index, tx_hash, NULL, NULL, NULL, NULL, NULL,
           sensor_id, value, min_temp, max_temp, time, NULL
      FROM ev_excursion_detected WHERE unit_id IN (SELECT u FROM units)
) e LEFT JOIN blocks b ON b.number = e.block_number
ORDER BY e.block_number, e.log_index
"""
CUSTODY_EVENTS = _CUSTODY_EVENTS.format(
    pallets_of="case_ids @> ARRAY[$1::bytea]", units="SELECT $1::bytea AS u", is_one="= $1"
)
CUSTODY_EVENTS_OF = _CUSTODY_EVENTS.format(
    pallets_of="case_ids && $1::bytea[]", units="SELECT unnest($1::bytea[]) AS u", is_one="= ANY($1::bytea[])"
)


def units(conn, unit_ids) -> dict[bytes, dict]:
    """unit id -> {sscc (18 digits; None for a consignment), kind (case, pallet, tote or consignment)}, for the
    ids that are packed units."""
    wanted = sorted({bytes(u) for u in unit_ids if u is not None})
    if not wanted:
        return {}
    return {
        bytes(r["unit_id"]): {"sscc": None if r["sscc"] is None else f"{int(r['sscc']):018d}", "kind": r["kind"]}
        for r in fetch_all(conn, UNITS, {"ids": wanted})
    }


def unit_exists(conn, unit_id: bytes) -> bool:
    return fetch_one(conn, UNIT_EXISTS, {"u": unit_id}) is not None


def custody_events(conn, unit_id: bytes) -> list[dict]:
    """The custody events of a case, tote, consignment or pallet and of every pallet it was ever put on, in
    chain order: dicts of unit, kind (packed, shipped, received, accepted, refused, unpacked, quarantined,
    cleared, excursion), block_number, log_index, tx_hash, actor, other, sscc, lot_id, case_ids (a pallet's,
    on its `packed` row), sensor_id, value, min_temp, max_temp, time, unit_kind (on `packed` rows: case,
    pallet, cage (a roll cage of CagePacked, a pallet carrying totes' listings), tote, consignment or return), at (block time). `actor` acted; `other` is the recipient of a
    shipment (and of a consignment, on its `packed` row) and the sender of a receipt, an accepted return or
    a refusal. A prepared statement (verification asks it per request)."""
    return fetch_all_prepared(conn, "mirror_custody_events", CUSTODY_EVENTS, (unit_id,))


def custody_events_of(conn, unit_ids: list[bytes]) -> list[dict]:
    """custody_events for several units at once (rows of all of them, and of every pallet any of
    them was put on, in chain order): app/services/custody.fold_many sorts them out."""
    if not unit_ids:
        return []
    return fetch_all_prepared(conn, "mirror_custody_events_of", CUSTODY_EVENTS_OF, (list(unit_ids),))


# --------------------------------------------------------------------------- packs

RUN_CASE_OF = """
SELECT case_id FROM ev_case_packed
WHERE lot_id = %(lot)s AND first_index <= %(i)s AND %(i)s < first_index + count LIMIT 1
"""
TREE_CASES = "SELECT case_id, first_word, masks FROM ev_case_tree_packed WHERE lot_id = %s"
TREE_CASE = "SELECT lot_id, first_word, masks FROM ev_case_tree_packed WHERE case_id = %s"
PACK_ENDS = """
SELECT * FROM (
    SELECT 'dispensed' AS state, first_word, masks, block_number, log_index FROM ev_dispensed WHERE lot_id = %(lot)s
    UNION ALL SELECT 'destroyed', first_word, masks, block_number, log_index FROM ev_destroyed WHERE lot_id = %(lot)s
    UNION ALL SELECT 'stolen', first_word, masks, block_number, log_index FROM ev_packs_stolen WHERE lot_id = %(lot)s
    UNION ALL SELECT NULL, first_word, masks, block_number, log_index FROM ev_dispense_undone WHERE lot_id = %(lot)s
) e ORDER BY block_number, log_index
"""
FIRST_CASED = """
SELECT leaf_index FROM pack_events
WHERE lot_id = %(lot)s AND kind = 'cased' AND leaf_index >= %(first)s AND leaf_index < %(end)s
  AND (%(indexes)s::integer[] IS NULL OR leaf_index = ANY(%(indexes)s::integer[]))
ORDER BY leaf_index LIMIT 1
"""
PACK_EVENTS = """
SELECT kind, block_number, log_index, container_id, actor FROM pack_events
WHERE lot_id = %(lot)s AND leaf_index = %(index)s
ORDER BY block_number, log_index
"""


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
    """The leaf indexes a tree case holds ([] for any other id)."""
    row = fetch_one(conn, TREE_CASE, (case_id,))
    if row is None:
        return []
    return unpack_set(int(row["first_word"]), [int(m) for m in row["masks"]])


def first_cased(conn, lot_id: bytes, first: int, end: int, indexes: list[int] | None = None) -> int | None:
    """The lowest leaf index in [first, end) (and in `indexes` when given) already packed into a case."""
    row = fetch_one(conn, FIRST_CASED, {"lot": lot_id, "first": first, "end": end, "indexes": indexes})
    return None if row is None else int(row["leaf_index"])


def pack_end_states(conn, lot_id: bytes) -> dict[int, str]:
    """Leaf index -> 'dispensed', 'destroyed' or 'stolen', for the packs of a lot that left the supply chain (a
    dispense undone since brings its packs back)."""
    out: dict[int, str] = {}
    for row in fetch_all(conn, PACK_ENDS, {"lot": lot_id}):
        for index in unpack_set(int(row["first_word"]), [int(m) for m in row["masks"]]):
            if row["state"] is None:
                out.pop(index, None)
            else:
                out[index] = row["state"]
    return out


def pack_events(conn, lot_id: bytes, index: int) -> list[dict]:
    """A pack's pack_events rows in chain order: kind (cased, dispensed, destroyed, quarantined,
    cleared), block_number, log_index, container_id, actor (what app/services/custody.pack_state folds)."""
    return fetch_all(conn, PACK_EVENTS, {"lot": lot_id, "index": index})


# --------------------------------------------------------------------------- regulator lists

# The lots account %(me)s may see listed: the access policy's participation query (app/db/access.py).
MY_LOTS = access_db.MY_LOTS
# The `{scope}` slot of a list's WHERE clause, for a scope's lots (column: the list's lot id column)
IN_MY_LOTS = "AND {column} IN (SELECT lot_id FROM my_lots)"

LOTS = """
SELECT l.block_number, l.log_index, l.tx_hash, l.lot_id, l.gtin, l.lot_number, l.expiry, l.serial_count,
       l.serials_root, l.manufacturer, b.timestamp AS commissioned_at, d.name AS product_name,
       l.recalled, l.quarantined
FROM lot_status l
LEFT JOIN blocks b ON b.number = l.block_number
LEFT JOIN product_details d ON d.gtin = l.gtin
WHERE (l.block_number, l.log_index) > (%(after_block)s, %(after_log)s)
  AND (%(gtin)s::numeric IS NULL OR l.gtin = %(gtin)s::numeric)
  AND (%(manufacturer)s::bytea IS NULL OR l.manufacturer = %(manufacturer)s::bytea)
  {scope}
ORDER BY l.block_number, l.log_index
LIMIT %(n)s
"""
RECALLS = """
SELECT r.block_number, r.log_index, r.tx_hash, r.by AS recalled_by, b.timestamp AS recalled_at,
       l.lot_id, l.gtin, l.lot_number, l.expiry, l.serial_count, l.manufacturer
FROM ev_lot_recalled r
JOIN lot_status l ON l.lot_id = r.lot_id
LEFT JOIN blocks b ON b.number = r.block_number
WHERE (r.block_number, r.log_index) < (%(before_block)s, %(before_log)s)
  {scope}
ORDER BY r.block_number DESC, r.log_index DESC
LIMIT %(n)s
"""

# One branch per event table: the event, who acted, the other party, the unit, the lot, the product
# and how many packs (a count, or a PackSet bitmap) or readings it names. A branch matches when the
# account is the actor or the counterparty. Each branch is sorted and limited on its own, so a long
# history is read through its account index only up to one page.
_ACTIVITY_BRANCHES = """
(SELECT 'product_registered' AS event, block_number, log_index, tx_hash, manufacturer AS actor,
        NULL::bytea AS counterparty, NULL::bytea AS unit_id, NULL::bytea AS lot_id, gtin,
        NULL::bigint AS packs, NULL::numeric[] AS masks, NULL::integer AS readings
 FROM ev_product_registered WHERE manufacturer = %(me)s AND {window})
UNION ALL
(SELECT 'lot_commissioned', block_number, log_index, tx_hash, manufacturer, NULL, NULL, lot_id, gtin,
        serial_count, NULL, NULL
 FROM ev_lot_commissioned WHERE manufacturer = %(me)s AND {window})
UNION ALL
(SELECT 'lot_opened', block_number, log_index, tx_hash, manufacturer, NULL, NULL, lot_id, gtin, capacity, NULL, NULL
 FROM ev_lot_opened WHERE manufacturer = %(me)s AND {window})
UNION ALL
(SELECT 'batch_commissioned', block_number, log_index, tx_hash, %(me)s::bytea, NULL, NULL, lot_id,
        (SELECT o.gtin FROM ev_lot_opened o WHERE o.lot_id = b.lot_id LIMIT 1), count, NULL, NULL
 FROM ev_batch_commissioned b
 WHERE lot_id IN (SELECT o.lot_id FROM ev_lot_opened o WHERE o.manufacturer = %(me)s) AND {window})
UNION ALL
(SELECT 'case_packed', block_number, log_index, tx_hash, packer, NULL, case_id, lot_id, NULL, count, NULL, NULL
 FROM ev_case_packed WHERE packer = %(me)s AND {window})
UNION ALL
(SELECT 'case_packed', block_number, log_index, tx_hash, packer, NULL, case_id, lot_id, NULL, NULL, masks, NULL
 FROM ev_case_tree_packed WHERE packer = %(me)s AND {window})
UNION ALL
(SELECT 'pallet_packed', block_number, log_index, tx_hash, packer, NULL, pallet_id, NULL, NULL, NULL, NULL, NULL
 FROM ev_pallet_packed WHERE packer = %(me)s AND {window})
UNION ALL
(SELECT 'tote_packed', block_number, log_index, tx_hash, packer, NULL, tote_id, NULL, NULL, NULL, NULL, NULL
 FROM ev_tote_packed WHERE packer = %(me)s AND {window})
UNION ALL
(SELECT 'packs_moved', block_number, log_index, tx_hash, by, NULL, container_id, lot_id, NULL, NULL, masks, NULL
 FROM ev_packs_moved WHERE by = %(me)s AND {window})
UNION ALL
(SELECT CASE WHEN is_return THEN 'packs_returned' ELSE 'packs_consigned' END, block_number, log_index, tx_hash,
        from_org, to_org, consignment_id, NULL, NULL, NULL, NULL, NULL
 FROM ev_consignment_created WHERE (from_org = %(me)s OR to_org = %(me)s) AND {window})
UNION ALL
(SELECT 'return_accepted', block_number, log_index, tx_hash, by, from_org, consignment_id, NULL, NULL, NULL, NULL,
        NULL
 FROM ev_return_accepted WHERE (by = %(me)s OR from_org = %(me)s) AND {window})
UNION ALL
(SELECT 'packs_stolen', block_number, log_index, tx_hash, by, NULL, container_id, lot_id, NULL, NULL, masks, NULL
 FROM ev_packs_stolen WHERE by = %(me)s AND {window})
UNION ALL
(SELECT 'dispense_undone', block_number, log_index, tx_hash, by, NULL, container_id, lot_id, NULL, NULL, masks,
        NULL
 FROM ev_dispense_undone WHERE by = %(me)s AND {window})
UNION ALL
(SELECT 'shipped', block_number, log_index, tx_hash, from_org, to_org, unit_id, NULL, NULL, NULL, NULL, NULL
 FROM ev_shipped WHERE (from_org = %(me)s OR to_org = %(me)s) AND {window})
UNION ALL
(SELECT 'received', block_number, log_index, tx_hash, by, from_org, unit_id, NULL, NULL, NULL, NULL, NULL
 FROM ev_received WHERE (by = %(me)s OR from_org = %(me)s) AND {window})
UNION ALL
(SELECT 'refused', block_number, log_index, tx_hash, by, sender, unit_id, NULL, NULL, NULL, NULL, NULL
 FROM ev_refused WHERE (by = %(me)s OR sender = %(me)s) AND {window})
UNION ALL
(SELECT 'unpacked', block_number, log_index, tx_hash, by, NULL, unit_id, NULL, NULL, NULL, NULL, NULL
 FROM ev_unpacked WHERE by = %(me)s AND {window})
UNION ALL
(SELECT 'dispensed', block_number, log_index, tx_hash, by, NULL, case_id, lot_id, NULL, NULL, masks, NULL
 FROM ev_dispensed WHERE by = %(me)s AND {window})
UNION ALL
(SELECT 'destroyed', block_number, log_index, tx_hash, by, NULL, container_id, lot_id, NULL, NULL, masks, NULL
 FROM ev_destroyed WHERE by = %(me)s AND {window})
UNION ALL
(SELECT 'lot_recalled', block_number, log_index, tx_hash, by, NULL, NULL, lot_id, NULL, NULL, NULL, NULL
 FROM ev_lot_recalled WHERE by = %(me)s AND {window})
UNION ALL
(SELECT 'lot_quarantined', block_number, log_index, tx_hash, by, NULL, NULL, lot_id, NULL, NULL, NULL, NULL
 FROM ev_lot_quarantined WHERE by = %(me)s AND {window})
UNION ALL
(SELECT 'lot_quarantine_cleared', block_number, log_index, tx_hash, by, NULL, NULL, lot_id, NULL, NULL, NULL, NULL
 FROM ev_lot_quarantine_cleared WHERE by = %(me)s AND {window})
UNION ALL
(SELECT 'unit_quarantined', block_number, log_index, tx_hash, by, NULL, unit_id, NULL, NULL, NULL, NULL, NULL
 FROM ev_unit_quarantined WHERE by = %(me)s AND {window})
UNION ALL
(SELECT 'unit_quarantine_cleared', block_number, log_index, tx_hash, by, NULL, unit_id, NULL, NULL, NULL, NULL, NULL
 FROM ev_unit_quarantine_cleared WHERE by = %(me)s AND {window})
UNION ALL
(SELECT 'packs_quarantined', block_number, log_index, tx_hash, by, NULL, container_id, lot_id, NULL, NULL, masks,
        NULL
 FROM ev_packs_quarantined WHERE by = %(me)s AND {window})
UNION ALL
(SELECT 'packs_quarantine_cleared', block_number, log_index, tx_hash, by, NULL, container_id, lot_id, NULL, NULL,
        masks, NULL
 FROM ev_packs_quarantine_cleared WHERE by = %(me)s AND {window})
UNION ALL
(SELECT 'readings_recorded', block_number, log_index, tx_hash, by, NULL, unit_id, NULL, NULL, NULL, NULL,
        length(readings) / 2
 FROM ev_temperature_recorded WHERE by = %(me)s AND {window})
UNION ALL
(SELECT 'excursion_detected', block_number, log_index, tx_hash, %(me)s::bytea, NULL, unit_id, NULL, NULL, NULL, NULL,
        NULL
 FROM ev_excursion_detected e
 WHERE EXISTS (SELECT 1 FROM ev_temperature_recorded t  -- raised by readings this account recorded
               WHERE t.by = %(me)s AND t.block_number = e.block_number AND t.tx_hash = e.tx_hash
                 AND t.unit_id = e.unit_id)
   AND {window})
UNION ALL
(SELECT 'organisation_registered', block_number, log_index, tx_hash, NULL, account, NULL, NULL, NULL, NULL, NULL,
        NULL
 FROM ev_organisation_registered WHERE account = %(me)s AND {window})
UNION ALL
(SELECT 'organisation_suspended', block_number, log_index, tx_hash, by, account, NULL, NULL, NULL, NULL, NULL, NULL
 FROM ev_organisation_suspended WHERE (by = %(me)s OR account = %(me)s) AND {window})
UNION ALL
(SELECT 'organisation_reinstated', block_number, log_index, tx_hash, by, account, NULL, NULL, NULL, NULL, NULL, NULL
 FROM ev_organisation_reinstated WHERE (by = %(me)s OR account = %(me)s) AND {window})
"""
_WINDOW = """block_number BETWEEN %(lo)s AND %(hi)s
   AND (block_number, log_index) > (%(after_block)s, %(after_log)s)
 ORDER BY block_number, log_index LIMIT %(n)s"""

ACTIVITY = (
    "SELECT e.*, b.timestamp AS at FROM ("
    + _ACTIVITY_BRANCHES.replace("{window}", _WINDOW)
    + ") e\nLEFT JOIN blocks b ON b.number = e.block_number\nORDER BY e.block_number, e.log_index\nLIMIT %(n)s"
)

# The blocks of a time window (block times never decrease, so a window is a block range).
BLOCK_RANGE = """
SELECT min(number) AS lo, max(number) AS hi FROM blocks
WHERE (%(start)s::timestamptz IS NULL OR timestamp >= %(start)s::timestamptz)
  AND (%(end)s::timestamptz IS NULL OR timestamp < %(end)s::timestamptz)
"""


def _scoped(sql: str, scope: bytes | None, lot_column: str) -> str:
    """`sql` (with a `{scope}` slot in its WHERE clause) limited to the lots of account `scope`
    (MY_LOTS, with the account as %(me)s), or not limited when scope is None."""
    if scope is None:
        return sql.replace("{scope}", "")
    return MY_LOTS + sql.replace("{scope}", IN_MY_LOTS.format(column=lot_column))


def lots(
    conn,
    scope: bytes | None,
    *,
    gtin: int | None,
    manufacturer: bytes | None,
    after: tuple[int, int],
    n: int,
) -> list[dict]:
    """Up to n commissioned lots after (block, log index) in chain order, with their status
    (lot_status), block time and product name; filtered by GTIN and manufacturer when given."""
    params = {"me": scope, "gtin": gtin, "manufacturer": manufacturer, "after_block": after[0],
              "after_log": after[1], "n": n}  # fmt: skip
    return fetch_all(conn, _scoped(LOTS, scope, "l.lot_id"), params)


def recalls(conn, scope: bytes | None, *, before: tuple[int, int], n: int) -> list[dict]:
    """Up to n lot recalls before (block, log index), newest first, with the lot and block time."""
    params = {"me": scope, "before_block": before[0], "before_log": before[1], "n": n}
    return fetch_all(conn, _scoped(RECALLS, scope, "r.lot_id"), params)


def block_range(conn, start, end) -> tuple[int, int] | None:
    """The first and last block (of those the mirror holds) with a time in [start, end); either
    bound may be None. None when no block is in the window."""
    row = fetch_one(conn, BLOCK_RANGE, {"start": start, "end": end})
    return None if row["lo"] is None else (row["lo"], row["hi"])


def activity(conn, account: bytes, *, blocks: tuple[int, int], after: tuple[int, int], n: int) -> list[dict]:
    """Up to n events in which `account` acted or was the counterparty, in blocks lo..hi and after
    (block, log index), oldest first: event, block_number, log_index, tx_hash, actor, counterparty,
    unit_id, lot_id, gtin, packs, masks, readings, at (block time)."""
    params = {"me": account, "lo": blocks[0], "hi": blocks[1], "after_block": after[0], "after_log": after[1],
              "n": n}  # fmt: skip
    return fetch_all(conn, ACTIVITY, params)
