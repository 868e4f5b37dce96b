"""Reads of the chain mirror for EPCIS answers (app/services/epcis/): the sensor readings of units as events
(with their transaction and block time). Reads only."""

from __future__ import annotations

from app.db import access as access_db
from app.db import fetch_all, fetch_one

READING_EVENTS = """
SELECT r.unit_id, r.sensor_id, r.by, r.start, r.interval, r.readings, r.block_number, r.log_index, r.tx_hash, b.timestamp
FROM ev_temperature_recorded r LEFT JOIN blocks b ON b.number = r.block_number
WHERE r.unit_id = ANY(%(units)s::bytea[])
ORDER BY r.block_number, r.log_index
"""


def reading_events(conn, unit_ids: list[bytes]) -> list[dict]:
    """The temperature readings recorded on these units, one row per recording transaction, in chain order."""
    return fetch_all(conn, READING_EVENTS, {"units": unit_ids})


# The packs of pack_events rows `p` (the WHERE follows): (gtin, serial, lot_number, manufacturer, held).
_PACKS_OF_EVENTS = """
SELECT l.gtin, s.serial, l.lot_number, l.manufacturer,
       EXISTS (SELECT 1 FROM pack_events h WHERE h.lot_id = p.lot_id AND h.leaf_index = p.leaf_index
               AND h.actor = %(viewer)s::bytea) AS held
FROM pack_events p
JOIN lot_serials s ON s.lot_id = p.lot_id AND s.leaf_index = p.leaf_index
JOIN lot_status l ON l.lot_id = p.lot_id
"""
# The packs an event put into a container (a case or tote packed, packs moved into a tote or consignment).
EVENT_PACKS = (
    _PACKS_OF_EVENTS
    + """WHERE p.block_number = %(b)s AND p.container_id = %(u)s  -- a tote's packs are logged beside its event
ORDER BY l.gtin, s.serial
"""
)
# The cases (and totes) a pallet packing put on the pallet, with their SSCCs.
PALLET_CHILDREN = """
SELECT u.sscc FROM ev_pallet_packed p, unnest(p.case_ids) AS c(case_id)
JOIN (SELECT case_id, sscc FROM ev_case_packed UNION ALL SELECT case_id, sscc FROM ev_case_tree_packed
      UNION ALL SELECT tote_id, sscc FROM ev_tote_packed) u ON u.case_id = c.case_id
WHERE p.block_number = %(b)s AND p.log_index = %(l)s
ORDER BY u.sscc
"""


def event_packs(conn, unit_id: bytes, block_number: int, log_index: int, viewer: bytes | None = None) -> list[dict]:
    """(gtin, serial, lot_number, manufacturer, held) of the packs the event at this position put into this
    unit; `held`: `viewer` acted on the pack itself (some pack event of it names the viewer as its actor)."""
    del log_index  # the pack rows of a tote packing or a pack move sit at other log indexes of the block
    return fetch_all(conn, EVENT_PACKS, {"u": unit_id, "b": block_number, "viewer": viewer})


def pallet_children(conn, block_number: int, log_index: int) -> list[dict]:
    """The SSCCs of the units the pallet packing at this position put on its pallet."""
    return fetch_all(conn, PALLET_CHILDREN, {"b": block_number, "l": log_index})


# The packs one pack-set event names (dispensed, destroyed, moved, returned, stolen, undone, quarantined, cleared).
PACKS_AT = (
    _PACKS_OF_EVENTS
    + """WHERE p.block_number = %(b)s AND p.log_index = %(l)s
ORDER BY l.gtin, s.serial
"""
)


def packs_at(conn, block_number: int, log_index: int, viewer: bytes | None = None) -> list[dict]:
    """(gtin, serial, lot_number, manufacturer, held) of the packs the pack-set event at this position names
    (`held` as in event_packs)."""
    return fetch_all(conn, PACKS_AT, {"b": block_number, "l": log_index, "viewer": viewer})


