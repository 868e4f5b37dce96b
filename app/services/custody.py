"""The one custody fold: a case's or pallet's state replayed from its events as the contract applies
them, so reads never wait on the chain. Pure Python over the rows app/db/mirror.py returns; the
write pre-checks, verification and anything else that asks "who has it, where is it going, is it
held back" use this one replay. A property test (tests/services/test_custody_fold.py) keeps it
equal to the contract's `unit(unitId)` and `packState(lotId, index)` views on random supply chains.

API (stable)
------------
``fold(unit_id, rows) -> Custody | None``
    `rows`: ``app.db.mirror.custody_events(conn, unit_id)``, the events of the unit and of every
    pallet it was ever put on, in chain order, as dicts with keys unit, kind, block_number,
    log_index, tx_hash, actor, other, sscc, lot_id, case_ids, sensor_id, value, min_temp, max_temp,
    time, at
    (kind: packed, shipped, received, refused, unpacked, quarantined, cleared, excursion; `other` is
    the recipient of a shipment, the sender of a receipt or refusal). None if the unit was never
    packed. Rows of other units than these are ignored; so is the `packed` row of a pallet whose
    `case_ids` (when given) do not list the unit.
``unit_state(conn, unit_id) -> Custody | None``
    The two together (one query).
``fold_many(unit_ids, rows) -> dict[bytes, Custody | None]``
    `rows`: ``app.db.mirror.custody_events_of(conn, unit_ids)``; each unit folded from its own rows
    and those of the pallets that list it (the `case_ids` of a pallet's `packed` row).
``pack_state(rows) -> PackState``
    `rows`: ``app.db.mirror.pack_events(conn, lot_id, index)`` (keys kind, container_id, actor,
    block_number, log_index); the contract's `packState`, plus the container it is in now (the latest of
    its cased/moved/returned rows), the case, whether it was moved, stolen, and who ended the pack.
``legs(rows) -> list[Leg]``, ``containers(rows)``
    The containers a pack went through (case, totes, consignments), each from the row that put it there
    up to the one that moved it on.
``follow(pack_rows, unit_rows) -> Custody | None``, ``pack_custody(conn, pack_rows)``
    A pack's custody: its current container's fold, with the path, excursions, holders and recipients of
    every container that carried it while it did (`unit_rows`: custody_events_of its containers).

``Custody`` (accounts and ids are bytes; None where there is none):

=====================  =====================================================================
the contract's `unit()`
-------------------------------------------------------------------------------------------
kind                   "case", "pallet", "tote" or "consignment"
custodian              who has it: its own holder, or (on a pallet, closed or unpacked since)
                       the pallet's holder
recipient              where it itself is shipped to while in transit, else None
container              the closed pallet it is on now
in_transit             it, or its closed pallet, is in transit
quarantined            its OWN quarantine flag
excursion              its OWN excursion flag
unpacked               it was unpacked
lot_id                 a case's lot
return_pending         a consignment of returned packs not yet accepted (nor refused)
sender                 who shipped it (or the pallet it still sits on) to its custodian (the
                       contract's sender; None in transit, when it never travelled, after a refusal)
-------------------------------------------------------------------------------------------
beyond the contract
-------------------------------------------------------------------------------------------
unit_id, sscc, packer
holder                 its own holder field (custodian resolves the pallet)
parent                 the pallet it was last put on, until it left it (also once unpacked)
destination            where the shipment it travels in (its own or its pallet's) goes, while
                       in transit; else None
last_recipient         the recipient named by the latest shipment of it, or of a pallet while
                       it was on it; kept after the receipt or refusal
container_quarantined  its closed pallet is quarantined
held_quarantined       quarantined or container_quarantined (property)
excursions             list[Excursion]: its own and its pallets' while it was on them
holders                everyone who held it: packer, receivers, unpackers (also of its pallets
                       while it was on them)
recipients             everyone a shipment of it (or of its pallet while on it) named,
                       received or refused
path                   list[Step]: every event but excursions, oldest first: its own and its
                       pallets' while it was on them (a palletisation is the pallet's `packed`)
stays                  list[Stay]: each time it sat on a pallet, with what ended it
=====================  =====================================================================

Rules the contract applies, replayed here in chain order:
- packed: held by the packer; a case put on a pallet has that pallet as its parent;
- shipped: loose at the sender (off any pallet), in transit to the recipient;
- received: held by the recipient; refused: custody stays with the sender; either ends the transit
  and clears the recipient;
- a tote is packed like a case; a consignment is made in transit from its sender to its recipient,
  and is unpacked on receipt (or, refused, back at its sender); a return consignment is taken with
  `accepted` (ReturnAccepted: held by the recipient, saleable stock, then unpacked);
- unpacked: held loose by whoever unpacked it and marked unpacked. An unpacked pallet releases its
  cases lazily: they stay at the pallet's (now fixed) holder until they move themselves;
- a roll cage (CagePacked, docs/gas-redesign.md) is a pallet whose totes ride on it: a caged tote's
  custodian is the cage's holder, and it is opened when the cage is unpacked (no unpack of its own);
  `detached` (ToteDetached, no step of its own) gives a tote its own word on the cage: from then on it is
  like a case on a pallet, released closed when the cage is unpacked (opened already if the cage was);
- a case on a closed pallet is custodied, and in transit, with the pallet.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime

from app.db import mirror

Position = tuple[int, int]  # (block number, log index): chain order
HANDOFF_SENDER_FIRST = frozenset({"received", "accepted", "refused"})  # events whose actor is the recipient


@dataclass(frozen=True)
class Step:
    """One event on a unit's custody path. A handoff reads from `sender` to `recipient` whoever
    acted: `received` and `refused` are done by the recipient (actor) of what the sender shipped."""

    event: str
    unit: bytes  # the unit the event names: the unit itself or the pallet it was on
    actor: bytes | None
    sender: bytes | None
    recipient: bytes | None
    block_number: int
    log_index: int
    tx_hash: bytes
    at: datetime | None  # block time
    sscc: int | None  # on `packed` steps: the SSCC of the unit (or pallet) packed


@dataclass(frozen=True)
class Excursion:
    unit: bytes
    sensor_id: bytes | None
    time: int  # the logger's unix time of the first reading outside the range
    value: int  # centi-degrees Celsius
    min_temp: int
    max_temp: int
    block_number: int
    log_index: int
    tx_hash: bytes
    at: datetime | None


@dataclass(frozen=True)
class Stay:
    """The unit on a pallet, from its palletisation until `end` (None: still there)."""

    pallet_id: bytes
    pallet_sscc: int
    packer: bytes
    start: Position
    start_time: datetime | None
    end: Position | None = None
    end_time: datetime | None = None
    end_event: str | None = None  # pallet_unpacked, case_shipped, case_unpacked, case_palletised


@dataclass
class Custody:
    """A unit's state now, per the mirror (module docstring)."""

    unit_id: bytes
    kind: str
    sscc: int | None  # None for a consignment (no SSCC)
    packer: bytes
    holder: bytes
    lot_id: bytes | None = None
    recipient: bytes | None = None
    in_transit: bool = False
    parent: bytes | None = None
    container: bytes | None = None
    custodian: bytes | None = None
    unpacked: bool = False
    quarantined: bool = False
    excursion: bool = False
    destination: bytes | None = None
    last_recipient: bytes | None = None
    container_quarantined: bool = False
    return_pending: bool = False
    sender: bytes | None = None
    excursions: list[Excursion] = field(default_factory=list)
    holders: set[bytes] = field(default_factory=set)
    recipients: set[bytes] = field(default_factory=set)
    path: list[Step] = field(default_factory=list)
    stays: list[Stay] = field(default_factory=list)

    @property
    def held_quarantined(self) -> bool:
        """Held back by a quarantine: its own, or its closed pallet's."""
        return self.quarantined or self.container_quarantined


