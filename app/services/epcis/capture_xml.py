"""EPCIS capture documents in XML (EPCIS 1.2, namespace urn:epcglobal:epcis:xsd:1, and 2.0, …:xsd:2) read into
the JSON shape app/services/epcis/capture.py maps, so both bindings share one mapping and one event identity.

1.2 keeps eventID in <baseExtension> and sourceList, destinationList, quantityList and ilmd in <extension>; both
are flattened into the event. Parsed with defusedxml: a DTD or an entity declaration is refused. The document is
then validated against the official XSD of its version (vendored in schemas/xsd/, imports resolved from there:
lxml with no network, no entity expansion, no DTD): an invalid document is BadDocument naming the element's path,
its line and the XSD rule broken (the first error libxml2 reports).
"""

from __future__ import annotations

import functools
from pathlib import Path
from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as safe_xml
from defusedxml import DefusedXmlException
from lxml import etree

from app.services.epcis.capture import BadDocument

NAMESPACES = {"urn:epcglobal:epcis:xsd:1": "1.2", "urn:epcglobal:epcis:xsd:2": "2.0"}
CBVMDA = "urn:epcglobal:cbv:mda"
TEXT_FIELDS = ("eventTime", "eventTimeZoneOffset", "recordTime", "eventID", "action", "bizStep", "disposition",
               "parentID")  # fmt: skip
EPC_LISTS = ("epcList", "childEPCs")
PARTY_LISTS = {"sourceList": "source", "destinationList": "destination", "bizTransactionList": "bizTransaction"}
XSD_DIR = Path(__file__).parent / "schemas" / "xsd"
XSD = {"1.2": "EPCglobal-epcis-1_2.xsd", "2.0": "EPCglobal-epcis-2_0.xsd"}  # EPCISDocument, per version


def _safe_parser() -> etree.XMLParser:
    """lxml parser that reads nothing but the bytes given: no network, no DTD, no entity expansion."""
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False,
                           huge_tree=False)  # fmt: skip


@functools.cache
def schema(version: str) -> etree.XMLSchema:
    """The official XSD of EPCIS `version` ("1.2" or "2.0"); its imports are the vendored files beside it."""
    return etree.XMLSchema(etree.parse(str(XSD_DIR / XSD[version]), _safe_parser()))


def xsd_errors(data: bytes, version: str) -> list[dict]:
    """What the official XSD of `version` refuses in this document: per error its line, element path, rule
    (libxml2's name for the XSD constraint) and message; [] when valid."""
    try:
        tree = etree.fromstring(data, _safe_parser())
    except etree.XMLSyntaxError as exc:
        return [{"line": exc.lineno, "path": "/", "rule": "well_formed", "message": str(exc)}]
    checker = schema(version)
    if checker.validate(tree):
        return []
    return [{"line": e.line, "path": e.path or "/", "rule": e.type_name, "message": e.message}
            for e in checker.error_log]  # fmt: skip


def validate(data: bytes, version: str) -> None:
    """BadDocument naming the first element the XSD refuses (its path, line and rule), if any."""
    errors = xsd_errors(data, version)
    if errors:
        first = errors[0]
        raise BadDocument(first["path"], f"line {first['line']}: the EPCIS {version} XSD refuses it "
                          f"({first['rule']}): {first['message']}")  # fmt: skip


def _local(tag: str) -> tuple[str, str]:
    """(namespace, local name) of an ElementTree tag."""
    if tag.startswith("{"):
        ns, _, name = tag[1:].partition("}")
        return ns, name
    return "", tag


def _text(el: Element) -> str:
    return (el.text or "").strip()


def _number(text: str):
    try:
        value = float(text)
    except ValueError:
        return text  # the mapping names the field
    return int(value) if value.is_integer() else value


def to_document(data: bytes) -> dict:
    """The XML capture document as an EPCISDocument dict (schemaVersion 2.0), or BadDocument."""
    try:
        root = safe_xml.fromstring(data)
    except DefusedXmlException as exc:
        raise BadDocument("document", f"DTDs and entities are not accepted ({type(exc).__name__})") from None
    except ParseError as exc:
        raise BadDocument("document", f"not well-formed XML: {exc}") from None
    ns, name = _local(root.tag)
    if name != "EPCISDocument" or ns not in NAMESPACES:
        raise BadDocument("EPCISDocument", "the root must be epcis:EPCISDocument of EPCIS 1.2 (urn:epcglobal:epcis:"
                          "xsd:1) or 2.0 (urn:epcglobal:epcis:xsd:2)")  # fmt: skip
    validate(data, NAMESPACES[ns])
    events = []
    for child in root:
        if _local(child.tag)[1] == "EPCISBody":
            for lst in child:
                if _local(lst.tag)[1] == "EventList":
                    events.extend(_events(lst))
    return {
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": root.get("creationDate"),
        "epcisBody": {"eventList": events},
        "pt:xmlVersion": NAMESPACES[ns],
    }


def _events(event_list: Element) -> list[dict]:
    out = []
    for el in event_list:
        name = _local(el.tag)[1]
        if name == "extension":  # 1.2: TransformationEvent and others sit in an <extension>
            out.extend(_events(el))
            continue
        event = {"type": name}
        _fields(el, event)
        out.append(event)
    return out


def _fields(el: Element, event: dict) -> None:
    for child in el:
        ns, name = _local(child.tag)
        if name in ("extension", "baseExtension") and ns == "":
            _fields(child, event)
        elif name in TEXT_FIELDS:
            event[name] = _text(child)
        elif name in EPC_LISTS:
            event[name] = [_text(epc) for epc in child]
        elif name in ("readPoint", "bizLocation"):
            ids = [_text(c) for c in child if _local(c.tag)[1] == "id"]
            event[name] = {"id": ids[0] if ids else None}
        elif name in PARTY_LISTS:
            key = PARTY_LISTS[name]
            event[name] = [{key: _text(c)} | ({"type": c.get("type")} if c.get("type") is not None else {})
                           for c in child]  # fmt: skip
        elif name in ("quantityList", "childQuantityList"):
            event[name] = [_quantity(q) for q in child]
        elif name == "ilmd":
            event["ilmd"] = {(f"cbvmda:{_local(c.tag)[1]}" if _local(c.tag)[0] == CBVMDA else _local(c.tag)[1]):
                             _text(c) for c in child}  # fmt: skip
        elif name == "sensorElementList":
            event[name] = [_sensor_element(s) for s in child]


def _quantity(el: Element) -> dict:
    out = {}
    for c in el:
        name = _local(c.tag)[1]
        out[name] = _number(_text(c)) if name == "quantity" else _text(c)
    return out


def _sensor_element(el: Element) -> dict:
    out: dict = {"sensorReport": []}
    for c in el:
        name = _local(c.tag)[1]
        attrs = dict(c.attrib)
        if name == "sensorMetadata":
            out["sensorMetadata"] = attrs
        elif name == "sensorReport":
            if "value" in attrs:
                attrs["value"] = _number(attrs["value"])
            out["sensorReport"].append(attrs)
    return out
