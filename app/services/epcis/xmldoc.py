"""EPCIS XML bindings of our JSON-LD answers: 2.0 (the query interface's `Accept: application/xml`) and 1.2 (what a
DSCSA partner's system reads, per the GS1 US DSCSA guideline: `EPCISDocument` / `EPCISBody` / `EventList`).

2.0: the events export.py builds (compact JSON-LD) as `epcisq:EPCISQueryDocument` per the official XSDs (vendored
in schemas/xsd/): CBV words as their https://ref.gs1.org/cbv/ URIs, our `pt:` extensions as elements in our
namespace, sensor reports as attributes, ILMD in the CBV master-data namespace.

1.2 (urn:epcglobal:epcis:xsd:1, EPCglobal-epcis-1_2.xsd): CBV words as their CBV 1.2 URNs (urn:epcglobal:cbv:
bizstep:…); eventID in <baseExtension>; quantityList, sourceList, destinationList and ilmd in the event's
<extension>; master data in EPCISHeader/extension/EPCISMasterData behind the SBDH 1.2 requires (sender: this
service, receiver: the requesting organisation's GLN). 1.2 has no sensorElementList: readings travel in our
namespace (pt:sensorElementList, the 2.0 shape) among the event's ##other elements, with the pt: fields. 1.2 has
no AssociationEvent either: one is carried in EventList/extension/extension (the XSD's ##local wildcard).

A client asks for 1.2 with `Accept: application/xml; version=1.2` or, as the EPCIS 2.0 REST binding names the
version, `GS1-EPCIS-Version: 1.2` (`wants_1_2`).
"""

from __future__ import annotations

import uuid
from xml.etree import ElementTree as ET

from app.services.epcis import cbv

EPCIS_NS = "urn:epcglobal:epcis:xsd:2"
QUERY_NS = "urn:epcglobal:epcis-query:xsd:2"
EPCIS12_NS = "urn:epcglobal:epcis:xsd:1"
QUERY12_NS = "urn:epcglobal:epcis-query:xsd:1"
SBDH_NS = "http://www.unece.org/cefact/namespaces/StandardBusinessDocumentHeader"
CBVMDA_NS = "urn:epcglobal:cbv:mda"
GS1_VOC = "https://gs1.org/voc/"
EPCIS12_VERSION = "1.2.0"
ET.register_namespace("epcis", EPCIS_NS)
ET.register_namespace("epcisq", QUERY_NS)
ET.register_namespace("epcis12", EPCIS12_NS)
ET.register_namespace("epcisq12", QUERY12_NS)
ET.register_namespace("sbdh", SBDH_NS)
ET.register_namespace("cbvmda", CBVMDA_NS)
ET.register_namespace(cbv.PT_PREFIX, cbv.PT_NS)

ORDER = {  # the 2.0 XSD's element order after the common EPCISEventType fields
    "ObjectEvent": ("epcList", "action", "bizStep", "disposition", "readPoint", "bizLocation", "bizTransactionList",
                    "quantityList", "sourceList", "destinationList", "sensorElementList", "ilmd"),
    "AggregationEvent": ("parentID", "childEPCs", "action", "bizStep", "disposition", "readPoint", "bizLocation",
                         "bizTransactionList", "childQuantityList", "sourceList", "destinationList",
                         "sensorElementList"),
    "TransactionEvent": ("bizTransactionList", "parentID", "epcList", "action", "bizStep", "disposition", "readPoint",
                         "bizLocation", "quantityList", "sourceList", "destinationList", "sensorElementList"),
    "AssociationEvent": ("parentID", "childEPCs", "childQuantityList", "action", "bizStep", "disposition",
                         "readPoint", "bizLocation", "bizTransactionList", "sourceList", "destinationList",
                         "sensorElementList"),
}  # fmt: skip
REQUIRED_12 = {"ObjectEvent": ("epcList",), "AggregationEvent": ("childEPCs",), "TransactionEvent": ("epcList",)}
ORDER_12 = {  # the 1.2 XSD's order: (the event's own elements, those in its <extension>)
    "ObjectEvent": (("epcList", "action", "bizStep", "disposition", "readPoint", "bizLocation", "bizTransactionList"),
                    ("quantityList", "sourceList", "destinationList", "ilmd")),
    "AggregationEvent": (("parentID", "childEPCs", "action", "bizStep", "disposition", "readPoint", "bizLocation",
                          "bizTransactionList"), ("childQuantityList", "sourceList", "destinationList")),
    "TransactionEvent": (("bizTransactionList", "parentID", "epcList", "action", "bizStep", "disposition",
                          "readPoint", "bizLocation"), ("quantityList", "sourceList", "destinationList")),
}  # fmt: skip
VOCABULARY = {"bizStep": cbv.bizstep_uri, "disposition": cbv.disposition_uri}
VOCABULARY_12 = {"bizStep": "bizstep", "disposition": "disp"}
TYPED_LISTS = {  # list -> (item element, its type's kind in CBV 1.2 URNs, its CBV 2.0 URI)
    "sourceList": ("source", "sdt", cbv.sdt_uri),
    "destinationList": ("destination", "sdt", cbv.sdt_uri),
    "bizTransactionList": ("bizTransaction", "btt", cbv.btt_uri),
}