UnitState = Custody  # the write pre-checks' name for it


@dataclass
class _Pallet:
    """The pallet a case sits on, as far as the case is concerned."""

    pallet_id: bytes
    holder: bytes
    recipient: bytes | None = None
    in_transit: bool = False
    quarantined: bool = False
    unpacked: bool = False
    slot: bytes | None = None  # the contract's recipient/sender slot of the pallet
    cage: bool = False  # a roll cage (CagePacked): a tote on it is opened when the cage is unpacked


def _b(value) -> bytes | None:
    return None if value is None else bytes(value)


class _Fold:
    def __init__(self, unit_id: bytes):
        self.unit_id = unit_id
        self.state: Custody | None = None
        self.own_recipient: bytes | None = None
        self.own_in_transit = False
        self.slot: bytes | None = None  # the contract's recipient slot: where it goes, or who shipped it here
        self.pallet: _Pallet | None = None  # the pallet of `parent` (kept once unpacked: its holder is fixed)
        self.detached = False  # a tote with its own word on its roll cage (ToteDetached)

    def apply(self, row: dict) -> None:
        unit, kind = bytes(row["unit"]), row["kind"]
        actor, other = _b(row["actor"]), _b(row["other"])
        own = unit == self.unit_id
        if kind == "packed" and own:
            self._packed(row, actor)
            return
        if self.state is None:
            return  # events of an id never packed (cannot happen on chain)
        if kind == "packed":
            if row.get("case_ids") is not None and self.unit_id not in {bytes(c) for c in row["case_ids"]}:
                return  # another unit's pallet (rows of several units)
            self._palletised(unit, row, actor)
        elif own:
            self._own(kind, row, actor, other)
        elif self.pallet is not None and unit == self.pallet.pallet_id and not self.pallet.unpacked:
            self._pallet_event(kind, row, actor, other)
        else:
            return  # a pallet's event from before or after the unit sat on it
        if kind not in ("excursion", "detached"):
            self._step(kind, unit, row, actor, other)

    # -- events

    def _packed(self, row: dict, actor: bytes) -> None:
        lot_id = _b(row.get("lot_id"))
        kind = row.get("unit_kind") or ("case" if lot_id is not None else "pallet")
        sscc = row.get("sscc")
        self.state = Custody(
            unit_id=self.unit_id,
            kind={"return": "consignment", "cage": "pallet"}.get(kind, kind),
            sscc=None if sscc is None else int(sscc),
            packer=actor,
            holder=actor,
            lot_id=lot_id,
            holders={actor},
        )
        if self.state.kind == "consignment":  # created in transit to `other` (the contract's _consign)
            to = _b(row["other"])
            self.own_recipient, self.own_in_transit, self.slot = to, True, to
            self.state.return_pending = kind == "return"
            self.state.last_recipient = to
            self.state.recipients.add(to)
        self._step("packed", self.unit_id, row, actor, _b(row.get("other")))

    def _palletised(self, pallet_id: bytes, row: dict, actor: bytes) -> None:
        self._end_stay(row, "case_palletised")
        self.state.holder = actor  # the packer holds the case loose before it goes on (contract: loose(me))
        self.state.parent = pallet_id
        self.pallet = _Pallet(pallet_id, actor, cage=row.get("unit_kind") == "cage")
        self.state.stays.append(Stay(pallet_id, int(row["sscc"]), actor, _position(row), row.get("at")))

    def _own(self, kind: str, row: dict, actor: bytes | None, other: bytes | None) -> None:
        state = self.state
        if kind == "shipped":
            self._leave_pallet(row, "case_shipped")
            state.holder, self.own_recipient, self.own_in_transit, self.slot = actor, other, True, other
            state.last_recipient = other
            state.recipients.add(other)
        elif kind in ("received", "accepted"):
            state.holder, self.own_recipient, self.own_in_transit, self.slot = actor, None, False, other
            state.return_pending = False
            state.holders.add(actor)
            state.recipients.add(actor)
        elif kind == "refused":
            # a refused return stays the refuser's to be returned to again; other refusals forget the sender
            self.slot = actor if state.return_pending else None
            self.own_recipient, self.own_in_transit, state.return_pending = None, False, False
            state.recipients.add(actor)
        elif kind == "unpacked":
            self.slot = self._sender()
            self._leave_pallet(row, "case_unpacked")
            state.holder, state.unpacked = actor, True
            state.holders.add(actor)
        elif kind in ("quarantined", "cleared"):
            state.quarantined = kind == "quarantined"
        elif kind == "detached":
            self.detached = True
        elif kind == "excursion":
            state.excursion = True
            state.excursions.append(_excursion(row))

    def _pallet_event(self, kind: str, row: dict, actor: bytes | None, other: bytes | None) -> None:
        pallet, state = self.pallet, self.state
        if kind == "shipped":
            pallet.holder, pallet.recipient, pallet.in_transit, pallet.slot = actor, other, True, other
            state.last_recipient = other
            state.recipients.add(other)
        elif kind == "received":
            pallet.holder, pallet.recipient, pallet.in_transit, pallet.slot = actor, None, False, other
            state.holders.add(actor)
            state.recipients.add(actor)
        elif kind == "refused":
            pallet.recipient, pallet.in_transit, pallet.slot = None, False, None
            state.recipients.add(actor)
        elif kind == "unpacked":
            pallet.holder, pallet.unpacked = actor, True
            # a tote riding on a roll cage is opened with it; one detached before (its own word, like a case on a
            # pallet) is released closed (the contract's detachTote copies the cage's unpacked flag only then)
            state.unpacked |= pallet.cage and state.kind == "tote" and not self.detached
            state.holders.add(actor)
            self._end_stay(row, "pallet_unpacked")
        elif kind in ("quarantined", "cleared"):
            pallet.quarantined = kind == "quarantined"
        elif kind == "excursion":
            state.excursions.append(_excursion(row))

    # -- helpers

    def _sender(self) -> bytes | None:
        """The contract's _sender(): who shipped the unit (or the pallet it still sits on) to its holder."""
        if self.pallet is not None and self.pallet.slot is not None:
            return self.pallet.slot
        return self.slot

    def _leave_pallet(self, row: dict, event: str) -> None:
        """The contract's loose(): off any pallet (the case is held by itself again)."""
        self._end_stay(row, event)
        self.state.parent, self.pallet = None, None

    def _end_stay(self, row: dict, event: str) -> None:
        stays = self.state.stays
        if stays and stays[-1].end is None:
            last = stays[-1]
            stays[-1] = Stay(last.pallet_id, last.pallet_sscc, last.packer, last.start, last.start_time,
                             _position(row), row.get("at"), event)  # fmt: skip

    def _step(self, kind: str, unit: bytes, row: dict, actor: bytes | None, other: bytes | None) -> None:
        sender, recipient = (other, actor) if kind in HANDOFF_SENDER_FIRST else (actor, other)
        sscc = row.get("sscc")
        self.state.path.append(
            Step(kind, unit, actor, sender, recipient, row["block_number"], row["log_index"], bytes(row["tx_hash"]),
                 row.get("at"), int(sscc) if kind == "packed" and sscc is not None else None)
        )  # fmt: skip

    def result(self) -> Custody | None:
        state, pallet = self.state, self.pallet
        if state is None:
            return None
        state.recipient = self.own_recipient
        state.custodian = pallet.holder if pallet is not None else state.holder
        closed = pallet is not None and not pallet.unpacked
        state.container = pallet.pallet_id if closed else None
        state.container_quarantined = closed and pallet.quarantined
        state.in_transit = self.own_in_transit or (closed and pallet.in_transit)
        if self.own_in_transit:
            state.destination = self.own_recipient
        elif closed and pallet.in_transit:
            state.destination = pallet.recipient
        state.sender = None if state.in_transit else self._sender()
        return state


