"""Our custody events as EPCIS 2.0 events (JSON-LD), from a provenance answer already cut by the access policy.

`events(conn, prov, vis)` turns each timeline entry of app/services/provenance.Provenance into one EPCIS event
(the CBV words of app/services/epcis/cbv.EVENT_VOCABULARY), adds one sensor_reporting ObjectEvent per readings
transaction on the units that held the object (alarms for the readings the contract flagged as excursions),
and `document` wraps a list of them in an EPCISQueryDocument with master data (EPCClass of each product,
location of each party) in its header.

Every event names its transaction in our extension namespace (`pt:` → cbv.PT_NS): pt:txHash, pt:blockNumber,
pt:logIndex, pt:event (our event name). eventID is the GS1 event hash of the event (event_hash.py): the same
event read through any object's answer has the same id.

`recorded_events` adds the events captured without a custody effect on chain (TransactionEvent, AssociationEvent:
app/services/epcis/capture.py) that name the object, to the organisation that captured them and regulators
(access.may_see_recorded_event). Such an event has no transaction: pt:event `recorded`, pt:captureID, and for
chain order pt:blockNumber = the mirror's head when it was captured, pt:logIndex = RECORDED_LOG_INDEX (after that
block's logs). Its eventID is the one it was captured under (its own, else its GS1 event hash).
"""

from __future__ import annotations

from datetime import UTC, datetime

from app.db import captures as captures_db
from app.db import epcis as reads
from app.ids import sscc_id, unpack_readings
from app.services import access
from app.services.epcis import cbv, event_hash
from app.services.provenance import Entry, Provenance

OFFSET = "+00:00"  # block times are UTC
RECORDED_LOG_INDEX = 2**31 - 1  # a recorded event sorts after the logs of the block the mirror had reached