# --------------------------------------------------------------------------------------- queries naming no object
# The objects a query naming none reads (app/services/epcis/query.py): lots and SSCC units (cases, tree cases,
# pallets, totes), each at the position of the event that made it (one object per position), in chain order after
# a cursor. For a regulator every one: each branch an ordered range scan of its primary key (block_number,
# log_index), merged. For anyone else the viewer's objects only (its lots; the units it acted on or held inside a
# pallet it acted on; the units of the lots it manufactured), each branch driven by the viewer's own rows through
# an index (on the unit or lot id, or the GIN index of a pallet's cases): never a scan of every object.
# A pack of a consignment (%s: its id), of a lot account %(me)s manufactured first.
_CONSIGNMENT_PACK = """SELECT l.gtin, s.serial FROM pack_events p
JOIN lot_serials s ON s.lot_id = p.lot_id AND s.leaf_index = p.leaf_index JOIN lot_status l ON l.lot_id = p.lot_id
WHERE p.container_id = %s
ORDER BY (l.manufacturer = %%(me)s::bytea) DESC NULLS LAST, p.lot_id, p.leaf_index LIMIT 1"""
_OBJECTS = {  # name: (columns, table with alias, alias, condition that this is the object's first packing)
    "lots": ("'lot' AS kind, l.lot_id AS id, l.gtin, l.lot_number, NULL::numeric AS sscc, NULL::text AS serial, "
             "l.block_number, l.log_index",
             "lot_status l", "l", None),
    "cases": ("'unit', c.case_id, NULL, NULL, c.sscc, NULL, c.block_number, c.log_index", "ev_case_packed c", "c",
              None),
    "trees": ("'unit', c.case_id, NULL, NULL, c.sscc, NULL, c.block_number, c.log_index", "ev_case_tree_packed c", "c",
              None),
    "pallets": ("'unit', p.pallet_id, NULL, NULL, p.sscc, NULL, p.block_number, p.log_index", "ev_pallet_packed p", "p",
                "NOT EXISTS (SELECT 1 FROM ev_pallet_packed q WHERE q.pallet_id = p.pallet_id"
                " AND (q.block_number, q.log_index) < (p.block_number, p.log_index))"),
    "totes": ("'unit', t.tote_id, NULL, NULL, t.sscc, NULL, t.block_number, t.log_index", "ev_tote_packed t", "t",
              "NOT EXISTS (SELECT 1 FROM ev_tote_packed q WHERE q.tote_id = t.tote_id"
              " AND (q.block_number, q.log_index) < (t.block_number, t.log_index))"),
    # a consignment (loose packs: no SSCC) is read through one of its packs (its record holds the consignment's
    # events while the pack was in it): one of the viewer's own lots when it has some there
    "consignments": ("'consignment', n.consignment_id, x.gtin, NULL, NULL, x.serial, n.block_number, n.log_index",
                     f"ev_consignment_created n CROSS JOIN LATERAL ({_CONSIGNMENT_PACK % 'n.consignment_id'}) x",
                     "n", None),
}  # fmt: skip
_MADE_CASES = ("SELECT case_id FROM ev_case_packed WHERE lot_id IN (SELECT lot_id FROM made_lots) UNION ALL "
               "SELECT case_id FROM ev_case_tree_packed WHERE lot_id IN (SELECT lot_id FROM made_lots)")  # fmt: skip
_OF_VIEWER = {  # name: the ways an object is the viewer's, each alone an index-driven selection
    "lots": ["l.lot_id IN (SELECT lot_id FROM my_lots)"],
    "cases": ["c.case_id IN (SELECT case_id FROM my_case_events)", "c.lot_id IN (SELECT lot_id FROM made_lots)"],
    "trees": ["c.case_id IN (SELECT case_id FROM my_case_events)", "c.lot_id IN (SELECT lot_id FROM made_lots)"],
    "pallets": ["p.pallet_id IN (SELECT case_id FROM my_case_events)", f"p.case_ids && ARRAY({_MADE_CASES})"],
    "totes": ["t.tote_id IN (SELECT case_id FROM my_case_events)",
              "t.tote_id IN (SELECT container_id FROM pack_events WHERE lot_id IN (SELECT lot_id FROM made_lots))"],
    "consignments": ["n.from_org = %(me)s", "n.to_org = %(me)s",
                     "n.consignment_id IN (SELECT case_id FROM my_case_events)",
                     "n.consignment_id IN (SELECT container_id FROM pack_events "
                     "WHERE lot_id IN (SELECT lot_id FROM made_lots))"],
}  # fmt: skip


