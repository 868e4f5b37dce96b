"""EPCIS 2.0 XML binding of our JSON-LD answers (the EPCISQueryDocument of the query interface).

Renders the events export.py builds (compact JSON-LD) as `epcisq:EPCISQueryDocument` per the official XSDs
(vendored in schemas/xsd/): CBV words as their https://ref.gs1.org/cbv/ URIs, our `pt:` extensions as elements
in our namespace, sensor reports as attributes, ILMD in the CBV master-data namespace.
"""

from __future__ import annotations

from xml.etree import ElementTree as ET

from app.services.epcis import cbv

EPCIS_NS = "urn:epcglobal:epcis:xsd:2"
QUERY_NS = "urn:epcglobal:epcis-query:xsd:2"
CBVMDA_NS = "urn:epcglobal:cbv:mda"
GS1_VOC = "https://gs1.org/voc/"
ET.register_namespace("epcis", EPCIS_NS)
ET.register_namespace("epcisq", QUERY_NS)
ET.register_namespace("cbvmda", CBVMDA_NS)
ET.register_namespace(cbv.PT_PREFIX, cbv.PT_NS)

ORDER = {  # the XSD's element order after the common EPCISEventType fields
    "ObjectEvent": ("epcList", "action", "bizStep", "disposition", "readPoint", "bizLocation", "quantityList",
                    "sourceList", "destinationList", "sensorElementList", "ilmd"),
    "AggregationEvent": ("parentID", "childEPCs", "action", "bizStep", "disposition", "readPoint", "bizLocation",
                         "childQuantityList", "sourceList", "destinationList", "sensorElementList"),
}  # fmt: skip
VOCABULARY = {"bizStep": cbv.bizstep_uri, "disposition": cbv.disposition_uri}
REPORT_ATTRIBUTES = ("type", "exception", "time", "value", "minValue", "maxValue", "uom")


def _sub(parent: ET.Element, tag: str, text=None) -> ET.Element:
    element = ET.SubElement(parent, tag)
    if text is not None:
        element.text = str(text)
    return element


def _field(parent: ET.Element, name: str, value) -> None:
    if name in ("epcList", "childEPCs"):
        node = _sub(parent, name)
        for epc in value:
            _sub(node, "epc", epc)
    elif name in ("quantityList", "childQuantityList"):
        _quantities(_sub(parent, name), value)
    elif name in VOCABULARY:
        _sub(parent, name, VOCABULARY[name](cbv.cbv_word(value)))
    elif name in ("readPoint", "bizLocation"):
        _sub(_sub(parent, name), "id", value["id"])
    elif name in ("sourceList", "destinationList"):
        node = _sub(parent, name)
        key = "source" if name == "sourceList" else "destination"
        for item in value:
            _sub(node, key, item[key]).set("type", cbv.sdt_uri(cbv.cbv_word(item["type"])))
    elif name == "sensorElementList":
        _sensors(_sub(parent, name), value)
    elif name == "ilmd":
        node = _sub(parent, name)
        for key, text in value.items():
            _sub(node, f"{{{CBVMDA_NS}}}{key.split(':', 1)[1]}", text)
    else:
        _sub(parent, name, value)


def _quantities(parent: ET.Element, quantities: list[dict]) -> None:
    for q in quantities:
        element = _sub(parent, "quantityElement")
        _sub(element, "epcClass", q["epcClass"])
        if q.get("quantity") is not None:
            _sub(element, "quantity", q["quantity"])


def _sensors(parent: ET.Element, elements: list[dict]) -> None:
    for element in elements:
        node = _sub(parent, "sensorElement")
        metadata = element.get("sensorMetadata")
        if metadata:
            meta = _sub(node, "sensorMetadata")
            for key, value in metadata.items():
                meta.set(key, str(value))
        for report in element["sensorReport"]:
            out = _sub(node, "sensorReport")
            for key in REPORT_ATTRIBUTES:
                if report.get(key) is None:
                    continue
                value = report[key]
                if key in ("type", "exception") and ":" not in value:
                    value = GS1_VOC + value
                out.set(key, str(value))


def event_element(event: dict) -> ET.Element:
    element = ET.Element(event["type"])
    for name in ("eventTime", "recordTime", "eventTimeZoneOffset", "eventID"):
        if event.get(name) is not None:
            _sub(element, name, event[name])
    for name in ORDER[event["type"]]:
        if event.get(name):
            _field(element, name, event[name])
    for key, value in event.items():
        if key.startswith(f"{cbv.PT_PREFIX}:"):
            _sub(element, f"{{{cbv.PT_NS}}}{key.split(':', 1)[1]}", value)
    return element


def query_document(doc: dict) -> bytes:
    """The XML form of an EPCISQueryDocument export.query_document built."""
    root = ET.Element(
        f"{{{QUERY_NS}}}EPCISQueryDocument", {"schemaVersion": "2.0", "creationDate": doc["creationDate"]}
    )
    body = _sub(root, "EPCISBody")
    results = _sub(body, f"{{{QUERY_NS}}}QueryResults")
    query_results = doc["epcisBody"]["queryResults"]
    _sub(results, "queryName", query_results["queryName"])
    event_list = _sub(_sub(results, "resultsBody"), "EventList")
    for event in query_results["resultsBody"]["eventList"]:
        event_list.append(event_element(event))
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)