def _time(moment: datetime | None) -> str:
    moment = (moment or datetime.fromtimestamp(0, UTC)).astimezone(UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _hex(value) -> str:
    return "0x" + bytes(value).hex()


def unit_epc(ref: dict) -> str | None:
    """EPC of a case / pallet / tote (SSCC), or our URI of a consignment (it has no GS1 key)."""
    if ref.get("sscc"):
        return cbv.sscc(ref["sscc"])
    if ref.get("id"):
        return f"{cbv.PT_NS}consignments/{ref['id']}"
    return None


def _subject_epcs(ref: dict) -> tuple[list[str], list[dict]]:
    """(epcList, quantityList) of a timeline subject."""
    kind = ref.get("kind")
    if kind == "pack":
        return [cbv.sgtin(ref["gtin"], ref["serial"])], []
    if kind in ("lot", "packs"):
        if ref.get("gtin") and ref.get("lot"):
            return [], [{"epcClass": cbv.lgtin(ref["gtin"], ref["lot"])}]
        return [], []
    epc = unit_epc(ref)
    return ([epc] if epc else []), []


def _place(prov: Provenance, account: bytes | None) -> dict | None:
    party = prov.parties.get(account) if account is not None else None
    if not party or not party.get("gln"):
        return None
    return {"id": cbv.sgln(party["gln"])}


def _party_list(prov: Provenance, account: bytes | None, key: str) -> list[dict]:
    party = prov.parties.get(account) if account is not None else None
    if not party or not party.get("gln"):
        return []
    return [{"type": "owning_party", key: cbv.pgln(party["gln"])}]


def entry_event(prov: Provenance, entry: Entry) -> dict:
    """One timeline entry as an EPCIS 2.0 event."""
    vocab = cbv.EVENT_VOCABULARY[entry.event]
    event: dict = {"type": vocab.event_type, "eventTime": _time(entry.time), "eventTimeZoneOffset": OFFSET}
    event["recordTime"] = event["eventTime"]
    if vocab.event_type == "AggregationEvent":
        _aggregation(prov, entry, event)
    else:
        _objects(prov, entry, event)
    event["action"] = vocab.action
    event["bizStep"] = vocab.biz_step
    if vocab.disposition:
        event["disposition"] = vocab.disposition
    _where(prov, entry, event)
    if entry.container is not None and vocab.event_type == "ObjectEvent":
        container = unit_epc(entry.container)
        if container:
            event["pt:container"] = container
    name = "packed" if entry.event == "palletised" else entry.event  # one chain event: the pallet's packing
    event["pt:event"] = name
    event["pt:txHash"] = _hex(entry.tx_hash)
    event["pt:blockNumber"] = entry.block_number
    event["pt:logIndex"] = entry.log_index
    return event


def _aggregation(prov: Provenance, entry: Entry, event: dict) -> None:
    """parentID (the container) and its children: a case or pack moved in, or the packs of a lot packed."""
    epcs, quantities = _subject_epcs(entry.subject)
    parent = entry.container if entry.event in ("palletised", "moved") else entry.subject
    event["parentID"] = unit_epc(parent or {})
    children, child_quantities = (epcs, quantities) if parent is not entry.subject else ([], [])
    if entry.event == "packed" and prov.subject.get("kind") == "pack" and entry.subject.get("sscc"):
        if entry.subject["sscc"] in {c["container"].get("sscc") for c in prov.containment}:
            children = [cbv.sgtin(prov.subject["gtin"], prov.subject["serial"])]
    elif entry.event == "packed" and prov.subject.get("gtin") and prov.subject.get("lot"):
        child_quantities = [{"epcClass": cbv.lgtin(prov.subject["gtin"], prov.subject["lot"])}]
    if entry.packs is not None and child_quantities:
        child_quantities = [{**child_quantities[0], "quantity": entry.packs}]
    event["childEPCs"] = children
    if child_quantities:
        event["childQuantityList"] = child_quantities


def _objects(prov: Provenance, entry: Entry, event: dict) -> None:
    """epcList / quantityList; a lot's commissioning also its ilmd (lot number, expiry)."""
    epcs, quantities = _subject_epcs(entry.subject)
    event["epcList"] = epcs
    if quantities:
        if entry.packs is not None:
            quantities = [{**quantities[0], "quantity": entry.packs}]
        event["quantityList"] = quantities
    if entry.event in ("commissioned", "opened") and entry.subject.get("kind") == "lot":
        ilmd = {"cbvmda:lotNumber": entry.subject["lot"]}
        expiry = prov.subject.get("expiry")
        if expiry is not None:
            ilmd["cbvmda:itemExpirationDate"] = expiry.isoformat()
        event["ilmd"] = ilmd
        if prov.subject.get("kind") == "pack":  # the pack's own commissioning: its EPC, not only the class
            event["epcList"] = [cbv.sgtin(prov.subject["gtin"], prov.subject["serial"])]
            event.pop("quantityList", None)


def _where(prov: Provenance, entry: Entry, event: dict) -> None:
    """readPoint and bizLocation (the acting party's SGLN); source and destination (owning parties)."""
    place = _place(prov, entry.actor)
    if place:
        event["readPoint"] = place
        event["bizLocation"] = place
    sources = _party_list(prov, entry.sender, "source")
    destinations = _party_list(prov, entry.recipient, "destination")
    if sources:
        event["sourceList"] = sources
    if destinations:
        event["destinationList"] = destinations


def _unit_id(ref: dict | None) -> bytes | None:
    if not ref:
        return None
    if ref.get("sscc"):
        return sscc_id(ref["sscc"])
    return bytes.fromhex(ref["id"][2:]) if ref.get("id") else None


def _all_objects(conn, entry: Entry, event: dict, viewer: access.Viewer | None) -> list[dict]:
    """Every object of the chain event, whichever object's answer it is read through (so the same event is the
    same EPCIS event, with the same id, everywhere): a packing's children (a pallet's units, a case's or tote's
    packs), a pack-set event's packs. Returns the pack rows listed (for `_redact`)."""
    if entry.event == "palletised" or (entry.event == "packed" and entry.subject.get("kind") == "pallet"):
        event["childEPCs"] = [cbv.sscc(f"{int(r['sscc']):018d}") for r in reads.pallet_children(conn, *entry.position)]
        return []
    account = viewer.account if viewer is not None else None
    if entry.event == "packed":
        rows = reads.event_packs(conn, _unit_id(entry.subject), *entry.position, viewer=account)
    elif entry.subject.get("kind") in ("pack", "packs"):
        rows = reads.packs_at(conn, *entry.position, viewer=account)
    else:
        return []
    if not rows:
        return []
    sgtins = [_row_sgtin(r) for r in rows]
    if event["type"] == "AggregationEvent":
        event["childEPCs"] = sgtins
        event.pop("childQuantityList", None)
    else:
        event["epcList"] = sgtins
        event.pop("quantityList", None)
    return rows


def _row_sgtin(row: dict) -> str:
    return cbv.sgtin(f"{int(row['gtin']):014d}", row["serial"])


def _redact(prov: Provenance, event: dict, rows: list[dict], viewer: access.Viewer) -> None:
    """The event's packs as this viewer may see them (access.may_list_pack): the SGTINs it may list, and a
    quantity per lot class for the others, as provenance counts them. The eventID stays that of the whole
    event (EPCIS 2.0 redaction: one event, one id, whoever reads it)."""
    asked = cbv.sgtin(prov.subject["gtin"], prov.subject["serial"]) if prov.subject.get("kind") == "pack" else None
    listed, counts = [], {}
    for row in rows:
        sgtin = _row_sgtin(row)
        if access.may_list_pack(viewer, bytes(row["manufacturer"]), asked=sgtin == asked, held=bool(row["held"])):
            listed.append(sgtin)
        else:
            lgtin = cbv.lgtin(f"{int(row['gtin']):014d}", row["lot_number"])
            counts[lgtin] = counts.get(lgtin, 0) + 1
    if not counts:
        return
    quantities = [{"epcClass": lgtin, "quantity": n} for lgtin, n in counts.items()]
    if event["type"] == "AggregationEvent":
        event["childEPCs"] = listed
        event["childQuantityList"] = quantities
    else:
        event["epcList"] = listed
        event["quantityList"] = quantities


def reading_events(conn, prov: Provenance, vis: access.Visibility | None = None) -> list[dict]:
    """One sensor_reporting ObjectEvent per readings transaction on the units that held the object (up to the
    viewer's cut); a reading the contract flagged as an excursion carries exception ALARM_CONDITION."""
    units = prov.units
    if not units:
        return []
    alarms = {(e["sensor_id"], e["time"]) for e in prov.excursions if e.get("time") is not None}
    limits = {e["sensor_id"]: e["allowed"] for e in prov.excursions}
    out = []
    for row in reads.reading_events(conn, list(units)):
        position = (row["block_number"], row["log_index"])
        if not prov.carried(bytes(row["unit_id"]), position):  # only while the unit held the object (custody.py)
            continue
        if vis is not None and not vis.full and not vis.current and not vis.shows(position):
            continue
        ref = units[bytes(row["unit_id"])]
        sensor = _hex(row["sensor_id"])
        start, interval = int(row["start"]), int(row["interval"])
        reports = []
        for i, centi in enumerate(unpack_readings(bytes(row["readings"]))):
            moment = datetime.fromtimestamp(start + i * interval, UTC)
            report = {"type": "Temperature", "value": centi / 100, "uom": cbv.UOM_CELSIUS, "time": _time(moment)}
            if (sensor, moment) in alarms:
                report["exception"] = "ALARM_CONDITION"
                allowed = limits.get(sensor)
                if allowed:
                    report["minValue"], report["maxValue"] = allowed["min_celsius"], allowed["max_celsius"]
            reports.append(report)
        element = {"sensorMetadata": {"deviceID": f"{cbv.PT_NS}sensors/{sensor}"}, "sensorReport": reports}
        when = _time(row["timestamp"])
        event = {
            "type": "ObjectEvent", "eventTime": when, "recordTime": when, "eventTimeZoneOffset": OFFSET,
            "epcList": [unit_epc(ref)], "action": "OBSERVE", "bizStep": "sensor_reporting",
            "sensorElementList": [element],
        }  # fmt: skip
        place = _place(prov, bytes(row["by"]))
        if place:
            event["readPoint"] = place
            event["bizLocation"] = place
        tx = _hex(row["tx_hash"])
        event.update({"pt:event": "reading", "pt:txHash": tx, "pt:blockNumber": row["block_number"],
                      "pt:logIndex": row["log_index"]})  # fmt: skip
        event["eventID"] = event_hash.event_id(event)
        out.append(event)
    return out


def _object_epcs(prov: Provenance) -> list[str]:
    """The EPC URIs recorded events name this object by: a pack's SGTIN and its lot's class, a unit's SSCC, a
    lot's class."""
    s = prov.subject
    if s.get("kind") == "pack":
        return [cbv.sgtin(s["gtin"], s["serial"]), cbv.lgtin(s["gtin"], s["lot"])]
    if s.get("kind") == "lot":
        return [cbv.lgtin(s["gtin"], s["lot"])]
    return [cbv.sscc(s["sscc"])] if s.get("sscc") else []


def recorded_events(conn, prov: Provenance, viewer: access.Viewer | None = None) -> list[dict]:
    """The TransactionEvents and AssociationEvents captured about this object that `viewer` may see (None: the
    operator's uncut export), as EPCIS 2.0 events (module docstring)."""
    epcs = _object_epcs(prov)
    out = []
    for row in captures_db.recorded_for(conn, epcs) if epcs else []:
        if viewer is not None and not access.may_see_recorded_event(viewer, row["organisation_id"]):
            continue
        event = {**row["event"], "eventID": row["event_id"], "recordTime": _time(row["recorded_at"])}
        event.update({"pt:event": "recorded", "pt:captureID": str(row["capture_id"]),
                      "pt:blockNumber": row["head_block"], "pt:logIndex": RECORDED_LOG_INDEX})  # fmt: skip
        out.append(event)
    return out


def events(
    conn, prov: Provenance, vis: access.Visibility | None = None, viewer: access.Viewer | None = None
) -> list[dict]:
    """Every event of this (already restricted) provenance answer, in chain order; the packs each event names
    redacted for `viewer` (None: the operator's uncut export)."""
    out = []
    packings = {(e.tx_hash, e.subject.get("sscc")) for e in prov.timeline if e.event == "packed"}
    for entry in prov.timeline:
        if entry.event == "moved" and (entry.tx_hash, (entry.container or {}).get("sscc")) in packings:
            continue  # the packs moved into a tote as it is packed: that packing's children
        event = entry_event(prov, entry)
        rows = _all_objects(conn, entry, event, viewer)
        event["eventID"] = event_hash.event_id(event)  # after the objects: they are part of the event
        if viewer is not None and rows:
            _redact(prov, event, rows, viewer)  # after the id: the whole event's id, a redacted copy
        out.append(event)
    out += reading_events(conn, prov, vis)
    out += recorded_events(conn, prov, viewer)
    out.sort(key=lambda e: (e["pt:blockNumber"], e["pt:logIndex"]))
    return out


def master_data(provs: list[Provenance]) -> dict:
    """EPCISMasterData of the products (EPCClass by LGTIN) and the parties' locations (SGLN)."""
    classes: dict[str, dict] = {}
    places: dict[str, dict] = {}
    for prov in provs:
        s = prov.subject
        if s.get("gtin") and s.get("lot"):
            attributes = [{"id": "urn:epcglobal:cbv:mda#lotNumber", "attribute": s["lot"]}]
            if s.get("expiry") is not None:
                attributes.append({"id": "urn:epcglobal:cbv:mda#itemExpirationDate",
                                   "attribute": s["expiry"].isoformat()})  # fmt: skip
            classes[cbv.lgtin(s["gtin"], s["lot"])] = {"id": cbv.lgtin(s["gtin"], s["lot"]), "attributes": attributes}
        for party in prov.parties.values():
            if party.get("gln"):
                uri = cbv.sgln(party["gln"])
                attributes = [{"id": "urn:epcglobal:cbv:mda#name", "attribute": party.get("name") or party["account"]}]
                places[uri] = {"id": uri, "attributes": attributes}
    vocabularies = []
    if classes:
        vocabularies.append(
            {"type": "urn:epcglobal:epcis:vtype:EPCClass", "vocabularyElementList": list(classes.values())}
        )
    if places:
        vocabularies.append({"type": "urn:epcglobal:epcis:vtype:BusinessLocation",
                             "vocabularyElementList": list(places.values())})  # fmt: skip
    return {"epcisMasterData": {"vocabularyList": vocabularies}} if vocabularies else {}


def context() -> list:
    return [cbv.EPCIS_CONTEXT, {cbv.PT_PREFIX: cbv.PT_NS}]


def query_document(event_list: list[dict], provs: list[Provenance], query_name: str = "SimpleEventQuery") -> dict:
    """An EPCISQueryDocument of these events, master data in the header."""
    doc: dict = {
        "@context": context(),
        "type": "EPCISQueryDocument",
        "schemaVersion": "2.0",
        "creationDate": _time(datetime.now(UTC)),
    }
    header = master_data(provs)
    if header:
        doc["epcisHeader"] = header
    doc["epcisBody"] = {"queryResults": {"queryName": query_name, "resultsBody": {"eventList": event_list}}}
    return doc


def document(event_list: list[dict], provs: list[Provenance]) -> dict:
    """An EPCISDocument (the CLI's export file)."""
    doc: dict = {"@context": context(), "type": "EPCISDocument", "schemaVersion": "2.0",
                 "creationDate": _time(datetime.now(UTC))}  # fmt: skip
    header = master_data(provs)
    if header:
        doc["epcisHeader"] = header
    doc["epcisBody"] = {"eventList": event_list}
    return doc