def _position(row: dict) -> Position:
    return row["block_number"], row["log_index"]


def _excursion(row: dict) -> Excursion:
    return Excursion(
        unit=bytes(row["unit"]),
        sensor_id=_b(row.get("sensor_id")),
        time=int(row["time"]),
        value=int(row["value"]),
        min_temp=int(row["min_temp"]),
        max_temp=int(row["max_temp"]),
        block_number=row["block_number"],
        log_index=row["log_index"],
        tx_hash=bytes(row["tx_hash"]),
        at=row.get("at"),
    )


def fold(unit_id: bytes, rows: list[dict]) -> Custody | None:
    """Replay `rows` (module docstring) into the unit's state now; None if it was never packed."""
    replay = _Fold(bytes(unit_id))
    for row in rows:
        replay.apply(row)
    return replay.result()


def fold_many(unit_ids, rows: list[dict]) -> dict[bytes, Custody | None]:
    """Fold each of `unit_ids` from rows of several units (module docstring); the answer keeps the
    order of `unit_ids` (a pallet's cases in the order it was packed with them)."""
    wanted = dict.fromkeys(bytes(u) for u in unit_ids)  # ordered: callers list what they fold in order
    pallets_of: dict[bytes, set[bytes]] = {u: set() for u in wanted}
    for row in rows:
        if row["kind"] == "packed" and row.get("case_ids") is not None:
            for case_id in map(bytes, row["case_ids"]):
                if case_id in pallets_of:
                    pallets_of[case_id].add(bytes(row["unit"]))
    by_unit: dict[bytes, list[dict]] = {}
    for row in rows:
        by_unit.setdefault(bytes(row["unit"]), []).append(row)
    out = {}
    for unit_id in wanted:
        mine = [r for u in (unit_id, *pallets_of[unit_id]) for r in by_unit.get(u, [])]
        mine.sort(key=_position)
        out[unit_id] = fold(unit_id, mine)
    return out


