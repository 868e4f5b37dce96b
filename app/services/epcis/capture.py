"""EPCIS capture: an EPCISDocument's events, mapped (CBV 2.0) to our write actions, accepted into the outbox.

Each event becomes one or more operations through the same path as the scanner API (app/services/writes.py:
role, pre-check against the mirror, Idempotency-Key): the API key's organisation is the actor, and an event
naming another party's location (readPoint, bizLocation, source owning party) is refused. An event's identity
is its eventID, else a hash of its content; an event the organisation captured before is not applied again.

GS1-Capture-Error-Behaviour: `rollback` (the default) applies nothing if one event is refused; `proceed`
applies every event that is accepted. The job is recorded either way (GET /epcis/capture/{id}).

A TransactionEvent (bizTransactionList: a purchase order, a despatch advice) or an AssociationEvent (a sensor
device to a unit) has no custody effect on chain: it maps to no operation but is recorded with the capture
(app/db/captures.py, table epcis_recorded_events), after checking that every object it names is one the caller
may see (the access policy: never commissioned, or no part of the caller's record, is refused alike). The
EPCIS queries of those objects export it back to the capturing organisation and regulators (export.py,
access.may_see_recorded_event). A TransformationEvent is refused (`unsupported`, field `type`).

The vocabulary and identifier forms are app/services/epcis/cbv.py's (shared with export and query).
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import jsonschema
import jsonschema_rs
from jsonschema.exceptions import best_match

from app.db import captures as captures_db
from app.errors import NotFound
from app.gs1 import GS1Error, LogisticUnit, Lot, Pack, parse
from app.ids import lgtin_id, sgtin_id, sscc_id
from app.services import outbox, prechecks, provenance, readings, writes
from app.services.epcis import cbv, event_hash
from app.services.orgs import Principal

CAPTURE_LIMIT = 1000  # events per capture document
EVENT_TYPES = ("ObjectEvent", "AggregationEvent")  # mapped to writes
RECORDED_TYPES = ("TransactionEvent", "AssociationEvent")  # recorded, no custody effect on chain
RECORD_LIMIT = 50  # objects one recorded event may name: each is checked against the caller's record
BEHAVIOURS = ("rollback", "proceed")
LOT_KEYS = ("cbvmda:lotNumber", "lotNumber", "urn:epcglobal:cbv:mda#lotNumber")
EXPIRY_KEYS = ("cbvmda:itemExpirationDate", "itemExpirationDate", "urn:epcglobal:cbv:mda#itemExpirationDate")
TEMPERATURE = ("gs1:Temperature", "Temperature", "https://gs1.org/voc/Temperature")


class Unmappable(Exception):
    """An event we cannot turn into a write: the field and the rule it broke."""

    def __init__(self, field: str, rule: str, message: str, status: int = 422):
        super().__init__(f"{field}: {message}")
        self.field, self.rule, self.message, self.status = field, rule, message, status


class BadDocument(Exception):
    """The document itself is malformed (not one event of it): a 400 naming the field."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field, self.message = field, message


@dataclass
class Recorded:
    """An event recorded without a write: its canonical form (EPC URIs, bare CBV words) and our objects' EPCs."""

    event: dict
    epcs: list[str]


@dataclass
class Write:
    """One write action an event maps to, and how the action's field names read in the event."""

    action: str
    body: dict
    fields: dict = field(default_factory=dict)  # action field prefix -> event field


def _word(value, field: str, vocabulary: frozenset[str]) -> str:
    """A CBV 2.0 word in any of its forms (bare, GS1 web URI, CBV 1.2 URN), or Unmappable naming the field."""
    word = cbv.cbv_word(value) if isinstance(value, str) else None
    if word not in vocabulary:
        raise Unmappable(field, "not_cbv", f"{value!r} is not a CBV 2.0 {field}")
    return word


def gln_of(value, where: str) -> str:
    """A location (SGLN, Digital Link /414/) or party (PGLN, /417/) as our 13-digit GLN."""
    if not isinstance(value, str):
        raise Unmappable(where, "format", "must be an SGLN or PGLN EPC URI or a GS1 Digital Link")
    try:
        return cbv.gln_of_sgln(value, where)
    except GS1Error as exc:
        raise Unmappable(where, exc.rule, exc.message) from None


def gln_of_location(value, where: str) -> str:
    text = value.get("id") if isinstance(value, dict) else None
    if not isinstance(text, str):
        raise Unmappable(where, "format", "must be an object with an id (urn:epc:id:sgln:… or a Digital Link)")
    return gln_of(text, f"{where}.id")