REPORT_ATTRIBUTES = ("type", "exception", "time", "value", "minValue", "maxValue", "uom")


def _sub(parent: ET.Element, tag: str, text=None) -> ET.Element:
    element = ET.SubElement(parent, tag)
    if text is not None:
        element.text = str(text)
    return element


def _field(parent: ET.Element, name: str, value, version: str = "2.0") -> None:
    if name in ("epcList", "childEPCs"):
        node = _sub(parent, name)
        for epc in value:
            _sub(node, "epc", epc)
    elif name in ("quantityList", "childQuantityList"):
        _quantities(_sub(parent, name), value)
    elif name in VOCABULARY:
        word = cbv.cbv_word(value)
        _sub(parent, name, VOCABULARY[name](word) if version == "2.0" else cbv.cbv12_uri(VOCABULARY_12[name], word))
    elif name in ("readPoint", "bizLocation"):
        _sub(_sub(parent, name), "id", value["id"])
    elif name in TYPED_LISTS:
        _typed_list(_sub(parent, name), name, value, version)
    elif name == "sensorElementList":
        _sensors(_sub(parent, name), value)
    elif name == "ilmd":
        node = _sub(parent, name)
        for key, text in value.items():
            _sub(node, f"{{{CBVMDA_NS}}}{key.split(':', 1)[1]}", text)
    else:
        _sub(parent, name, value)


def _typed_list(node: ET.Element, name: str, items: list[dict], version: str) -> None:
    key, kind, uri = TYPED_LISTS[name]
    for item in items:
        element = _sub(node, key, item[key])
        if item.get("type"):
            word = cbv.cbv_word(item["type"])
            element.set("type", uri(word) if version == "2.0" else cbv.cbv12_uri(kind, word))


def _quantities(parent: ET.Element, quantities: list[dict]) -> None:
    for q in quantities:
        element = _sub(parent, "quantityElement")
        _sub(element, "epcClass", q["epcClass"])
        if q.get("quantity") is not None:
            _sub(element, "quantity", q["quantity"])


def _sensors(parent: ET.Element, elements: list[dict], ns: str = "") -> None:
    for element in elements:
        node = _sub(parent, f"{ns}sensorElement")
        metadata = element.get("sensorMetadata")
        if metadata:
            meta = _sub(node, f"{ns}sensorMetadata")
            for key, value in metadata.items():
                meta.set(key, str(value))
        for report in element["sensorReport"]:
            out = _sub(node, f"{ns}sensorReport")
            for key in REPORT_ATTRIBUTES:
                if report.get(key) is None:
                    continue
                value = report[key]
                if key in ("type", "exception") and ":" not in value:
                    value = GS1_VOC + value
                out.set(key, str(value))


def _pt(element: ET.Element, event: dict) -> None:
    """Our extension fields (pt:…) as elements in our namespace."""
    for key, value in event.items():
        if key.startswith(f"{cbv.PT_PREFIX}:"):
            _sub(element, f"{{{cbv.PT_NS}}}{key.split(':', 1)[1]}", value)


def event_element(event: dict) -> ET.Element:
    """One event in the EPCIS 2.0 XML binding."""
    element = ET.Element(event["type"])
    for name in ("eventTime", "recordTime", "eventTimeZoneOffset", "eventID"):
        if event.get(name) is not None:
            _sub(element, name, event[name])
    for name in ORDER[event["type"]]:
        if event.get(name):
            _field(element, name, event[name])
    _pt(element, event)
    return element


def event_element_12(event: dict) -> ET.Element:
    """One event in the EPCIS 1.2 XML binding (module docstring); an AssociationEvent in its 2.0 shape, for
    EventList/extension/extension."""
    kind = event["type"]
    if kind not in ORDER_12:
        return event_element(event)
    element = ET.Element(kind)
    for name in ("eventTime", "recordTime", "eventTimeZoneOffset"):
        if event.get(name) is not None:
            _sub(element, name, event[name])
    if event.get("eventID"):
        _sub(_sub(element, "baseExtension"), "eventID", event["eventID"])
    own, extended = ORDER_12[kind]
    for name in own:
        if event.get(name) or name in REQUIRED_12.get(kind, ()):
            _field(element, name, event.get(name) or [], "1.2")
    present = [name for name in extended if event.get(name)]
    if present:
        extension = _sub(element, "extension")
        for name in present:
            _field(extension, name, event[name], "1.2")
    if event.get("sensorElementList"):  # 1.2 has none: ours, in our namespace
        node = _sub(element, f"{{{cbv.PT_NS}}}sensorElementList")
        _sensors(node, event["sensorElementList"], f"{{{cbv.PT_NS}}}")
    _pt(element, event)
    return element