def unit_state(conn, unit_id: bytes) -> Custody | None:
    """The unit's state now, per the mirror; None if unknown."""
    return fold(unit_id, mirror.custody_events(conn, unit_id))


# --------------------------------------------------------------------------- packs


CONTAINER_KINDS = frozenset({"cased", "moved", "returned"})  # pack_events rows that put a pack in a container


@dataclass(frozen=True)
class PackState:
    """The contract's `packState(lotId, index)` (allocated, dispensed, destroyed, quarantined), plus
    where the pack is (`container`: the case, tote or consignment of its latest cased/moved/returned row),
    the case it was packed into, whether it was ever picked out of it (`moved`), reported stolen, and who
    ended it (dispensed, destroyed or reported it stolen; None once a dispense is undone)."""

    allocated: bool = False
    dispensed: bool = False
    destroyed: bool = False
    quarantined: bool = False
    case_id: bytes | None = None
    ended_by: bytes | None = None
    container: bytes | None = None
    moved: bool = False
    stolen: bool = False
    undone: bool = False  # a dispense of it was undone (it may have been dispensed again since)

    @property
    def end(self) -> str | None:
        if self.stolen:
            return "stolen"
        return "dispensed" if self.dispensed else "destroyed" if self.destroyed else None

    @property
    def inactive(self) -> bool:
        return self.end is not None