def _candidates(of_viewer: bool) -> str:
    branches = []
    for name, (columns, table, alias, first) in _OBJECTS.items():
        after = f"({alias}.block_number, {alias}.log_index) > (%(after_block)s, %(after_log)s)"
        for condition in _OF_VIEWER[name] if of_viewer else [None]:
            where = " AND ".join(c for c in (after, condition, first) if c)
            branches.append(f"SELECT {columns} FROM {table} WHERE {where}")
    return "\ncandidates AS (\n    " + ("\n    UNION " if of_viewer else "\n    UNION ALL ").join(branches) + "\n)"


_MADE_LOTS = """,
made_lots AS (
    SELECT lot_id FROM ev_lot_commissioned WHERE manufacturer = %(me)s
    UNION ALL SELECT lot_id FROM ev_lot_opened WHERE manufacturer = %(me)s
),"""
# Every chain event an object answers as its home (query.home): (our event name, its table with the object's id,
# its block, its actor: the party whose place is the event's bizLocation and readPoint).
_EVENTS = (
    ("shipped", "ev_shipped e", "e.unit_id", "e.from_org"),
    ("received", "ev_received e", "e.unit_id", "e.by"),
    ("refused", "ev_refused e", "e.unit_id", "e.by"),
    ("unpacked", "ev_unpacked e", "e.unit_id", "e.by"),
    ("quarantined", "ev_unit_quarantined e", "e.unit_id", "e.by"),
    ("cleared", "ev_unit_quarantine_cleared e", "e.unit_id", "e.by"),
    ("reading", "ev_temperature_recorded e", "e.unit_id", "e.by"),
    ("packed", "ev_case_packed e", "e.case_id", "e.packer"),
    ("packed", "ev_case_tree_packed e", "e.case_id", "e.packer"),
    ("packed", "ev_pallet_packed e", "e.pallet_id", "e.packer"),
    ("packed", "ev_tote_packed e", "e.tote_id", "e.packer"),
    ("dispensed", "ev_dispensed e", "e.case_id", "e.by"),
    ("destroyed", "ev_destroyed e", "e.container_id", "e.by"),
    ("moved", "ev_packs_moved e", "e.container_id", "e.by"),
    ("moved", "ev_packs_moved e", "e.source", "e.by"),
    ("stolen", "ev_packs_stolen e", "e.container_id", "e.by"),
    ("undone", "ev_dispense_undone e", "e.container_id", "e.by"),
    ("quarantined", "ev_packs_quarantined e", "e.container_id", "e.by"),
    ("cleared", "ev_packs_quarantine_cleared e", "e.container_id", "e.by"),
    ("consigned", "ev_consignment_created e", "e.consignment_id", "e.from_org"),
    ("returned", "ev_consignment_created e", "e.consignment_id", "e.from_org"),
    ("accepted", "ev_return_accepted e", "e.consignment_id", "e.by"),
    ("commissioned", "ev_lot_commissioned e", "e.lot_id", "e.manufacturer"),
    ("commissioned", "ev_batch_commissioned e JOIN ev_lot_opened o USING (lot_id)", "e.lot_id", "o.manufacturer"),
    ("opened", "ev_lot_opened e", "e.lot_id", "e.manufacturer"),
    ("recalled", "ev_lot_recalled e", "e.lot_id", "e.by"),
    ("quarantined", "ev_lot_quarantined e", "e.lot_id", "e.by"),
    ("cleared", "ev_lot_quarantine_cleared e", "e.lot_id", "e.by"),
)
# The objects with an event that could match: in a block from %(since)s on, by one of the accounts %(at)s, of one of
# the kinds %(kinds)s (each NULL: any). The three hold for one same event row; each branch is a range scan of a
# primary key (block_number, log_index), an index lookup on the actor or, for a kind not asked, nothing.
_RELEVANT = (
    ",\nrelevant AS (\n"
    + "\n    UNION ALL ".join(
        f"SELECT {object_id} AS id FROM {table}"
        f" WHERE (%(since)s::bigint IS NULL OR e.block_number >= %(since)s::bigint)"
        f" AND (%(at)s::bytea[] IS NULL OR {actor} = ANY(%(at)s::bytea[]))"
        f" AND (%(kinds)s::text[] IS NULL OR '{kind}' = ANY(%(kinds)s::text[]))"
        for kind, table, object_id, actor in _EVENTS
    )
    + "\n)"
)
EVENT_KINDS = frozenset(kind for kind, *_ in _EVENTS)
_PAGE = """
SELECT k.kind, k.id, k.gtin, k.lot_number, k.sscc, k.serial, k.block_number, k.log_index
FROM candidates k LEFT JOIN blocks b ON b.number = k.block_number
WHERE (%(before)s::timestamptz IS NULL OR b.timestamp < %(before)s::timestamptz)
  AND ((%(since)s::bigint IS NULL AND %(at)s::bytea[] IS NULL AND %(kinds)s::text[] IS NULL)
       OR k.id IN (SELECT id FROM relevant))
ORDER BY k.block_number, k.log_index
LIMIT %(n)s
"""
CANDIDATES_ALL = "WITH" + _candidates(of_viewer=False) + _RELEVANT + _PAGE
CANDIDATES_OF = access_db.MY_LOTS.rstrip() + _MADE_LOTS + _candidates(of_viewer=True) + _RELEVANT + _PAGE
FIRST_BLOCK_AT = "SELECT min(number) AS number FROM blocks WHERE timestamp >= %(t)s::timestamptz"


