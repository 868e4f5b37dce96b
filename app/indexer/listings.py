"""The listed units' mirror (`unit_listings`, migration 0022), derived from the event rows of a window and the
mirror's current listings (docs/gas-redesign.md, "What the indexer ... must change"):

- a tote or consignment's listing is the ordered list of the `PacksMoved` groups `(source, lotId, firstWord,
  masks)` into it, in log order;
- a later `PacksMoved` whose `source` is a listed unit clears those bits in its listing (the rest keeps the shape);
- a `CagePacked` makes a roll cage whose listing is `(toteIds, hashes)`; its totes ride on it (their row names the
  cage), and each draw that rewrites one of them rewrites the cage's hash of it;
- a `ToteDetached` gives a caged tote its own listing word (its row no longer names the cage) and the cage's hash of
  it becomes zero (the tote stays in the cage's toteIds).

One row per unit changed by a transaction, at the position of the transaction's last event that changed it: what
the contract's `listingOf` holds after that transaction (for a caged tote, the cage's word holds its hash). A
`CagePacked` whose hashes differ from the listings the mirror built stops the indexer (ListingDiverged): the mirror
never silently disagrees with the chain.

Also here, because a run case packed by `CasesPacked` and a roll cage packed by `CagePacked` are a case and a
pallet like any other: their rows in `ev_case_packed` (one per case, at the CasesPacked's position) and
`ev_pallet_packed` (the cage, its totes then its cases as case_ids), so every read of cases and pallets sees them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from app.db import listings as listings_db
from app.errors import PharmatrackError
from app.ids import sscc_id
from app.indexer.events import EventSpec
from app.listings import Group, cage_hash, clear, decode_cage, decode_listing, encode_cage, encode_listing, listing_hash

COLUMNS = ("block_number", "log_index", "unit_id", "kind", "listing", "listing_hash", "cage_id")
CASE_COLUMNS = ("block_number", "log_index", "tx_hash", "case_id", "lot_id", "packer", "sscc", "first_index", "count")
PALLET_COLUMNS = ("block_number", "log_index", "tx_hash", "pallet_id", "packer", "sscc", "case_ids")


class ListingDiverged(PharmatrackError):
    """The chain committed a listing the mirror did not build: the mirror is not trustworthy."""


@dataclass
class _Unit:
    kind: str  # 'listed' or 'cage'
    groups: list[Group] = field(default_factory=list)  # listed
    cage_id: bytes | None = None  # listed: the cage it rides on
    tote_ids: tuple[bytes, ...] = ()  # cage
    hashes: tuple[bytes, ...] = ()  # cage: as the chain last committed them


def _args(spec: EventSpec, row: tuple, name: str):
    return row[3 + spec.columns.index(name)]


def _by_name(rows_by_spec: dict[EventSpec, list[tuple]], *names: str) -> list[tuple[str, EventSpec, tuple]]:
    """(event name, spec, row) of these events, in chain order."""
    out = [(s.name, s, r) for s, rows in rows_by_spec.items() if s.name in names for r in rows]
    return sorted(out, key=lambda e: (e[2][0], e[2][1]))


def _load(conn, unit_ids: set[bytes]) -> dict[bytes, _Unit]:
    """The mirror's current listings of these units (and of the cages the totes among them ride on)."""
    found = listings_db.current(conn, unit_ids)
    cages = {r.cage_id for r in found.values() if r.cage_id is not None} - set(found)
    found |= listings_db.current(conn, cages)
    units = {}
    for unit_id, r in found.items():
        if r.kind == "cage":
            tote_ids, hashes = decode_cage(r.listing)
            units[unit_id] = _Unit("cage", tote_ids=tote_ids, hashes=hashes)
        else:
            units[unit_id] = _Unit("listed", list(decode_listing(r.listing)), r.cage_id)
    return units


def _ids(name: str, spec: EventSpec, row: tuple) -> set[bytes]:
    """The units an event may change (whose current listings the fold needs)."""
    if name == "PacksMoved":
        return {bytes(_args(spec, row, "container_id")), bytes(_args(spec, row, "source"))}
    if name == "CagePacked":
        return {bytes(_args(spec, row, "cage_id")), *map(bytes, _args(spec, row, "tote_ids"))}
    return {bytes(_args(spec, row, "cage_id")), bytes(_args(spec, row, "tote_id"))}


def listing_rows(conn, rows_by_spec: dict[EventSpec, list[tuple]]) -> Iterator[tuple]:
    """unit_listings rows for the window's PacksMoved, CagePacked and ToteDetached events (module docstring)."""
    events = _by_name(rows_by_spec, "PacksMoved", "CagePacked", "ToteDetached")
    if not events:
        return
    units = _load(conn, set().union(*(_ids(*e) for e in events)))
    tx, changed, packed = None, {}, set()  # the transaction folded; unit -> its last change in it; new cages
    for name, spec, row in events:
        if row[2] != tx:
            yield from _flush(units, changed, packed)
            tx, changed, packed = row[2], {}, set()
        position = (row[0], row[1])
        if name == "ToteDetached":
            _detached(units, changed, position, spec, row)
        elif name == "CagePacked":
            cage = bytes(_args(spec, row, "cage_id"))
            tote_ids = tuple(map(bytes, _args(spec, row, "tote_ids")))
            units[cage] = _Unit("cage", tote_ids=tote_ids, hashes=tuple(map(bytes, _args(spec, row, "hashes"))))
            changed[cage] = position
            packed.add(cage)
            for tote in tote_ids:
                units.setdefault(tote, _Unit("listed")).cage_id = cage
                changed[tote] = position
        else:
            _moved(units, changed, position, spec, row)
    yield from _flush(units, changed, packed)