def pack_state(rows: list[dict]) -> PackState:
    """Fold one pack's pack_events rows (chain order) into its state."""
    allocated = dispensed = destroyed = quarantined = moved = stolen = undone = False
    case_id = ended_by = container = None
    for row in rows:
        kind = row["kind"]
        if kind == "cased":
            allocated, case_id = True, bytes(row["container_id"])
            container = case_id
        elif kind in ("moved", "returned"):
            allocated, moved, container = True, True, bytes(row["container_id"])
        elif kind in ("dispensed", "destroyed", "stolen"):
            dispensed, destroyed, stolen = kind == "dispensed", kind == "destroyed", kind == "stolen"
            ended_by = _b(row["actor"])
        elif kind == "undone":
            dispensed, ended_by, undone = False, None, True
        elif kind in ("quarantined", "cleared"):
            quarantined = kind == "quarantined"
    return PackState(allocated, dispensed, destroyed, quarantined, case_id, ended_by, container, moved, stolen,
                     undone)  # fmt: skip


# --------------------------------------------------------------------------- a pack through its containers


@dataclass(frozen=True)
class Leg:
    """The pack in one container: from the event that put it there (`start`: cased, moved or returned)
    until the one that moved it on (`end`, exclusive; None: it is still there)."""

    container: bytes
    how: str  # cased, moved, returned
    actor: bytes | None
    start: Position
    end: Position | None = None

    def covers(self, position: Position) -> bool:
        """A container's event while it carried the pack. Totes and consignments are made in the
        transaction that moves the packs in (their creation comes just before), cases with them: so only
        the end bounds a leg."""
        return self.end is None or tuple(position) < self.end


def legs(pack_rows: list[dict]) -> list[Leg]:
    """The containers a pack went through, oldest first, from its pack_events rows (chain order)."""
    out: list[Leg] = []
    for row in pack_rows:
        if row["kind"] in CONTAINER_KINDS:
            position = (row["block_number"], row["log_index"])
            if out:
                last = out[-1]
                out[-1] = Leg(last.container, last.how, last.actor, last.start, position)
            out.append(Leg(bytes(row["container_id"]), row["kind"], _b(row["actor"]), position))
    return out


def containers(pack_rows: list[dict]) -> list[bytes]:
    """Every container the pack was ever in, oldest first (what to ask custody_events_of for)."""
    return list(dict.fromkeys(leg.container for leg in legs(pack_rows)))


HOLDING_STEPS = frozenset({"packed", "received", "accepted", "unpacked"})  # the actor holds it after these


