"""Regulator queries over the mirror: lots, a trading partner's activity, recalls (no Flask here).

Every list is keyset-paginated on a unique, stable sort key (an event's ``(block_number, log_index)``),
so a page never repeats or skips a row however the tables grow between requests. The key travels to
the client as an opaque cursor (:func:`encode_cursor`).

Who sees what is the access policy's decision (app/services/access.py ``lot_scope``): a regulator sees
everything (``viewer=None``). Any other organisation passes its chain account as ``viewer`` and sees only
the lots it may see: lots it manufactured, and lots of which it took part in a custody event of a case (or
of a pallet while it held such a case: packed, palletised, shipped, was named recipient, received, refused,
unpacked) or dispensed or destroyed packs (app/db/access.py MY_LOTS).
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime

from app.db import access as access_db
from app.db import fetch_all, fetch_one
from app.errors import PharmatrackError

MAX_KEY = 2**62  # above every block number and log index; keeps cursor values inside bigint


class CursorError(PharmatrackError):
    """A cursor this list did not hand out."""


@dataclass(frozen=True)
class Page:
    rows: list[dict]
    next_key: tuple[int, ...] | None  # the sort key to continue after; None on the last page


def encode_cursor(kind: str, key: tuple[int, ...]) -> str:
    """An opaque cursor: urlsafe base64 of ``[kind, *key]`` (the kind stops a cursor of one list
    being replayed against another)."""
    raw = json.dumps([kind, *key], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def decode_cursor(kind: str, size: int, text: str) -> tuple[int, ...]:
    """The sort key inside a cursor of `kind` holding `size` integers; CursorError otherwise."""
    try:
        value = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise CursorError("not a cursor returned in `next`") from None
    if not isinstance(value, list) or len(value) != size + 1 or value[0] != kind:
        raise CursorError(f"not a cursor returned in `next` by this list ({kind})")
    key = value[1:]
    if not all(type(k) is int and 0 <= k < MAX_KEY for k in key):
        raise CursorError("not a cursor returned in `next`: its key is out of range")
    return tuple(key)


def _page(rows: list[dict], limit: int, key: tuple[str, ...]) -> Page:
    page = rows[:limit]
    more = len(rows) > limit
    return Page(page, tuple(int(page[-1][k]) for k in key) if more else None)


# --------------------------------------------------------------------------- visibility

# The lots account %(me)s may see listed: app/db/access.py MY_LOTS (the access policy, app/services/access.py).
MY_LOTS = access_db.MY_LOTS


def _scoped(sql: str, viewer: bytes | None, lot_column: str) -> str:
    """`sql` (with a `{scope}` slot in its WHERE clause) limited to the viewer's lots."""
    if viewer is None:
        return sql.replace("{scope}", "")
    return MY_LOTS + sql.replace("{scope}", f"AND {lot_column} IN (SELECT lot_id FROM my_lots)")


def can_see_lot(conn, viewer: bytes | None, lot_id: bytes) -> bool:
    if viewer is None:
        return True
    sql = MY_LOTS + "SELECT 1 FROM my_lots WHERE lot_id = %(lot)s"
    return fetch_one(conn, sql, {"me": viewer, "lot": lot_id}) is not None


# --------------------------------------------------------------------------- names


PARTIES = """
SELECT a.account, o.name, COALESCE(o.gln, lpad(r.gln::text, 13, '0')) AS gln
FROM unnest(%s::bytea[]) AS a (account)
LEFT JOIN organisations o ON o.account = a.account
LEFT JOIN LATERAL (
    SELECT gln FROM ev_organisation_registered r WHERE r.account = a.account ORDER BY block_number DESC LIMIT 1
) r ON true
"""
UNITS = """
SELECT case_id AS unit_id, sscc, 'case' AS kind FROM ev_case_packed WHERE case_id = ANY(%(ids)s)
UNION ALL SELECT case_id, sscc, 'case' FROM ev_case_tree_packed WHERE case_id = ANY(%(ids)s)
UNION ALL SELECT pallet_id, sscc, 'pallet' FROM ev_pallet_packed WHERE pallet_id = ANY(%(ids)s)
"""
LOT_NAMES = "SELECT lot_id, gtin, lot_number FROM ev_lot_commissioned WHERE lot_id = ANY(%s)"


def parties(conn, accounts) -> dict[bytes, dict]:
    """account -> {account, gln, name}: the service's record of the organisation, else the GLN the
    chain registered (name None), else neither."""
    wanted = sorted({bytes(a) for a in accounts if a is not None})
    if not wanted:
        return {}
    return {bytes(r["account"]): {**r, "account": bytes(r["account"])} for r in fetch_all(conn, PARTIES, (wanted,))}


def units(conn, unit_ids) -> dict[bytes, dict]:
    """unit id -> {sscc (18 digits), kind (case or pallet)}."""
    wanted = sorted({bytes(u) for u in unit_ids if u is not None})
    if not wanted:
        return {}
    return {
        bytes(r["unit_id"]): {"sscc": f"{int(r['sscc']):018d}", "kind": r["kind"]}
        for r in fetch_all(conn, UNITS, {"ids": wanted})
    }


def lot_names(conn, lot_ids) -> dict[bytes, dict]:
    """lot id -> {gtin (14 digits), lot (number)}."""
    wanted = sorted({bytes(x) for x in lot_ids if x is not None})
    if not wanted:
        return {}
    return {
        bytes(r["lot_id"]): {"gtin": f"{int(r['gtin']):014d}", "lot": r["lot_number"]}
        for r in fetch_all(conn, LOT_NAMES, (wanted,))
    }