def _detached(units: dict[bytes, _Unit], changed: dict, position: tuple[int, int], spec: EventSpec, row: tuple) -> None:
    tote, cage = bytes(_args(spec, row, "tote_id")), bytes(_args(spec, row, "cage_id"))
    if tote not in units or units[tote].cage_id != cage:
        raise ListingDiverged(f"ToteDetached at {position}: 0x{tote.hex()} is not on cage 0x{cage.hex()}")
    if listing_hash(units[tote].groups) != bytes(_args(spec, row, "listing_hash")):
        raise ListingDiverged(f"ToteDetached at {position} commits another listing of 0x{tote.hex()}")
    units[tote].cage_id = None
    changed[tote] = changed[cage] = position


def _moved(units: dict[bytes, _Unit], changed: dict, position: tuple[int, int], spec: EventSpec, row: tuple) -> None:
    """A PacksMoved: out of its source's listing (if the source is a listed unit), into its container's."""
    lot, first, masks = bytes(_args(spec, row, "lot_id")), _args(spec, row, "first_word"), _args(spec, row, "masks")
    source, container = bytes(_args(spec, row, "source")), bytes(_args(spec, row, "container_id"))
    was = units.get(source)
    if was is not None and was.kind == "listed":
        try:
            was.groups = list(clear(was.groups, lot, first, masks))
        except ValueError as e:
            raise ListingDiverged(f"PacksMoved at {position} out of 0x{source.hex()}: {e}") from e
        changed[source] = position
    units.setdefault(container, _Unit("listed")).groups.append(Group(source, lot, first, tuple(masks)))
    changed[container] = position


def _flush(units: dict[bytes, _Unit], changed: dict[bytes, tuple[int, int]], packed: set[bytes]) -> Iterator[tuple]:
    """The rows of the units one transaction changed: each listed unit's listing, then each cage whose tote changed
    (its hashes recomputed; a new cage's checked against what the chain committed)."""
    cages: dict[bytes, tuple[int, int]] = {}
    for unit_id, position in changed.items():
        u = units[unit_id]
        if u.kind == "cage":
            cages[unit_id] = max(position, cages.get(unit_id, position))
            continue
        yield (*position, unit_id, "listed", encode_listing(u.groups), listing_hash(u.groups), u.cage_id)
        if u.cage_id is not None:
            cages[u.cage_id] = max(position, cages.get(u.cage_id, position))
    for cage_id, position in cages.items():
        cage = units[cage_id]
        # the totes this transaction changed get their new hash; the others keep the one the cage holds
        hashes = tuple(
            _caged_hash(units[t], cage_id) if t in changed else h
            for t, h in zip(cage.tote_ids, cage.hashes, strict=True)
        )
        if cage_id in packed and hashes != cage.hashes:
            raise ListingDiverged(f"CagePacked of 0x{cage_id.hex()} at {position} commits other tote listings")
        cage.hashes = hashes
        yield (*position, cage_id, "cage", encode_cage(cage.tote_ids, hashes), cage_hash(cage.tote_ids, hashes), None)


def _caged_hash(tote: _Unit, cage_id: bytes) -> bytes:
    """A tote's hash in its cage's listing: its listing's while it rides on the cage, zero once detached."""
    return listing_hash(tote.groups) if tote.cage_id == cage_id else bytes(32)


def case_rows(rows_by_spec: dict[EventSpec, list[tuple]]) -> Iterator[tuple]:
    """ev_case_packed rows of each case of every CasesPacked: case i is ssccs[i], leaves firstIndex + i * perCase
    onwards."""
    for _, spec, row in _by_name(rows_by_spec, "CasesPacked"):
        first, per = _args(spec, row, "first_index"), _args(spec, row, "per_case")
        for i, sscc in enumerate(_args(spec, row, "ssccs")):
            case = (sscc_id(int(sscc)), _args(spec, row, "lot_id"), _args(spec, row, "packer"), sscc)
            yield (row[0], row[1], row[2], *case, first + i * per, per)


def pallet_rows(rows_by_spec: dict[EventSpec, list[tuple]]) -> Iterator[tuple]:
    """ev_pallet_packed rows of every CagePacked: the cage with its totes, then its cases, as its children."""
    for _, spec, row in _by_name(rows_by_spec, "CagePacked"):
        children = [*_args(spec, row, "tote_ids"), *_args(spec, row, "case_ids")]
        yield (*row[:3], _args(spec, row, "cage_id"), _args(spec, row, "packer"), _args(spec, row, "sscc"), children)