def event_identity(event: dict) -> str:
    """The event's eventID, else its GS1 event hash (CBV 2.0, app/services/epcis/event_hash.py). An event too
    broken to hash (it is refused by the mapping anyway) gets a SHA-256 of its JSON instead."""
    given = event.get("eventID")
    if isinstance(given, str) and given:
        return given
    try:
        return event_hash.event_id(event)
    except (KeyError, TypeError, ValueError, AttributeError):  # GS1Error is a ValueError
        content = {k: v for k, v in event.items() if k not in ("eventID", "recordTime")}
        digest = hashlib.sha256(json.dumps(content, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
        return f"sha-256:{digest}"


# --------------------------------------------------------------------------- the document


def check_document(doc) -> list[dict]:
    """The document's events, or BadDocument naming what is wrong with its shape."""
    if not isinstance(doc, dict):
        raise BadDocument("document", "must be a JSON object (an EPCISDocument)")
    if doc.get("type") != "EPCISDocument":
        raise BadDocument("type", "must be EPCISDocument")
    if str(doc.get("schemaVersion")) not in ("2.0", "2"):
        raise BadDocument("schemaVersion", "must be 2.0")
    if not isinstance(doc.get("creationDate"), str):
        raise BadDocument("creationDate", "required: the document's creation time (ISO 8601)")
    body = doc.get("epcisBody")
    events = body.get("eventList") if isinstance(body, dict) else None
    if not isinstance(events, list):
        raise BadDocument("epcisBody.eventList", "required: a list of events")
    if not events:
        raise BadDocument("epcisBody.eventList", "must not be empty")
    if len(events) > CAPTURE_LIMIT:
        raise BadDocument("epcisBody.eventList", f"at most {CAPTURE_LIMIT} events (GS1-EPCIS-Capture-Limit)")
    return events


SCHEMA_PATH = Path(__file__).parent / "schemas" / "EPCIS-JSON-Schema.json"
REQUIRED = re.compile(r"^'([^']+)' is a required property$")


@functools.cache
def _schema() -> dict:
    return json.loads(SCHEMA_PATH.read_text())


@functools.cache
def _validator() -> jsonschema.Draft7Validator:
    return jsonschema.Draft7Validator(_schema(), format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER)


def _formats(node) -> set[str]:
    if isinstance(node, dict):
        own = {node["format"]} if isinstance(node.get("format"), str) else set()
        return own.union(*(_formats(v) for v in node.values()))
    return set().union(*(_formats(v) for v in node)) if isinstance(node, list) else set()


@functools.cache
def _fast_validator() -> jsonschema_rs.Draft7Validator:
    """The same schema compiled by jsonschema-rs (Rust: a 1,000-event document in ~5 ms, jsonschema's validator
    takes ~750 ms). Its formats are jsonschema's own checks (what our FORMAT_CHECKER checks, date-time with
    rfc3339-validator; a format it does not check, such as uri, passes), so both give one verdict."""
    checker = jsonschema.Draft7Validator.FORMAT_CHECKER
    formats = {name: functools.partial(checker.conforms, format=name) for name in _formats(_schema())}
    return jsonschema_rs.Draft7Validator(_schema(), validate_formats=True, formats=formats)


def _path(parts: list) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _schema_field(error: jsonschema.ValidationError, parts: list) -> str:
    """The field an error of the official schema names (a missing property: that property)."""
    missing = REQUIRED.match(error.message) if error.validator == "required" else None
    return _path([*parts, missing[1]] if missing else parts)


def schema_errors(doc: dict) -> dict[int, tuple[str, str]]:
    """The official EPCIS 2.0 JSON schema's verdict: per event index, the field it refuses and why; a refusal
    outside the event list is BadDocument (the whole document is refused)."""
    if _fast_validator().is_valid(doc):  # the usual case; a refusal is explained by jsonschema's errors below
        return {}
    by_event: dict[int, list] = {}
    for error in _validator().iter_errors(doc):
        path = list(error.absolute_path)
        if len(path) >= 3 and path[:2] == ["epcisBody", "eventList"] and isinstance(path[2], int):
            by_event.setdefault(path[2], []).append(error)
        else:
            raise BadDocument(_schema_field(error, path) or "document", f"the EPCIS 2.0 JSON schema: {error.message}")
    out = {}
    for index, errors in by_event.items():
        error = best_match(errors)
        out[index] = (_schema_field(error, list(error.absolute_path)[3:]) or "event", error.message)
    return out


def _epcs(event: dict, key: str, kinds: tuple[str, ...], required: bool = True) -> list:
    values = event.get(key)
    if values is None and not required:
        return []
    if not isinstance(values, list) or not values:
        raise Unmappable(key, "required", "must be a non-empty list of EPCs")
    if len(values) > writes.MAX_UNITS and key != "epcList":
        raise Unmappable(key, "too_many", f"at most {writes.MAX_UNITS} EPCs")
    out = []
    for i, text in enumerate(values):
        try:
            item = parse(text, expect=kinds) if isinstance(text, str) else None
        except GS1Error as exc:
            raise Unmappable(f"{key}[{i}]", exc.rule if hasattr(exc, "rule") else "format", str(exc)) from None
        if item is None:
            raise Unmappable(f"{key}[{i}]", "format", "must be an EPC URI or a GS1 Digital Link")
        out.append(item)
    return out


def _ilmd(event: dict, keys: tuple[str, ...]):
    ilmd = event.get("ilmd") or {}
    if not isinstance(ilmd, dict):
        raise Unmappable("ilmd", "format", "must be an object")
    for key in keys:
        if key in ilmd:
            return ilmd[key]
    return None


def _one_kind(items: list, key: str):
    kinds = {type(item) for item in items}
    if len(kinds) != 1:
        raise Unmappable(key, "mixed", "lists both packs (SGTIN) and logistic units (SSCC): send two events")
    return kinds.pop()


def _destination(event: dict) -> str:
    for i, entry in enumerate(event.get("destinationList") or []):
        if isinstance(entry, dict) and cbv.cbv_word(str(entry.get("type"))) == "owning_party":
            return gln_of(entry.get("destination"), f"destinationList[{i}].destination")
    raise Unmappable("destinationList", "required", "shipping needs a destination of type owning_party (PGLN)")


def _check_locations(event: dict, principal: Principal) -> None:
    """The caller speaks for its own locations and party only."""
    for key in ("readPoint", "bizLocation"):
        if event.get(key) is not None and gln_of_location(event[key], key) != principal.gln:
            raise Unmappable(f"{key}.id", "not_your_location", f"names a location of another party, not GLN "
                             f"{principal.gln}", status=403)  # fmt: skip
    for i, entry in enumerate(event.get("sourceList") or []):
        if isinstance(entry, dict) and cbv.cbv_word(str(entry.get("type"))) == "owning_party":
            where = f"sourceList[{i}].source"
            if gln_of(entry.get("source"), where) != principal.gln:
                raise Unmappable(where, "not_your_party", "the source owning party must be your organisation",
                                 status=403)  # fmt: skip


def _common(event) -> tuple[str, str]:
    """(type, action) of an event of a type we capture, with its time; Unmappable naming the field if not."""
    if not isinstance(event, dict):
        raise Unmappable("event", "format", "must be an object")
    kind = event.get("type")
    if kind not in EVENT_TYPES + RECORDED_TYPES:
        raise Unmappable("type", "unsupported", f"must be one of {', '.join(EVENT_TYPES + RECORDED_TYPES)}")
    action = event.get("action")
    if action not in ("ADD", "OBSERVE", "DELETE"):
        raise Unmappable("action", "format", "must be ADD, OBSERVE or DELETE")
    if not isinstance(event.get("eventTime"), str):
        raise Unmappable("eventTime", "required", "the time of the event (ISO 8601)")
    if not isinstance(event.get("eventTimeZoneOffset"), str):
        raise Unmappable("eventTimeZoneOffset", "required", "the event's time zone offset (+hh:mm)")
    return kind, action


def map_event(conn, principal: Principal, event) -> list[Write]:
    """The writes one event stands for (CBV 2.0 bizStep, action, disposition), or Unmappable."""
    kind, action = _common(event)
    if event.get("bizStep") is None:
        raise Unmappable("bizStep", "required", "a CBV 2.0 business step")
    step = _word(event["bizStep"], "bizStep", cbv.BIZ_STEPS)
    disposition = _word(event["disposition"], "disposition", cbv.DISPOSITIONS) if event.get("disposition") else None
    _check_locations(event, principal)
    if kind in RECORDED_TYPES:
        raise Unmappable("type", "unsupported", f"a {kind} is recorded, not mapped to a write (record_event)")
    if kind == "AggregationEvent":
        return _aggregation(conn, event, action, step)
    return _object(conn, event, action, step, disposition)


def _aggregation(conn, event: dict, action: str, step: str) -> list[Write]:
    parent = event.get("parentID")
    try:
        unit = parse(parent, expect=["logistic_unit"]) if isinstance(parent, str) else None
    except GS1Error as exc:
        raise Unmappable("parentID", "format", str(exc)) from None
    if unit is None:
        raise Unmappable("parentID", "required", "the case, tote or pallet (SSCC)")
    if step == "unpacking" and action == "DELETE":
        return [Write("unpack", {"units": [unit.sscc]}, {"units[0]": "parentID"})]
    if step != "packing" or action != "ADD":
        raise Unmappable("bizStep", "unsupported", f"an AggregationEvent {action} with bizStep {step} has no "
                         "write: packing ADD or unpacking DELETE")  # fmt: skip
    children = _epcs(event, "childEPCs", ("pack", "logistic_unit"))
    if _one_kind(children, "childEPCs") is LogisticUnit:
        return [Write("pack_pallet", {"sscc": unit.sscc, "cases": [c.sscc for c in children]},
                      {"sscc": "parentID", "cases": "childEPCs"})]  # fmt: skip
    lots = set()
    for i, pack in enumerate(children):
        found = prechecks.serial(conn, sgtin_id(pack.gtin, pack.serial))
        if found is None:
            raise Unmappable(f"childEPCs[{i}]", "unknown_serial", f"serial {pack.serial} of GTIN {pack.gtin} was "
                             "never commissioned")  # fmt: skip
        lots.add((pack.gtin, found["lot"]))
    loose = all(prechecks.case_of_pack(conn, *_where(conn, p)) is None for p in children)
    if len(lots) == 1 and loose:
        gtin, lot = lots.pop()
        return [Write("pack_case", {"sscc": unit.sscc, "gtin": gtin, "lot": lot, "packs": children},
                      {"sscc": "parentID", "packs": "childEPCs", "lot": "childEPCs"})]  # fmt: skip
    return [Write("pack_tote", {"sscc": unit.sscc, "packs": children}, {"sscc": "parentID", "packs": "childEPCs"})]


def _where(conn, pack: Pack) -> tuple[bytes, int]:
    found = prechecks.serial(conn, sgtin_id(pack.gtin, pack.serial))
    return bytes(found["lot_id"]), found["leaf_index"]


def _object(conn, event: dict, action: str, step: str, disposition: str | None) -> list[Write]:
    if step == "commissioning":
        return _commissioning(conn, event, action)
    if step == "sensor_reporting":
        return _readings(event)
    if step in ("holding", "inspecting") or disposition == "recalled":
        return _status(event, step, disposition)
    if action != "OBSERVE":
        raise Unmappable("action", "unsupported", f"bizStep {step} is captured as an OBSERVE event")
    items = _epcs(event, "epcList", ("pack", "logistic_unit"))
    units = _one_kind(items, "epcList") is LogisticUnit
    refs = [i.sscc for i in items] if units else items
    key = "units" if units else "packs"
    names = {key: "epcList"}
    if step == "shipping":
        names["to"] = "destinationList"
        act = "ship" if units else "return_packs" if disposition == "returned" else "ship_packs"
        return [Write(act, {key: refs, "to": _destination(event)}, names)]
    if step in ("receiving", "void_shipping"):  # a receipt, or the recipient refusing it
        return [Write("receive" if step == "receiving" else "refuse", {key: refs}, names)]
    act = _PACK_STEPS.get("stolen" if disposition == "stolen" else step)
    if step in ("destroying", "decommissioning") and disposition not in (None, "destroyed", "inactive"):
        act = None
    if act is None:
        raise Unmappable("bizStep", "unsupported", f"no write for an ObjectEvent {action} with bizStep {step}"
                         + (f" and disposition {disposition}" if disposition else ""))  # fmt: skip
    return [Write(act, {"packs": _packs_only(refs, units)}, names)]


# bizStep (or the disposition stolen) -> the write of an OBSERVE event listing packs
_PACK_STEPS = {"accepting": "accept_return", "stolen": "report_stolen", "dispensing": "dispense",
               "destroying": "destroy", "decommissioning": "destroy"}  # fmt: skip


def _packs_only(refs: list, units: bool) -> list:
    if units:
        raise Unmappable("epcList", "packs_only", "this business step takes packs (SGTIN), not logistic units")
    return refs


def _commissioning(conn, event: dict, action: str) -> list[Write]:
    """A lot with its serials (commission_lot); a lot opened for batches (quantityList: open_lot); the next batch
    of serials of a lot opened on chain (commission_batch)."""
    if action != "ADD":
        raise Unmappable("action", "unsupported", "commissioning is an ADD event")
    lot = _ilmd(event, LOT_KEYS)
    expiry_text = _ilmd(event, EXPIRY_KEYS)
    if not isinstance(lot, str) or not lot:
        raise Unmappable("ilmd.lotNumber", "required", "commissioning names the lot (cbvmda:lotNumber)")
    batch = _batch(conn, event, lot)
    if batch is not None:
        return batch
    try:
        expiry = date.fromisoformat(expiry_text) if isinstance(expiry_text, str) else None
    except ValueError:
        expiry = None
    if expiry is None:
        raise Unmappable("ilmd.itemExpirationDate", "required", "the expiry date (YYYY-MM-DD)")
    quantities = event.get("quantityList")
    if quantities and not event.get("epcList"):  # a lot opened for batches: class level, with its capacity
        entry = quantities[0] if isinstance(quantities, list) and len(quantities) == 1 else None
        try:
            cls = parse(entry.get("epcClass"), expect=["lot"]) if isinstance(entry, dict) else None
        except GS1Error as exc:
            raise Unmappable("quantityList[0].epcClass", "format", str(exc)) from None
        qty = entry.get("quantity") if entry else None
        if cls is None or not isinstance(qty, int) or not 1 <= qty <= writes.MAX_CAPACITY:
            raise Unmappable("quantityList", "format", "one entry: epcClass (LGTIN) and quantity (the capacity)")
        if cls.lot != lot:
            raise Unmappable("quantityList[0].epcClass", "lot_mismatch", f"names lot {cls.lot}, ilmd lot {lot}")
        return [Write("open_lot", {"gtin": cls.gtin, "lot": lot, "expiry": expiry, "capacity": qty},
                      {"gtin": "quantityList[0].epcClass", "lot": "ilmd.lotNumber", "expiry": "ilmd.itemExpirationDate",
                       "capacity": "quantityList[0].quantity"})]  # fmt: skip
    values = event.get("epcList")
    if isinstance(values, list) and len(values) > writes.MAX_SERIALS:
        raise Unmappable("epcList", "too_many", f"at most {writes.MAX_SERIALS} serials")
    packs = _epcs(event, "epcList", ("pack",))
    gtins = {p.gtin for p in packs}
    if len(gtins) != 1:
        raise Unmappable("epcList", "mixed", "commissioning lists serials of one GTIN (one lot) per event")
    names = {"gtin": "epcList", "lot": "ilmd.lotNumber", "expiry": "ilmd.itemExpirationDate", "serials": "epcList"}
    body = {"gtin": gtins.pop(), "lot": lot, "expiry": expiry, "serials": [p.serial for p in packs]}
    return [Write("commission_lot", body, names)]


def _batch(conn, event: dict, lot: str) -> list[Write] | None:
    """commission_batch when the event's serials are of a lot opened for batches (a capacity on chain)."""
    values = event.get("epcList")
    first = values[0] if isinstance(values, list) and values and isinstance(values[0], str) else None
    try:
        pack = parse(first, expect=["pack"]) if first else None
    except GS1Error:
        return None  # named by the full check below
    state = prechecks.lot(conn, lgtin_id(pack.gtin, lot)) if pack else None
    if state is None or state.serial_count >= state.capacity:  # a whole lot (or an opened one that is full)
        return None
    packs = _epcs(event, "epcList", ("pack",))
    if {p.gtin for p in packs} != {pack.gtin}:
        raise Unmappable("epcList", "mixed", "commissioning lists serials of one GTIN (one lot) per event")
    return [Write("commission_batch", {"gtin": pack.gtin, "lot": lot, "serials": [p.serial for p in packs]},
                  {"lot": "ilmd.lotNumber", "serials": "epcList"})]  # fmt: skip


def _status(event: dict, step: str, disposition: str | None) -> list[Write]:
    """holding (quarantine), inspecting with sellable_accessible (clearance), recalled (a lot's recall)."""
    if disposition == "recalled" or step == "holding" or disposition == "sellable_accessible":
        pass
    else:
        raise Unmappable("disposition", "unsupported", f"bizStep {step} needs disposition sellable_accessible "
                         "(a clearance) or a holding step (a quarantine)")  # fmt: skip
    epcs, classes = event.get("epcList") or [], event.get("quantityList") or []
    if classes and not epcs:
        entry = classes[0] if isinstance(classes, list) and len(classes) == 1 else None
        try:
            cls = parse(entry.get("epcClass"), expect=["lot"]) if isinstance(entry, dict) else None
        except GS1Error as exc:
            raise Unmappable("quantityList[0].epcClass", "format", str(exc)) from None
        if cls is None:
            raise Unmappable("quantityList", "format", "one entry naming the lot (LGTIN)")
        target, names = {"gtin": cls.gtin, "lot": cls.lot}, {"gtin": "quantityList", "lot": "quantityList"}
    else:
        units = _epcs(event, "epcList", ("logistic_unit",))
        if len(units) != 1:
            raise Unmappable("epcList", "one_unit", "a status change names one case or pallet (or a lot by class)")
        target, names = {"sscc": units[0].sscc}, {"sscc": "epcList[0]"}
    if disposition == "recalled":
        if "sscc" in target:
            raise Unmappable("epcList", "lot_only", "a recall names a lot (quantityList with an LGTIN)")
        return [Write("recall", target, names)]
    return [Write("clear_quarantine" if disposition == "sellable_accessible" else "quarantine", target, names)]


def _readings(event: dict) -> list[Write]:
    units = _epcs(event, "epcList", ("logistic_unit",))
    if len(units) != 1:
        raise Unmappable("epcList", "one_unit", "sensor readings are captured for one case or pallet per event")
    elements = event.get("sensorElementList")
    if not isinstance(elements, list) or len(elements) != 1 or not isinstance(elements[0], dict):
        raise Unmappable("sensorElementList", "format", "one sensor element with its reports")
    meta = elements[0].get("sensorMetadata") or {}
    device = meta.get("deviceID") if isinstance(meta, dict) else None
    if not isinstance(device, str) or not device:
        raise Unmappable("sensorElementList[0].sensorMetadata.deviceID", "required", "the data logger's id")
    reports = elements[0].get("sensorReport")
    if not isinstance(reports, list) or not reports:
        raise Unmappable("sensorElementList[0].sensorReport", "required", "a non-empty list of readings")
    times, values = [], []
    for i, report in enumerate(reports):
        where = f"sensorElementList[0].sensorReport[{i}]"
        if not isinstance(report, dict) or report.get("type") not in TEMPERATURE:
            raise Unmappable(f"{where}.type", "unsupported", "only Temperature readings")
        if report.get("uom") not in ("CEL", None):
            raise Unmappable(f"{where}.uom", "unsupported", "readings in CEL (°C)")
        times.append(report.get("time"))
        values.append(report.get("value"))
    stamps = [_timestamp(t, f"sensorElementList[0].sensorReport[{i}].time") for i, t in enumerate(times)]
    interval = stamps[1] - stamps[0] if len(stamps) > 1 else 60
    for i, stamp in enumerate(stamps):
        if stamp != stamps[0] + i * interval:
            raise Unmappable(f"sensorElementList[0].sensorReport[{i}].time", "uneven",
                             f"readings must be evenly spaced ({interval} s apart, as the first two)")  # fmt: skip
    try:
        parsed = readings.from_json(stamps[0], interval, values)
    except readings.ReadingsError as exc:
        where = exc.field.replace("readings", "sensorElementList[0].sensorReport", 1)
        raise Unmappable(where, "format", exc.message) from None
    body = {"sscc": units[0].sscc, "sensor_id": device, "readings": parsed}
    return [Write("record_readings", body, {"sscc": "epcList[0]", "readings": "sensorElementList[0].sensorReport"})]


def _timestamp(value, where: str) -> int:
    try:
        when = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        when = None
    if when is None or when.tzinfo is None:
        raise Unmappable(where, "format", "an ISO 8601 time with its zone")
    return int(when.timestamp())


# --------------------------------------------------------------------------- recorded events (no custody effect)


def record_event(conn, principal: Principal, event, checked: dict | None = None) -> Recorded:
    """A TransactionEvent or AssociationEvent in canonical form, every object it names checked against the
    caller's record; Unmappable naming the field otherwise. `checked`: the verdicts of objects already checked
    in this capture (a document's events often name the same pallet: its record is read once)."""
    checked = {} if checked is None else checked
    kind, action = _common(event)
    out = _recorded_head(principal, event, kind, action)
    objects = _recorded_objects(event, kind, out)
    if len(objects) > RECORD_LIMIT:
        raise Unmappable("epcList" if kind == "TransactionEvent" else "childEPCs", "too_many",
                         f"a recorded event names at most {RECORD_LIMIT} objects")  # fmt: skip
    for where, item in objects:
        key = _uri(item)
        if key not in checked:
            checked[key] = _in_record(conn, principal, item)
        if not checked[key]:
            raise Unmappable(where, "not_your_object", "not an object of your record (never commissioned, or you "
                             "took no part in it)", status=403)  # fmt: skip
    return Recorded(out, list(dict.fromkeys(_uri(item) for _, item in objects)))


def _uri(item) -> str:
    """The canonical EPC URI of one of our identifiers (a pack's SGTIN without anything parsed beside it)."""
    return cbv.epc_uri(Pack(item.gtin, item.serial) if isinstance(item, Pack) else item)


def _recorded_head(principal: Principal, event: dict, kind: str, action: str) -> dict:
    """Everything of a recorded event but its objects: time, CBV words, the caller's own places, transactions."""
    out: dict = {"type": kind, "eventTime": event["eventTime"], "eventTimeZoneOffset": event["eventTimeZoneOffset"],
                 "action": action}  # fmt: skip
    for key, vocabulary in (("bizStep", cbv.BIZ_STEPS), ("disposition", cbv.DISPOSITIONS)):
        if event.get(key) is not None:
            out[key] = _word(event[key], key, vocabulary)
    _check_locations(event, principal)
    for key in ("readPoint", "bizLocation"):
        if event.get(key) is not None:
            out[key] = {"id": cbv.sgln(gln_of_location(event[key], key))}
    transactions = _biz_transactions(event, required=kind == "TransactionEvent")
    if transactions:
        out["bizTransactionList"] = transactions
    for key in ("sourceList", "destinationList"):
        if event.get(key):
            out[key] = _source_destinations(event, key)
    return out


def _recorded_objects(event: dict, kind: str, out: dict) -> list[tuple[str, object]]:
    """The objects of ours a recorded event names, (field, identifier), their canonical EPCs set in `out`."""
    objects: list[tuple[str, object]] = []
    transaction = kind == "TransactionEvent"
    epc_key, quantity_key = ("epcList", "quantityList") if transaction else ("childEPCs", "childQuantityList")
    parent = event.get("parentID")
    if not transaction:  # the device (or other thing) the objects are associated with: any URI
        if not isinstance(parent, str) or ":" not in parent:
            raise Unmappable("parentID", "required", "the device the objects are associated with (a URI, e.g. GIAI)")
        out["parentID"] = parent
    elif parent is not None:
        unit = _one(parent, "parentID", ("logistic_unit",))
        out["parentID"] = cbv.epc_uri(unit)
        objects.append(("parentID", unit))
    items = _epcs(event, epc_key, ("pack", "logistic_unit"), required=False)
    out[epc_key] = [_uri(item) for item in items]
    objects += [(f"{epc_key}[{i}]", item) for i, item in enumerate(items)]
    quantities = _quantity_list(event, quantity_key)
    if quantities:
        out[quantity_key] = [q for q, _ in quantities]
        objects += [(f"{quantity_key}[{i}].epcClass", lot) for i, (_, lot) in enumerate(quantities)]
    if not items and not quantities:
        raise Unmappable(epc_key, "required", f"a {kind} names its objects: {epc_key} (SGTIN, SSCC) or "
                         f"{quantity_key} (LGTIN)")  # fmt: skip
    return objects


def _one(value, where: str, kinds: tuple[str, ...]):
    try:
        item = parse(value, expect=kinds) if isinstance(value, str) else None
    except GS1Error as exc:
        raise Unmappable(where, exc.rule, exc.message) from None
    if item is None:
        raise Unmappable(where, "format", "must be an EPC URI or a GS1 Digital Link")
    return item


def _biz_transactions(event: dict, required: bool) -> list[dict]:
    items = event.get("bizTransactionList")
    if items is None and not required:
        return []
    if not isinstance(items, list) or not items:
        raise Unmappable("bizTransactionList", "required", "a non-empty list of business transactions (type and "
                         "bizTransaction)")  # fmt: skip
    out = []
    for i, item in enumerate(items):
        ident = item.get("bizTransaction") if isinstance(item, dict) else None
        if not isinstance(ident, str) or ":" not in ident:
            raise Unmappable(f"bizTransactionList[{i}].bizTransaction", "format", "the transaction's URI (e.g. "
                             "urn:epcglobal:cbv:bt:<GLN>:<number>)")  # fmt: skip
        entry = {"bizTransaction": ident}
        if item.get("type") is not None:
            word = cbv.cbv_word(item["type"]) if isinstance(item["type"], str) else ""
            if word not in cbv.BTT_WORDS and ":" not in word:
                raise Unmappable(f"bizTransactionList[{i}].type", "not_cbv", f"{item['type']!r} is not a CBV 2.0 "
                                 "business transaction type (nor a URI of its own)")  # fmt: skip
            entry["type"] = word
        out.append(entry)
    return out


def _source_destinations(event: dict, key: str) -> list[dict]:
    name = "source" if key == "sourceList" else "destination"
    out = []
    for i, item in enumerate(event[key] if isinstance(event[key], list) else [None]):
        word = cbv.cbv_word(item.get("type")) if isinstance(item, dict) and isinstance(item.get("type"), str) else ""
        if word not in cbv.SOURCE_DEST_TYPES:
            raise Unmappable(f"{key}[{i}].type", "not_cbv", "owning_party, possessing_party or location")
        gln_of(item.get(name), f"{key}[{i}].{name}")  # an SGLN or PGLN
        out.append({"type": word, name: item[name]})
    return out


def _quantity_list(event: dict, key: str) -> list[tuple[dict, Lot]]:
    values = event.get(key)
    if values is None:
        return []
    if not isinstance(values, list):
        raise Unmappable(key, "format", "a list of quantity elements (epcClass, quantity, uom)")
    out = []
    for i, entry in enumerate(values):
        where = f"{key}[{i}]"
        lot = _one(entry.get("epcClass") if isinstance(entry, dict) else None, f"{where}.epcClass", ("lot",))
        element: dict = {"epcClass": cbv.epc_uri(lot)}
        quantity = entry.get("quantity")
        if quantity is not None:
            if isinstance(quantity, bool) or not isinstance(quantity, int | float) or quantity < 0:
                raise Unmappable(f"{where}.quantity", "format", "a non-negative number")
            element["quantity"] = quantity
        if isinstance(entry.get("uom"), str):
            element["uom"] = entry["uom"]
        out.append((element, lot))
    return out


def _in_record(conn, principal: Principal, item) -> bool:
    """Whether the object exists and the caller may see its record (not verdict-only: the access policy)."""
    try:
        if isinstance(item, Pack):
            prov = provenance.pack_provenance(conn, Pack(item.gtin, item.serial))
        elif isinstance(item, LogisticUnit):
            prov = provenance.unit_provenance(conn, item.sscc)
        else:
            prov = provenance.lot_provenance(conn, item.gtin, item.lot)
    except NotFound:
        return False
    return not provenance.visibility(conn, principal, prov).verdict_only


# --------------------------------------------------------------------------- the capture job


def _event_field(write: Write, action_field: str) -> str:
    """The event's field for a field the write action names (units[2] -> epcList[2])."""
    head, sep, rest = action_field.partition("[")
    if action_field in write.fields:
        return write.fields[action_field]
    mapped = write.fields.get(head)
    if mapped is None:
        return action_field
    return f"{mapped}[{rest}" if sep and "[" not in mapped else mapped


def _digest(action: str, content: bytes, k: int) -> bytes:
    """What an operation's key (the event's identity and k) is bound to: the action and what the event says (its
    content hash, as the eventID check compares it: recordTime and the form of its URIs and words aside)."""
    return writes.request_digest(action, f"epcis\0{k}\0".encode() + content)


def _content(event) -> bytes:
    """What an event says, canonically (its GS1 event hash: the same in JSON and XML, URN or bare CBV words): an
    eventID sent again must say the same."""
    return _identify(event, 0)[1]


def _identify(event, index: int) -> tuple[str, bytes]:
    """(the event's identity, the SHA-256 of what it says): event_identity and _content from one pre-hash."""
    if not isinstance(event, dict):
        return f"index:{index}", _plain_sha256(event)
    try:
        digest = hashlib.sha256(event_hash.pre_hash(event).encode()).digest()
    except (KeyError, TypeError, ValueError, AttributeError):  # too broken to hash: refused by the mapping anyway
        return event_identity(event), _plain_sha256({k: v for k, v in event.items() if k != "recordTime"})
    given = event.get("eventID")
    identity = given if isinstance(given, str) and given else f"ni:///sha-256;{digest.hex()}?ver=CBV2.0"
    return identity, digest


def _plain_sha256(content) -> bytes:
    return hashlib.sha256(json.dumps(content, sort_keys=True, separators=(",", ":"), default=str).encode()).digest()


def _key(identity: str, k: int) -> str:
    return f"epcis:{hashlib.sha256(identity.encode()).hexdigest()}:{k}"


@dataclass
class _Event:
    """An event of the document on its way: mapped (or recorded), then pre-checked, then stored."""

    index: int
    identity: str
    state: dict
    writes: list[Write]
    recorded: Recorded | None
    event: dict
    content: bytes  # the SHA-256 of what it says (_identify)


class _Refused(Exception):
    """An event refused at capture: its error entry (eventIndex, eventID, field, reason, detail, status)."""

    def __init__(self, error: dict):
        super().__init__(error["detail"])
        self.error = error


def _error(item: _Event, field: str, reason: str, detail: str, status: int) -> dict:
    return {"eventIndex": item.index, "eventID": item.identity, "field": field, "reason": reason, "detail": detail,
            "status": status}  # fmt: skip


def capture(conn, principal: Principal, doc, behaviour: str, validate: bool = True) -> dict:
    """Run a capture in the caller's transaction; returns the job row. With rollback, a refused event leaves
    nothing but the failed job (the caller's transaction is rolled back to the start, then the job stored).
    validate: check the document against the official JSON schema (not for a document read from XML).

    Set-based: the document's events are looked up among those captured before in one statement; each of the
    others is mapped and pre-checked in turn, against one read of the logistic units the document names
    (prechecks.one_document); the operations of the usual writes (those stored_later allows) are stored in one
    statement at the end, so they take no savepoint; a write with side tables (commissioning) or a status change
    is stored as it is pre-checked, inside a savepoint, as a scan is. The applied events are stored in one
    statement."""
    events = check_document(doc)
    invalid = schema_errors(doc) if validate else {}
    capture_id = str(uuid.uuid4())
    identified = [_identify(event, index) for index, event in enumerate(events)]
    states, errors, todo = _sort_out(conn, principal, events, identified)
    later: list[tuple[_Event, tuple[str, dict, str, bytes]]] = []  # operations stored at the end
    applied: list[_Event] = []
    checked: dict[str, bool] = {}  # objects recorded events name, checked against the caller's record
    with prechecks.one_document(conn, _units_in(todo)):
        for item in todo:
            try:
                item.writes, item.recorded = _map(conn, principal, item.event, invalid.get(item.index), checked)
                _apply(conn, principal, item, later)
            except Unmappable as refused:
                errors.append(_error(item, refused.field, refused.rule, refused.message, refused.status))
                item.state["state"] = "refused"
                continue
            except _Refused as refused:
                errors.append(refused.error)
                item.state["state"], item.state["operations"] = "refused", []
                continue
            applied.append(item)
    if later and not (errors and behaviour == "rollback"):
        errors += _store_later(conn, principal, later, applied)
    errors.sort(key=lambda e: e["eventIndex"])
    if errors and behaviour == "rollback":
        conn.rollback()
        for state in states:
            if state["state"] in ("applied", "recorded"):
                state["state"], state["operations"] = "not_applied", []
        applied = []
    status = "failed" if errors else "success"
    row = captures_db.insert_capture(conn, capture_id, principal.organisation_id, status, behaviour, len(events),
                                     states, errors)  # fmt: skip
    captures_db.insert_events(conn, principal.organisation_id, capture_id,
                              [(item.identity, item.index, item.state["operations"], identified[item.index][1])
                               for item in applied])  # fmt: skip
    for item in applied:
        if item.recorded is not None:
            captures_db.insert_recorded(conn, principal.organisation_id, item.identity, capture_id, item.index,
                                        item.recorded.event["type"], item.recorded.epcs, item.recorded.event)  # fmt: skip
    return row


def _sort_out(conn, principal: Principal, events: list,
              identified: list[tuple[str, bytes]]) -> tuple[list[dict], list[dict], list[_Event]]:  # fmt: skip
    """(each event's state, the errors so far, the events to map and apply): an event captured before is not
    applied again (refused if its eventID now says something else)."""
    seen_rows = captures_db.events_by_ids(conn, principal.organisation_id, [i for i, _ in identified])
    states, errors, todo = [], [], []
    for index, event in enumerate(events):
        identity, content = identified[index]
        state = {"eventIndex": index, "eventID": identity, "state": "applied", "operations": []}
        states.append(state)
        item = _Event(index, identity, state, [], None, event, content)
        seen = seen_rows.get(identity)
        if seen is not None and bytes(seen["content_sha256"]) != content:
            errors.append(_error(item, "eventID", "event_id_conflict", f"event {identity} was captured before "
                                 f"(capture {seen['capture_id']}) with other content", 409))  # fmt: skip
            state["state"] = "refused"
        elif seen is not None:
            state["state"], state["operations"] = "already_captured", [str(o) for o in seen["operation_ids"]]
            state["capturedBy"] = str(seen["capture_id"])
        else:
            todo.append(item)
    return states, errors, todo


def _store_later(conn, principal: Principal, later: list, applied: list[_Event]) -> list[dict]:
    """Store the queued operations in one statement; the errors of events whose key was taken meanwhile for
    another request (the same event captured at the same moment), dropped from `applied`."""
    errors = []
    results = outbox.accept_many(conn, principal.organisation_id, [row for _, row in later])
    for (item, _), result in zip(later, results, strict=True):
        if isinstance(result, outbox.IdempotencyConflict):
            errors.append(_error(item, "eventID", "conflict", str(result), 409))
            item.state["state"], item.state["operations"] = "refused", []
            applied.remove(item)
        else:
            item.state["operations"].append(result)
    return errors


def _map(conn, principal: Principal, event, invalid: tuple[str, str] | None,
         checked: dict[str, bool]) -> tuple[list[Write], Recorded | None]:  # fmt: skip
    """The event's writes, or what is recorded of it (a TransactionEvent, an AssociationEvent); the mapping names
    what it refuses first, then the official schema."""
    if isinstance(event, dict) and event.get("type") in RECORDED_TYPES:
        recorded = record_event(conn, principal, event, checked)
        if invalid is not None:
            raise Unmappable(invalid[0], "schema", f"the EPCIS 2.0 JSON schema: {invalid[1]}")
        return [], recorded
    writes_ = map_event(conn, principal, event)
    if invalid is not None:
        raise Unmappable(invalid[0], "schema", f"the EPCIS 2.0 JSON schema: {invalid[1]}")
    return writes_, None


UNIT_FIELDS = ("epcList", "childEPCs", "parentID")  # where an event names logistic units (SSCC)


def _units_in(items: list[_Event]) -> list[bytes]:
    """The ids of the logistic units the events name (their custody is read once for the document); what is not
    a well-formed SSCC is left to the mapping to refuse."""
    out = []
    for item in items:
        event = item.event if isinstance(item.event, dict) else {}
        for name in UNIT_FIELDS:
            value = event.get(name)
            for text in [value] if isinstance(value, str) else value if isinstance(value, list) else []:
                try:
                    unit = parse(text, expect=["logistic_unit"]) if isinstance(text, str) else None
                except GS1Error:
                    continue
                if unit is not None:
                    out.append(sscc_id(unit.sscc))
    return out


def _apply(conn, principal: Principal, item: _Event, later: list) -> None:
    """Pre-check the event's writes: an operation stored later is queued on `later`, any other is stored now (in a
    savepoint, dropped if the event is refused); _Refused naming the event's field otherwise."""
    if item.recorded is not None:
        item.state["state"] = "recorded"  # kept with the capture, no operation: no custody effect on chain
        return
    deferred = len(item.writes) == 1 and writes.stored_later(item.writes[0].action)
    if not deferred:
        captures_db.savepoint(conn)
    try:
        for k, write in enumerate(item.writes):
            _write(conn, principal, item, k, write, later if deferred else None)
    except (Unmappable, writes.Rejected) as refused:
        if not deferred:
            captures_db.rollback_to(conn)
        raise _Refused(_error(item, refused.field, refused.rule, refused.message, refused.status)) from None
    except outbox.IdempotencyConflict as exc:
        if not deferred:
            captures_db.rollback_to(conn)
        raise _Refused(_error(item, "eventID", "conflict", str(exc), 409)) from None
    if not deferred:
        captures_db.release(conn)


def _write(conn, principal: Principal, item: _Event, k: int, write: Write, later: list | None) -> None:
    """One write of the event: pre-checked, its operation queued on `later` (or, None, stored now); a replayed key
    answers its first operation. Rejected names the event's field."""
    spec = writes.ACTIONS[write.action]
    if not principal.has_role(*spec.roles):
        raise Unmappable("bizStep", "forbidden", f"{write.action} needs the role {' or '.join(spec.roles)}",
                         status=403)  # fmt: skip
    key, digest = _key(item.identity, k), _digest(write.action, item.content, k)
    try:
        if later is None:
            row, _ = writes.submit(conn, principal, write.action, write.body, b"", key, digest=digest,
                                   sightings=False)  # fmt: skip
        else:
            payload, row = writes.prepare(conn, principal, write.action, write.body, key, digest, sightings=False)
    except writes.Rejected as refused:
        raise writes.Rejected(refused.status, _event_field(write, refused.field), refused.rule,
                              refused.message) from None  # fmt: skip
    if row is not None:
        item.state["operations"].append(str(row["id"]))
    else:
        later.append((item, (write.action, {n: v for n, v in payload.items() if not n.startswith("_")}, key, digest)))


def job(conn, capture_id: str, organisation_id: int) -> dict | None:
    """The capture job with each event's operations as they are now (status, tx hash). Accepted, it is `running`
    while an operation it applied is still pending or submitted, `failed` if the chain refused one (named in
    `errors`, field `operation`), `success` once all are confirmed; refused at capture, `failed`."""
    row = captures_db.capture_by_id(conn, capture_id)
    if row is None or row["organisation_id"] != organisation_id:
        return None
    running = False
    found = outbox.rows_of(conn, [op for state in row["events"] for op in state["operations"]], organisation_id)
    for state in row["events"]:
        state["operations"] = [_operation(found.get(op), op) for op in state["operations"]]
        if state["state"] != "applied":
            continue
        for op in state["operations"]:
            running |= op["status"] in ("pending", "submitted")
            if op["status"] == "failed":
                reason = (op.get("error") or {}).get("error", "failed")
                row["errors"].append({"eventIndex": state["eventIndex"], "eventID": state["eventID"],
                                      "field": "operation", "reason": reason, "status": None,
                                      "detail": f"operation {op['id']} ({op['action']}) failed on chain"})  # fmt: skip
    if row["errors"]:
        row["status"] = "failed"
    elif running:
        row["status"] = "running"
    return row


def _operation(row: dict | None, op_id: str) -> dict:
    if row is None:
        return {"id": op_id, "status": "unknown"}
    tx = "0x" + bytes(row["tx_hash"]).hex() if row["tx_hash"] is not None else None
    return {"id": op_id, "action": row["action"], "status": row["status"], "tx_hash": tx, "error": row["error"]}
