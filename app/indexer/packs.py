"""The per-pack view of pack-set events: each event that names packs of a lot (a run or a bitmap
set) becomes one `pack_events` row per pack, written in the same transaction as the event rows.
Pure: decoded rows in, pack_events rows out.

Kinds (migrations 0006, 0015): cased (CasePacked, CasesPacked, CaseTreePacked; container: the case), moved
(PacksMoved into a tote or a consignment; container: where the packs are now), returned (PacksMoved
into a return consignment, which its ConsignmentCreated of the same transaction flags), dispensed,
destroyed, quarantined, cleared, stolen (PacksStolen), undone (DispenseUndone: dispensed no longer).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from app.ids import sscc_id, unpack_set
from app.indexer.events import EventSpec

COLUMNS = ("block_number", "log_index", "lot_id", "leaf_index", "kind", "container_id", "actor")

# event name -> (kind, position of lot_id, of the container, of the actor) among the event's own columns
SET_EVENTS = {
    "CaseTreePacked": ("cased", 1, 0, 2),
    "PacksMoved": ("moved", 0, 1, 2),
    "Dispensed": ("dispensed", 0, 1, 2),
    "Destroyed": ("destroyed", 0, 1, 2),
    "PacksQuarantined": ("quarantined", 0, 1, 2),
    "PacksQuarantineCleared": ("cleared", 0, 1, 2),
    "PacksStolen": ("stolen", 0, 1, 2),
    "DispenseUndone": ("undone", 0, 1, 2),
}
KINDS = ("cased", "moved", "returned", "dispensed", "destroyed", "quarantined", "cleared", "stolen", "undone")


def _indexes(spec: EventSpec, args: tuple) -> Iterable[int]:
    if spec.name == "CasePacked":
        first, count = args[spec.columns.index("first_index")], args[spec.columns.index("count")]
        return range(first, first + count)
    return unpack_set(args[spec.columns.index("first_word")], args[spec.columns.index("masks")])


def _returns(rows_by_spec: dict[EventSpec, list[tuple]]) -> set[bytes]:
    """The return consignments created among the rows (their PacksMoved come in the same transaction)."""
    out = set()
    for spec, rows in rows_by_spec.items():
        if spec.name == "ConsignmentCreated":
            unit, flag = spec.columns.index("consignment_id"), spec.columns.index("is_return")
            out |= {bytes(row[3 + unit]) for row in rows if row[3 + flag]}
    return out


def pack_rows(rows_by_spec: dict[EventSpec, list[tuple]]) -> Iterator[tuple]:
    """pack_events rows for every pack-set event among the decoded rows."""
    returns = None
    for spec, rows in rows_by_spec.items():
        if spec.name == "CasesPacked":
            yield from _run_cases(spec, rows)
            continue
        if spec.name == "CasePacked":
            kind, lot, container, actor = "cased", 1, 0, 2
        elif spec.name in SET_EVENTS:
            kind, lot, container, actor = SET_EVENTS[spec.name]
        else:
            continue
        if spec.name == "PacksMoved" and returns is None:
            returns = _returns(rows_by_spec)
        for row in rows:
            block, log_index, args = row[0], row[1], row[3:]
            row_kind = "returned" if kind == "moved" and bytes(args[container]) in returns else kind
            for index in _indexes(spec, args):
                yield (block, log_index, args[lot], index, row_kind, args[container], args[actor])


def _run_cases(spec: EventSpec, rows: list[tuple]) -> Iterator[tuple]:
    """'cased' rows of a CasesPacked (a lot's run cases in one call): case i is ssccs[i], leaves
    firstIndex + i * perCase onwards."""
    lot, packer = spec.columns.index("lot_id"), spec.columns.index("packer")
    first, per, ssccs = (spec.columns.index(c) for c in ("first_index", "per_case", "ssccs"))
    for row in rows:
        block, log_index, args = row[0], row[1], row[3:]
        for i, sscc in enumerate(args[ssccs]):
            case, start = sscc_id(int(sscc)), args[first] + i * args[per]
            for index in range(start, start + args[per]):
                yield (block, log_index, args[lot], index, "cased", case, args[packer])