def expiry_date(seconds: int) -> date:
    """The chain's expiry (the last valid second, UTC) as the GS1 expiry date."""
    return datetime.fromtimestamp(int(seconds), UTC).date()


# --------------------------------------------------------------------------- lots

LOTS = """
SELECT l.block_number, l.log_index, l.tx_hash, l.lot_id, l.gtin, l.lot_number, l.expiry, l.serial_count,
       l.serials_root, l.manufacturer, b.timestamp AS commissioned_at, d.name AS product_name,
       EXISTS (SELECT 1 FROM ev_lot_recalled r WHERE r.lot_id = l.lot_id) AS recalled,
       EXISTS (SELECT 1 FROM ev_lot_quarantined q WHERE q.lot_id = l.lot_id AND NOT EXISTS (
                   SELECT 1 FROM ev_lot_quarantine_cleared c
                   WHERE c.lot_id = q.lot_id AND (c.block_number, c.log_index) > (q.block_number, q.log_index)
               )) AS quarantined
FROM ev_lot_commissioned l
LEFT JOIN blocks b ON b.number = l.block_number
LEFT JOIN product_details d ON d.gtin = l.gtin
WHERE (l.block_number, l.log_index) > (%(after_block)s, %(after_log)s)
  AND (%(gtin)s::numeric IS NULL OR l.gtin = %(gtin)s::numeric)
  AND (%(manufacturer)s::bytea IS NULL OR l.manufacturer = %(manufacturer)s::bytea)
  {scope}
ORDER BY l.block_number, l.log_index
LIMIT %(n)s
"""


def lots(
    conn,
    viewer: bytes | None,
    *,
    gtin: str | None = None,
    manufacturer: bytes | None = None,
    after: tuple[int, int] | None = None,
    limit: int = 50,
) -> Page:
    """Commissioned lots, oldest first, by product (GTIN-14) and/or manufacturer (account)."""
    after_block, after_log = after or (-1, -1)
    params = {
        "me": viewer,
        "gtin": int(gtin) if gtin is not None else None,
        "manufacturer": manufacturer,
        "after_block": after_block,
        "after_log": after_log,
        "n": limit + 1,
    }
    rows = fetch_all(conn, _scoped(LOTS, viewer, "l.lot_id"), params)
    return _page(rows, limit, ("block_number", "log_index"))


# --------------------------------------------------------------------------- recalls

RECALLS = """
SELECT r.block_number, r.log_index, r.tx_hash, r.by AS recalled_by, b.timestamp AS recalled_at,
       l.lot_id, l.gtin, l.lot_number, l.expiry, l.serial_count, l.manufacturer
FROM ev_lot_recalled r
JOIN ev_lot_commissioned l ON l.lot_id = r.lot_id
LEFT JOIN blocks b ON b.number = r.block_number
WHERE (r.block_number, r.log_index) < (%(before_block)s, %(before_log)s)
  {scope}
ORDER BY r.block_number DESC, r.log_index DESC
LIMIT %(n)s
"""


def recalls(conn, viewer: bytes | None, *, before: tuple[int, int] | None = None, limit: int = 50) -> Page:
    """Recalled lots, newest recall first, with who recalled and when."""
    before_block, before_log = before or (MAX_KEY, MAX_KEY)
    params = {"me": viewer, "before_block": before_block, "before_log": before_log, "n": limit + 1}
    rows = fetch_all(conn, _scoped(RECALLS, viewer, "r.lot_id"), params)
    return _page(rows, limit, ("block_number", "log_index"))


# --------------------------------------------------------------------------- partner activity

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
(SELECT 'case_packed', block_number, log_index, tx_hash, packer, NULL, case_id, lot_id, NULL, count, NULL, NULL
 FROM ev_case_packed WHERE packer = %(me)s AND {window})
UNION ALL
(SELECT 'case_packed', block_number, log_index, tx_hash, packer, NULL, case_id, lot_id, NULL, NULL, masks, NULL
 FROM ev_case_tree_packed WHERE packer = %(me)s AND {window})
UNION ALL
(SELECT 'pallet_packed', block_number, log_index, tx_hash, packer, NULL, pallet_id, NULL, NULL, NULL, NULL, NULL
 FROM ev_pallet_packed WHERE packer = %(me)s AND {window})
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


def _popcount(masks) -> int:
    return sum(int(m).bit_count() for m in masks)


def activity(
    conn,
    account: bytes,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    after: tuple[int, int] | None = None,
    limit: int = 50,
) -> Page:
    """Every event in which `account` acted or was the counterparty, with block time in
    [start, end), oldest first. Rows carry `role`: actor or counterparty."""
    lo, hi = 0, MAX_KEY
    if start is not None or end is not None:
        window = fetch_one(conn, BLOCK_RANGE, {"start": start, "end": end})
        if window["lo"] is None:
            return Page([], None)
        lo, hi = window["lo"], window["hi"]
    after_block, after_log = after or (-1, -1)
    params = {
        "me": account,
        "lo": lo,
        "hi": hi,
        "after_block": after_block,
        "after_log": after_log,
        "n": limit + 1,
    }
    rows = fetch_all(conn, ACTIVITY, params)
    for row in rows:
        for column in ("tx_hash", "actor", "counterparty", "unit_id", "lot_id"):
            row[column] = bytes(row[column]) if row[column] is not None else None
        masks = row.pop("masks")
        if masks is not None:
            row["packs"] = _popcount(masks)
        row["role"] = "actor" if row["actor"] == account else "counterparty"
    return _page(rows, limit, ("block_number", "log_index"))