def query_candidates(
    conn,
    scope: bytes | None,
    *,
    after: tuple[int, int, bytes],
    inclusive: bool,
    before,
    since: int | None,
    at: list[bytes] | None,
    kinds: list[str] | None,
    n: int,
) -> list[dict]:
    """Up to n objects (kind 'lot' with gtin and lot_number, or 'unit' with sscc; id, block_number, log_index)
    made after `after` (block, log index, id; or at it when `inclusive`) in chain order, and before the time `before` when given (an object's
    events all follow the event that made it): every object for scope None (a regulator), else the objects of
    account `scope` (see _CANDIDATES); with `since`, `at`, `kinds`: only those with an event in a block from `since`
    on, by one of the accounts `at`, of one of our event names `kinds` (_RELEVANT). Which of their events the
    viewer sees is the access policy's to say."""
    # one object per position: at `after` itself (inclusive) is after the log index before it
    params = {"me": scope, "after_block": after[0], "after_log": after[1] - 1 if inclusive else after[1],
              "before": before, "since": since,
              "at": at, "kinds": kinds, "n": n}  # fmt: skip
    return fetch_all(conn, CANDIDATES_ALL if scope is None else CANDIDATES_OF, params)


def first_block_at(conn, moment) -> int | None:
    """The first block of the mirror with a time at or after `moment` (None: none yet)."""
    return fetch_one(conn, FIRST_BLOCK_AT, {"t": moment})["number"]


ACCOUNTS_OF_GLNS = "SELECT DISTINCT account FROM ev_organisation_registered WHERE gln = ANY(%(glns)s::numeric[])"


def accounts_of_glns(conn, glns: list[str]) -> list[bytes]:
    """The chain accounts registered with these GLNs (an event's place is its actor's GLN)."""
    return [bytes(r["account"]) for r in fetch_all(conn, ACCOUNTS_OF_GLNS, {"glns": [int(g) for g in glns]})]


CONSIGNMENT_PACK = _CONSIGNMENT_PACK % "%(consignment)s::bytea"


def consignment_pack(conn, consignment_id: bytes, me: bytes | None) -> dict | None:
    """(gtin, serial) of a pack of the consignment, of a lot `me` manufactured when it has one there; None: none."""
    return fetch_one(conn, CONSIGNMENT_PACK, {"consignment": consignment_id, "me": me})
