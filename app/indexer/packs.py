"""The per-pack view of pack-set events: each event that names packs of a lot (a run or a bitmap
set) becomes one `pack_events` row per pack, written in the same transaction as the event rows.
Pure: decoded rows in, pack_events rows out."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from app.ids import unpack_set
from app.indexer.events import EventSpec

COLUMNS = ("block_number", "log_index", "lot_id", "leaf_index", "kind", "container_id", "actor")

# event name -> (kind, position of lot_id, of the container, of the actor) among the event's own columns
SET_EVENTS = {
    "CaseTreePacked": ("cased", 1, 0, 2),
    "Dispensed": ("dispensed", 0, 1, 2),
    "Destroyed": ("destroyed", 0, 1, 2),
    "PacksQuarantined": ("quarantined", 0, 1, 2),
    "PacksQuarantineCleared": ("cleared", 0, 1, 2),
}


def _indexes(spec: EventSpec, args: tuple) -> Iterable[int]:
    if spec.name == "CasePacked":
        first, count = args[spec.columns.index("first_index")], args[spec.columns.index("count")]
        return range(first, first + count)
    return unpack_set(args[spec.columns.index("first_word")], args[spec.columns.index("masks")])


def pack_rows(rows_by_spec: dict[EventSpec, list[tuple]]) -> Iterator[tuple]:
    """pack_events rows for every pack-set event among the decoded rows."""
    for spec, rows in rows_by_spec.items():
        if spec.name == "CasePacked":
            kind, lot, container, actor = "cased", 1, 0, 2
        elif spec.name in SET_EVENTS:
            kind, lot, container, actor = SET_EVENTS[spec.name]
        else:
            continue
        for row in rows:
            block, log_index, args = row[0], row[1], row[3:]
            for index in _indexes(spec, args):
                yield (block, log_index, args[lot], index, kind, args[container], args[actor])