def _event_list_12(parent: ET.Element, events: list[dict]) -> None:
    event_list = _sub(parent, "EventList")
    for event in events:
        if event["type"] in ORDER_12:
            event_list.append(event_element_12(event))
        else:  # 1.2 knows no AssociationEvent: the event list's extension point
            _sub(_sub(event_list, "extension"), "extension").append(event_element_12(event))


def _header_12(root: ET.Element, doc: dict, receiver: str | None) -> None:
    """EPCISHeader: the SBDH 1.2 requires, and the master data (EPCClass, locations) in its extension."""
    vocabularies = (doc.get("epcisHeader") or {}).get("epcisMasterData", {}).get("vocabularyList") or []
    header = _sub(root, "EPCISHeader")
    sbdh = _sub(header, f"{{{SBDH_NS}}}StandardBusinessDocumentHeader")
    _sub(sbdh, f"{{{SBDH_NS}}}HeaderVersion", "1.0")
    sender = _sub(_sub(sbdh, f"{{{SBDH_NS}}}Sender"), f"{{{SBDH_NS}}}Identifier", cbv.PT_NS)
    sender.set("Authority", "URI")
    to = _sub(_sub(sbdh, f"{{{SBDH_NS}}}Receiver"), f"{{{SBDH_NS}}}Identifier", receiver or cbv.PT_NS)
    to.set("Authority", "GS1" if receiver else "URI")
    ident = _sub(sbdh, f"{{{SBDH_NS}}}DocumentIdentification")
    for name, text in (("Standard", "EPCglobal"), ("TypeVersion", "1.2"), ("InstanceIdentifier", uuid.uuid4().hex),
                       ("Type", "Events"), ("CreationDateAndTime", doc["creationDate"])):  # fmt: skip
        _sub(ident, f"{{{SBDH_NS}}}{name}", text)
    if not vocabularies:
        return
    vocabulary_list = _sub(_sub(_sub(header, "extension"), "EPCISMasterData"), "VocabularyList")
    for vocabulary in vocabularies:
        node = _sub(vocabulary_list, "Vocabulary")
        node.set("type", vocabulary["type"])
        elements = _sub(node, "VocabularyElementList")
        for item in vocabulary["vocabularyElementList"]:
            element = _sub(elements, "VocabularyElement")
            element.set("id", item["id"])
            for attribute in item.get("attributes") or []:
                _sub(element, "attribute", attribute["attribute"]).set("id", attribute["id"])


def document_1_2(doc: dict, receiver: str | None = None) -> bytes:
    """An EPCISDocument (export.document) as an EPCIS 1.2 EPCISDocument (the CLI's --format xml12)."""
    root = ET.Element(f"{{{EPCIS12_NS}}}EPCISDocument", {"schemaVersion": "1.2", "creationDate": doc["creationDate"]})
    _header_12(root, doc, receiver)
    _event_list_12(_sub(root, "EPCISBody"), doc["epcisBody"]["eventList"])
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def query_document_1_2(doc: dict, receiver: str | None = None) -> bytes:
    """An EPCISQueryDocument (export.query_document) in the EPCIS 1.2 query schema's XML."""
    root = ET.Element(
        f"{{{QUERY12_NS}}}EPCISQueryDocument", {"schemaVersion": "1.2", "creationDate": doc["creationDate"]}
    )
    _header_12(root, doc, receiver)
    results = _sub(_sub(root, "EPCISBody"), f"{{{QUERY12_NS}}}QueryResults")
    query_results = doc["epcisBody"]["queryResults"]
    _sub(results, "queryName", query_results["queryName"])
    _event_list_12(_sub(results, "resultsBody"), query_results["resultsBody"]["eventList"])
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def wants_1_2(accept: str | None, version: str | None) -> bool:
    """Whether a query asks for EPCIS 1.2 XML: `Accept: application/xml; version=1.2` (or text/xml), or the REST
    binding's `GS1-EPCIS-Version: 1.2` (1.2 has an XML binding only)."""
    if version is not None and version.strip().split(".")[:2] == ["1", "2"]:
        return True
    for item in (accept or "").split(","):
        media, *params = (part.strip().lower() for part in item.split(";"))
        if media in ("application/xml", "text/xml") and any(
            p.replace(" ", "") in ("version=1.2", 'version="1.2"', "version=1.2.0") for p in params
        ):
            return True
    return False


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