@dataclass(frozen=True)
class Carrier:
    """A unit that carried the object from `start` to `end` (exclusive; None: unbounded): a pack's container over
    its leg (only the end bounds it, as Leg.covers), or a pallet that a container sat on, over the stay."""

    unit: bytes
    start: Position | None
    end: Position | None

    def covers(self, position: Position) -> bool:
        position = tuple(position)
        return (self.start is None or position >= self.start) and (self.end is None or position < self.end)


def _stays_within(stays: list[Stay], end: Position | None) -> list[Carrier]:
    """The pallets of `stays`, each over its stay cut at `end` (a leg's end), those that began before it."""
    out = []
    for stay in stays:
        if end is not None and stay.start >= end:
            continue
        until = stay.end if end is None or (stay.end is not None and stay.end < end) else end
        out.append(Carrier(stay.pallet_id, stay.start, until))
    return out


def unit_carriers(state: Custody) -> list[Carrier]:
    """What carried a case or tote: itself, always, and each pallet over its stay on it."""
    return [Carrier(state.unit_id, None, None), *_stays_within(state.stays, None)]


def _pack_carriers(route: list[Leg], folds: dict[bytes, Custody | None]) -> list[Carrier]:
    out = []
    for leg in route:
        out.append(Carrier(leg.container, None, leg.end))
        held = folds.get(leg.container)
        if held is not None:
            out += _stays_within(held.stays, leg.end)
    return out


def pack_carriers(pack_rows: list[dict], unit_rows: list[dict]) -> list[Carrier]:
    """What carried a pack, and when: each container over its leg, and each pallet one of them sat on over the
    stay within the leg (`unit_rows` as for `follow`). THE rule of what temperature counts for an object: a
    unit's readings and excursions concern it only while that unit carried it (`carried`); verification's
    temperature_excursion (`follow`), provenance's cold chain and its EPCIS export all ask it."""
    route = legs(pack_rows)
    return _pack_carriers(route, fold_many([leg.container for leg in route], unit_rows)) if route else []


def carried(carriers: list[Carrier], unit: bytes, position: Position) -> bool:
    """Whether something recorded on `unit` at chain `position` happened while that unit carried the object."""
    return any(c.unit == unit and c.covers(position) for c in carriers)


def follow(pack_rows: list[dict], unit_rows: list[dict]) -> Custody | None:
    """A pack's custody now: the fold of the container it is in (its latest cased/moved/returned row), with
    the path, excursions, holders and recipients of every container that carried it, each while it did
    (a case until the pack was picked out of it, a tote or consignment from its making). `unit_rows`:
    ``app.db.mirror.custody_events_of(conn, containers(pack_rows))``. None: the pack never left its
    manufacturer's loose stock."""
    route = legs(pack_rows)
    if not route:
        return None
    folds = fold_many([leg.container for leg in route], unit_rows)
    now = folds.get(route[-1].container)
    if now is None:
        return None
    path: list[Step] = []
    excursions: list[Excursion] = []
    carriers = _pack_carriers(route, folds)
    for leg in route:
        held = folds.get(leg.container)
        if held is None:
            continue
        path += [step for step in held.path if leg.covers((step.block_number, step.log_index))]
        excursions += [x for x in held.excursions if carried(carriers, x.unit, (x.block_number, x.log_index))]
    path.sort(key=lambda step: (step.block_number, step.log_index))
    excursions.sort(key=lambda x: (x.block_number, x.log_index))
    holders = {step.actor for step in path if step.event in HOLDING_STEPS and step.actor is not None}
    recipients = {step.recipient for step in path if step.event != "packed" and step.recipient is not None}
    return replace(now, path=_unique(path), excursions=excursions, holders=holders | {now.custodian},
                   recipients=recipients)  # fmt: skip


def _unique(path: list[Step]) -> list[Step]:
    """A pallet's step seen through two of the pack's containers on it (a case, then a tote) counts once."""
    seen, out = set(), []
    for step in path:
        key = (step.unit, step.block_number, step.log_index)
        if key not in seen:
            seen.add(key)
            out.append(step)
    return out


def pack_custody(conn, pack_rows: list[dict]) -> Custody | None:
    """follow() with its one query."""
    units = containers(pack_rows)
    return follow(pack_rows, mirror.custody_events_of(conn, units)) if units else None
