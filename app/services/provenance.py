"""Provenance of a pack, a case or pallet, or a lot, from the mirror alone (DESIGN.md §4). No Flask here.

Each answer has
- a timeline: the events of the object in chain order, each with who acted (`from`), the other party of a
  handoff (`to`), the acting party's GLN (`place`), block time, block number and transaction;
- containment: which containers held it and when (a pack stays anchored to its case for good, even once the
  case is opened; a case sits on a pallet from its palletisation until the pallet is unpacked, or until the
  case itself leaves: shipped, unpacked or palletised again);
- the parties on the timeline, by chain account, with the GLN they registered on chain and the name the
  service knows them by;
- a cold-chain summary of the readings recorded on the units that held it, and the excursions the
  contract flagged on them.

A case's stays on pallets, and the pallets' events while it sat on them, come from the one custody fold
(app/services/custody.fold_many over app/db/mirror.custody_events_of), the replay the write pre-checks and
verification use; the rest of the timeline (lot events, the units' own events with their pack counts, the
pack-set events) is read as it is shown (app/db/provenance.py).

What each timeline holds:
- pack: its lot's commissioning, recall and quarantines; its case's events; while the case sat on a pallet,
  that pallet's events; and the pack's own pack-set events (dispensed, destroyed, quarantined, cleared,
  moved into a tote or consignment, returned, stolen, undone). A pack picked out of its case is followed:
  the case's events up to the pick, then each tote or consignment it went into (their own events, accepted
  returns included, and their pallets'), each a containment entry from the move in to the move out;
- tote: its own events, its pallets', and the pack-set events naming it (packs counted);
- case: the same without a particular pack, its pack-set events grouped per transaction (`packs` counts);
- pallet: its own events;
- lot: commissioning, recall, quarantines and each case packed from it; `pack_counts` sums up the packs.

Who may see an answer is the access policy's decision (app/services/access.py, `visibility` below): a
regulator and the manufacturer of (any lot in) the object see it whole; another organisation that took part
in a custody event of the object (for a pack or case: also of the case and of pallets while they held it;
for a lot: of any case of it) sees it up to and including its own last such event (`restrict`), and
anyone else nothing (the API answers 403).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal

from app import gs1
from app.db import access as access_db
from app.db import mirror
from app.db import provenance as reads
from app.errors import NotFound, PharmatrackError
from app.ids import lgtin_id, sgtin_id, sscc_id, unpack_readings
from app.services import access, custody, mkt
from app.services.orgs import Principal

ZERO_ID = bytes(32)

# --------------------------------------------------------------------------------------------- types

Position = tuple[int, int]  # (block number, log index): chain order


@dataclass
class Entry:
    """One timeline event. `actor` acted (its GLN is the place); a handoff also has `sender` and `recipient`."""

    event: str
    subject: dict
    block_number: int
    log_index: int
    tx_hash: bytes
    time: datetime | None
    actor: bytes
    sender: bytes | None = None
    recipient: bytes | None = None
    container: dict | None = None
    packs: int | None = None

    @property
    def position(self) -> Position:
        return self.block_number, self.log_index


@dataclass(frozen=True)
class Lot:
    lot_id: bytes
    gtin: str
    number: str
    expiry: date | None
    serial_count: int
    manufacturer: bytes


@dataclass
class Provenance:
    subject: dict
    manufacturers: set[bytes]
    subject_id: bytes | None = None  # the lot id of a lot's answer
    timeline: list[Entry] = field(default_factory=list)
    containment: list[dict] = field(default_factory=list)
    readings: dict = field(default_factory=dict)
    excursions: list[dict] = field(default_factory=list)
    pack_counts: dict | None = None
    parties: dict[bytes, dict] = field(default_factory=dict)  # account -> {account, gln, name}
    units: dict[bytes, dict] = field(default_factory=dict)  # the units whose cold chain counts
    carriers: list[custody.Carrier] | None = None  # when they count (None: always; a pallet's, a lot's answer)

    def carried(self, unit_id: bytes, position: Position) -> bool:
        """Whether a reading or excursion on `unit_id` at `position` concerns the object: only while that unit
        carried it (custody.carried, the rule verification's temperature_excursion follows)."""
        return self.carriers is None or custody.carried(self.carriers, unit_id, position)

    def to_dict(self) -> dict:
        """The answer, JSON-ready but for datetimes and dates."""
        party = self._party
        return {
            "subject": self.subject,
            "timeline": [
                {
                    "event": e.event,
                    "subject": e.subject,
                    "container": e.container,
                    "from": party(e.sender if e.sender is not None else e.actor),
                    "to": party(e.recipient) if e.recipient is not None else None,
                    "place": {k: party(e.actor)[k] for k in ("gln", "name")},
                    "time": e.time,
                    "block_number": e.block_number,
                    "log_index": e.log_index,
                    "tx_hash": _hex(e.tx_hash),
                    "packs": e.packs,
                }
                for e in self.timeline
            ],
            "containment": [{k: v for k, v in c.items() if not k.startswith("_")} for c in self.containment],
            "parties": list(self.parties.values()),
            "readings": self.readings,
            "excursions": self.excursions,
            "pack_counts": self.pack_counts,
        }

    def _party(self, account: bytes) -> dict:
        return self.parties.get(account) or {"account": _hex(account), "gln": None, "name": None}


def read_snapshot(conn) -> None:
    """Make the rest of the caller's transaction read one snapshot: the indexer may commit blocks between
    the several queries an answer takes, and the timeline, containment and readings must agree. Call it
    first in the transaction."""
    mirror.read_snapshot(conn)


def visibility(conn, principal: Principal, prov: Provenance) -> access.Visibility:
    """What `principal` may see of this answer (app/services/access.py). A pack's, case's or pallet's
    record is its timeline (it holds the containers' events only while they held the object); a lot's
    participation is read from the mirror (app/db/access.py)."""
    viewer = access.Viewer.of(principal)
    manufacturers = frozenset(prov.manufacturers)
    if prov.subject["kind"] == "lot":
        events = ()
        if not viewer.regulator and viewer.account is not None and viewer.account not in manufacturers:
            last = access_db.last_in_lot(conn, viewer.account, prov.subject_id)
            if last is not None:
                position = (last["block_number"], last["log_index"])
                events = (access.Event(last["kind"], position, viewer.account),)
        vis = access.visibility(viewer, access.Record(manufacturers, events))
        return access.UP_TO(vis.position) if vis.partial else vis  # a lot is never in one party's hands
    events = tuple(
        access.Event(e.event, e.position, e.actor, e.recipient if e.event == "shipped" else e.sender)
        for e in prov.timeline
    )
    return access.visibility(viewer, access.Record(manufacturers, events))


def restrict(conn, prov: Provenance, vis: access.Visibility) -> Provenance:
    """The answer cut to what `vis` shows: for UP_TO, the timeline, containment, cold chain and parties up
    to and including the viewer's last event (the lot's status events whenever they happened); pack
    counts only for FULL. VERDICT_ONLY leaves nothing: callers refuse the answer instead."""
    if vis.full:
        return prov
    if vis.verdict_only:
        raise ValueError("a verdict-only viewer sees no provenance")
    prov.timeline = access.shown_events(
        vis, prov.timeline, kind=lambda e: e.event if e.subject.get("kind") == "lot" else ""
    )
    shown = []
    for item in prov.containment:
        if not vis.shows(item["_since"]):
            continue
        left_later = item.get("_until") is not None and not vis.shows(item["_until"])
        shown.append({**item, "until": None} if left_later else item)  # it left after the viewer's cut: not shown
    prov.containment = shown
    prov.pack_counts = None
    prov.parties = {}
    _parties(conn, prov)
    prov.readings, prov.excursions = _cold_chain(conn, prov, until=None if vis.current else vis.position)
    return prov


# --------------------------------------------------------------------------------------------- the three views


class NotOnPath(PharmatrackError):
    """The caller may see the object's verdict only, not its provenance."""

    def __init__(self, kind: str):
        super().__init__(f"not on the custody path of this {kind}")
        self.kind = kind


def seen_by(conn, principal: Principal, build, *args) -> Provenance:
    """The object's provenance (`build(conn, *args)`: pack_provenance, unit_provenance or lot_provenance) cut to
    what `principal` may see of it (app/services/access.py), in one snapshot. NotOnPath when it may see the
    verdict only; NotFound for an object the mirror does not have."""
    read_snapshot(conn)
    prov = build(conn, *args)
    vis = visibility(conn, principal, prov)
    if vis.verdict_only:
        raise NotOnPath(prov.subject["kind"])
    restrict(conn, prov, vis)
    return prov


def pack_provenance(conn, pack: gs1.Pack) -> Provenance:
    """A pack by GTIN + serial; a lot or expiry given beside must be the pack's (else NotFound)."""
    shown = gs1.to_element_string(gs1.Pack(pack.gtin, pack.serial))
    found = reads.serial_leaf(conn, sgtin_id(pack.gtin, pack.serial))
    lot = _lot(conn, bytes(found["lot_id"])) if found else None
    if lot is None:  # never commissioned, or its commissioning is not on chain (yet)
        raise NotFound(f"pack {shown}")
    if pack.lot is not None and pack.lot != lot.number:
        raise NotFound(f"pack {shown} in lot {pack.lot}")
    if pack.expiry is not None and pack.expiry != lot.expiry:
        raise NotFound(f"pack {shown} with expiry {pack.expiry.isoformat()}")
    index = found["leaf_index"]
    me = {"kind": "pack", "gtin": lot.gtin, "lot": lot.number, "serial": pack.serial}
    prov = Provenance(
        subject={**_lot_subject(lot), "kind": "pack", "id": _hex(sgtin_id(pack.gtin, pack.serial)),
                 "serial": pack.serial, "leaf_index": index},
        manufacturers={lot.manufacturer},
    )  # fmt: skip
    prov.timeline += _lot_events(conn, lot, batch=found["batch"])
    units: dict[bytes, dict] = {}
    rows = reads.pack_legs(conn, lot.lot_id, index)
    times = {(r["block_number"], r["log_index"]): r["timestamp"] for r in rows}
    for leg in custody.legs(rows):  # its case, then each tote or consignment it was moved into
        origin = reads.unit_origin(conn, leg.container)
        ref = _unit_ref(origin["kind"], origin["sscc"], leg.container)
        units[leg.container] = ref
        held = _containment(me, ref, leg.start, times.get(leg.start))
        if leg.end is not None:
            held["until"] = {"block_number": leg.end[0], "time": _utc(times.get(leg.end)), "event": "moved"}
            held["_until"] = leg.end
        prov.containment.append(held)
        prov.timeline += _unit_events(conn, leg.container, ref, before=leg.end)
        _add_pallets(conn, prov, {leg.container: ref}, units, before=leg.end)
    for row in reads.pack_timeline(conn, lot.lot_id, index):
        container = bytes(row["container_id"])
        prov.timeline.append(_entry(row, me, container=units.get(container) if container != ZERO_ID else None))
    prov.carriers = custody.pack_carriers(rows, mirror.custody_events_of(conn, custody.containers(rows)))
    _finish(conn, prov, units)
    return prov


def unit_provenance(conn, sscc: str) -> Provenance:
    """A case or pallet by its SSCC-18."""
    unit_id = sscc_id(sscc)
    origin = reads.unit_origin(conn, unit_id)
    if origin is None:
        raise NotFound(f"unit (00){sscc}")
    ref = _unit_ref(origin["kind"], sscc)
    units = {unit_id: ref}
    if origin["kind"] == "tote":  # packs of any lots: its own events, its pallets', its packs' events
        prov = Provenance(subject={**ref, "id": _hex(unit_id)},
                          manufacturers=access_db.unit_manufacturers(conn, unit_id))  # fmt: skip
        prov.timeline += _unit_events(conn, unit_id, ref)
        prov.carriers = _add_pallets(conn, prov, {unit_id: ref}, units)
        packs = {"kind": "packs"}
        prov.timeline += [_entry(row, packs, container=ref) for row in reads.case_pack_events(conn, unit_id)]
        _finish(conn, prov, units)
        return prov
    if origin["kind"] == "pallet":
        manufacturers = access_db.unit_manufacturers(conn, unit_id)
        prov = Provenance(subject={**ref, "id": _hex(unit_id)}, manufacturers=manufacturers)
        prov.timeline += _unit_events(conn, unit_id, ref)
        case_ids = reads.pallet_cases(conn, unit_id)
        case_refs = {bytes(r["case_id"]): _unit_ref(r["kind"], r["sscc"]) for r in reads.case_ssccs(conn, case_ids)}
        for case_id, state in _custody(conn, case_ids).items():
            for stay in state.stays:
                if stay.pallet_id == unit_id:
                    prov.containment.append(_stay_containment(stay, case_refs[case_id], ref))
        _finish(conn, prov, units)
        return prov
    lot = _lot(conn, bytes(origin["lot_id"]))
    prov = Provenance(subject={**_lot_subject(lot), **ref, "id": _hex(unit_id)}, manufacturers={lot.manufacturer})
    prov.timeline += _lot_events(conn, lot)
    prov.timeline += _unit_events(conn, unit_id, ref)
    prov.carriers = _add_pallets(conn, prov, {unit_id: ref}, units)
    packs = {"kind": "packs", "gtin": lot.gtin, "lot": lot.number}
    prov.timeline += [_entry(row, packs, container=ref) for row in reads.case_pack_events(conn, unit_id)]
    _finish(conn, prov, units)
    return prov


def lot_provenance(conn, gtin: str, lot_number: str) -> Provenance:
    """A lot by GTIN-14 and lot number."""
    lot = _lot(conn, lgtin_id(gtin, lot_number))
    if lot is None:
        raise NotFound(f"lot {gs1.to_element_string(gs1.Lot(gtin, lot_number))}")
    me = {"kind": "lot", "gtin": lot.gtin, "lot": lot.number}
    prov = Provenance(subject={**_lot_subject(lot), "kind": "lot", "id": _hex(lot.lot_id)},
                      manufacturers={lot.manufacturer}, subject_id=lot.lot_id)  # fmt: skip
    prov.timeline += _lot_events(conn, lot)
    units: dict[bytes, dict] = {}
    for row in reads.lot_cases(conn, lot.lot_id):
        case_id, ref = bytes(row["case_id"]), _unit_ref("case", row["sscc"])
        units[case_id] = ref
        prov.timeline.append(_entry({**row, "event": "packed", "actor": row["packer"]}, ref))
        since = (row["block_number"], row["log_index"])
        prov.containment.append({**_containment(me, ref, since, row["timestamp"]), "packs": int(row["packs"])})
    _add_pallets(conn, prov, dict(units), units, timeline=False)
    counts = reads.lot_pack_counts(conn, lot.lot_id)
    prov.pack_counts = {
        "serials": lot.serial_count,
        "cased": counts.get("cased", 0),
        "dispensed": counts.get("dispensed", 0),
        "destroyed": counts.get("destroyed", 0),
        "stolen": counts.get("stolen", 0),
        "quarantined": reads.lot_packs_quarantined(conn, lot.lot_id),
    }
    _finish(conn, prov, units)
    return prov


# --------------------------------------------------------------------------------------------- building blocks


def _lot(conn, lot_id: bytes) -> Lot | None:
    row = reads.lot(conn, lot_id)
    if row is None:
        return None
    return Lot(
        lot_id=bytes(row["lot_id"]),
        gtin=f"{int(row['gtin']):014d}",
        number=row["lot_number"],
        expiry=_day(int(row["expiry"])),
        serial_count=int(row["serial_count"]),
        manufacturer=bytes(row["manufacturer"]),
    )


def _lot_subject(lot: Lot) -> dict:
    return {"gtin": lot.gtin, "lot": lot.number, "expiry": lot.expiry, "lot_id": _hex(lot.lot_id),
            "manufacturer": _hex(lot.manufacturer)}  # fmt: skip


def _lot_events(conn, lot: Lot, batch: int | None = None) -> list[Entry]:
    """The lot's own events; a pack's (`batch`: its commissioning batch) show only its own batch's commissioning."""
    ref = {"kind": "lot", "gtin": lot.gtin, "lot": lot.number}
    rows = reads.lot_events(conn, lot.lot_id)
    return [_entry(row, ref) for row in rows if batch is None or row["batch"] is None or row["batch"] == batch]


def _unit_events(conn, unit_id: bytes, ref: dict, after: Position | None = None, until: Position | None = None,
                 before: Position | None = None):  # fmt: skip
    """The unit's own events, those strictly after `after`, up to `until` (inclusive) and strictly before
    `before` when given."""
    out = []
    for row in reads.unit_events(conn, unit_id):
        position = (row["block_number"], row["log_index"])
        if (after is not None and position <= after) or (until is not None and position > until):
            continue
        if before is not None and position >= before:
            continue
        container = _unit_ref("pallet", row["container_sscc"]) if row["container_id"] is not None else None
        out.append(_entry(row, ref, container=container))
    return out


def _add_pallets(conn, prov: Provenance, cases: dict[bytes, dict], units: dict[bytes, dict], timeline=True,
                 before: Position | None = None) -> list[custody.Carrier]:  # fmt: skip
    """The pallets `cases` (cases or totes) sat on: containment, and (with `timeline`) each pallet's events
    during the stay; with `before`, only what happened strictly before it (a pack picked out of its case then).
    Adds the pallets to `units` (whose readings count); returns what carried the cases and when
    (custody.unit_carriers)."""
    carriers: list[custody.Carrier] = []
    for case_id, state in _custody(conn, list(cases)).items():
        carriers += custody.unit_carriers(state)
        pallet_refs = {}
        for stay in state.stays:
            if before is not None and stay.start >= before:
                continue
            pallet_refs[stay.pallet_id] = _unit_ref("pallet", stay.pallet_sscc)
            units[stay.pallet_id] = pallet_refs[stay.pallet_id]
            prov.containment.append(_stay_containment(stay, cases[case_id], pallet_refs[stay.pallet_id]))
        if timeline:  # the pallets' events while the case sat on them (its palletisation is its own event)
            prov.timeline += [
                _step_entry(step, pallet_refs[step.unit])
                for step in state.path
                if step.unit != case_id
                and step.event != "packed"
                and (before is None or (step.block_number, step.log_index) < before)
            ]
    return carriers


def _custody(conn, case_ids: list[bytes]) -> dict[bytes, custody.Custody]:
    """The custody fold of each of these cases (app/services/custody.py: its stays on pallets, and the
    events of those pallets while it sat on them), in one query."""
    if not case_ids:
        return {}
    folded = custody.fold_many(case_ids, mirror.custody_events_of(conn, case_ids))
    return {case_id: state for case_id, state in folded.items() if state is not None}


def _step_entry(step: custody.Step, ref: dict) -> Entry:
    handoff = step.event in ("shipped", "received", "refused")
    return Entry(
        event=step.event,
        subject=ref,
        block_number=step.block_number,
        log_index=step.log_index,
        tx_hash=step.tx_hash,
        time=_utc(step.at),
        actor=step.actor,
        sender=step.sender if handoff else None,
        recipient=step.recipient if handoff else None,
    )


def _containment(unit: dict, container: dict, since: Position, since_time) -> dict:
    return {
        "unit": unit,
        "container": container,
        "packs": None,
        "since": {"block_number": since[0], "time": _utc(since_time)},
        "until": None,
        "_since": tuple(since),  # chain positions, for the access cut (left out of the answer)
        "_until": None,
    }


def _stay_containment(stay: custody.Stay, case_ref: dict, pallet_ref: dict) -> dict:
    out = _containment(case_ref, pallet_ref, stay.start, stay.start_time)
    if stay.end is not None:
        out["until"] = {"block_number": stay.end[0], "time": _utc(stay.end_time), "event": stay.end_event}
        out["_until"] = tuple(stay.end)
    return out


def _entry(row: dict, subject: dict, container: dict | None = None) -> Entry:
    return Entry(
        event=row["event"],
        subject=subject,
        block_number=row["block_number"],
        log_index=row["log_index"],
        tx_hash=bytes(row["tx_hash"]),
        time=_utc(row["timestamp"]),
        actor=bytes(row["actor"]),
        sender=bytes(row["sender"]) if row.get("sender") is not None else None,
        recipient=bytes(row["recipient"]) if row.get("recipient") is not None else None,
        container=container,
        packs=int(row["packs"]) if row.get("packs") is not None else None,
    )


def _finish(conn, prov: Provenance, units: dict[bytes, dict]) -> None:
    """Order the timeline, and add the parties and the cold chain of `units`."""
    prov.timeline.sort(key=lambda e: e.position)
    prov.containment.sort(key=lambda c: c["since"]["block_number"])
    prov.units = units
    _parties(conn, prov)
    prov.readings, prov.excursions = _cold_chain(conn, prov)


def _parties(conn, prov: Provenance) -> None:
    """The parties of the manufacturers and the timeline."""
    accounts: list[bytes] = []
    for account in [*prov.manufacturers, *(a for e in prov.timeline for a in (e.actor, e.sender, e.recipient))]:
        if account is not None and account not in accounts:
            accounts.append(account)
    found = mirror.parties(conn, accounts)  # the one account -> party rule
    prov.parties = {account: found[account].as_dict() for account in accounts}


def _cold_chain(conn, prov: Provenance, until: Position | None = None) -> tuple[dict, list[dict]]:
    """Readings summarised per sensor and overall (each reading weighted by its logger's interval), and the
    excursions the contract flagged on the answer's units, each only while the unit carried the object
    (Provenance.carried); with `until`, only those recorded up to that position."""
    units = prov.units
    if not units:
        return {"overall": None, "sensors": []}, []

    def recorded(row) -> bool:
        position = (row["block_number"], row["log_index"])
        return (until is None or position <= until) and prov.carried(bytes(row["unit_id"]), position)

    points: dict[bytes, list[tuple[int, int, int]]] = {}  # sensor -> (centi-degrees, weight s, unix time)
    sensor_units: dict[bytes, list[str]] = {}
    for row in filter(recorded, reads.readings(conn, list(units))):
        sensor, start, interval = bytes(row["sensor_id"]), int(row["start"]), int(row["interval"])
        weight = max(interval, 1)  # a zero interval (possible on chain, refused by the API) still counts once
        values = unpack_readings(bytes(row["readings"]))
        points.setdefault(sensor, []).extend((c, weight, start + i * interval) for i, c in enumerate(values))
        unit_sscc = units[bytes(row["unit_id"])]["sscc"]
        if unit_sscc not in sensor_units.setdefault(sensor, []):
            sensor_units[sensor].append(unit_sscc)
    everything = [p for series in points.values() for p in series]
    readings = {
        "overall": _summary(everything) if everything else None,
        "sensors": [
            {"sensor_id": _hex(sensor), "units": sensor_units[sensor], **_summary(series)}
            for sensor, series in points.items()
        ],
    }
    excursions = [
        {
            "unit": units[bytes(row["unit_id"])],
            "sensor_id": _hex(row["sensor_id"]),
            "time": _unix(row["time"]),
            "celsius": _celsius(row["value"]),
            "allowed": {"min_celsius": _celsius(row["min_temp"]), "max_celsius": _celsius(row["max_temp"])},
            "block_number": row["block_number"],
            "tx_hash": _hex(row["tx_hash"]),
            "recorded_at": _utc(row["timestamp"]),
        }
        for row in filter(recorded, reads.excursions(conn, list(units)))
    ]
    return readings, excursions


ABSOLUTE_ZERO_CENTI = -27315  # a logger reading at or below it is broken: the chain accepts any int16


def _summary(points: list[tuple[int, int, int]]) -> dict:
    usable = [p for p in points if p[0] > ABSOLUTE_ZERO_CENTI]
    impossible = len(points) - len(usable)
    if not usable:
        return {"count": 0, "impossible_readings": impossible}
    points = usable
    stats = mkt.summarise([c / 100 for c, _, _ in points], [w for _, w, _ in points])
    return {
        **({"impossible_readings": impossible} if impossible else {}),
        "count": stats.count,
        "min_celsius": _two_decimals(stats.min),
        "max_celsius": _two_decimals(stats.max),
        "mean_celsius": _two_decimals(stats.mean),
        "mkt_celsius": _two_decimals(stats.mkt),
        "first": _unix(min(t for _, _, t in points)),
        "last": _unix(max(t for _, _, t in points)),
    }


# --------------------------------------------------------------------------------------------- small helpers


def _unit_ref(kind: str, sscc, unit_id: bytes | None = None) -> dict:
    """A unit as answers name it: kind and SSCC; a consignment (no SSCC) by its id."""
    if sscc is None:
        return {"kind": kind, "sscc": None, "id": _hex(unit_id)}
    return {"kind": kind, "sscc": f"{int(sscc):018d}"}


def _hex(value) -> str:
    return "0x" + bytes(value).hex()


def _celsius(centi: int) -> float:
    return centi / 100


def _two_decimals(celsius: float) -> float:
    """Rounded half away from zero, as uploads are (app.services.readings.to_centi)."""
    return float(Decimal(repr(celsius)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def _utc(moment: datetime | None) -> datetime | None:
    return moment.astimezone(UTC) if moment is not None else None


def _unix(seconds: int) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(seconds), UTC)
    except (OverflowError, OSError, ValueError):  # beyond year 9999: a uint40 allows it, datetime does not
        return None


def _day(seconds: int) -> date | None:
    moment = _unix(seconds)
    return moment.date() if moment is not None else None
