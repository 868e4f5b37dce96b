"""The EPCIS event hash (CBV 2.0, section 8.9): a canonical pre-hash string of an event, SHA-256, as an ni URI.

Written from the algorithm's description (canonical property order, lists sorted, values canonical: CBV bare
words and urn:epcglobal:cbv URNs as https://ref.gs1.org/cbv/ URIs, EPC URNs as canonical GS1 Digital Links,
times in UTC with milliseconds, numbers without trailing zeros, ILMD and user extensions as `{namespace}name=value`
sorted). It covers the fields our export writes; tests compare it with the reference implementation
(PyPI epcis-event-hash-generator, a dev dependency) on every exported event and on its published examples.
"""

from __future__ import annotations

import functools
import hashlib
from datetime import UTC, datetime
from decimal import Decimal
from urllib.parse import quote, unquote

from app import gs1
from app.services.epcis import cbv

IGNORED = frozenset({"eventID", "recordTime", "@context", "errorDeclaration", "certificationInfo"})
NAMESPACES = {
    "cbvmda": "urn:epcglobal:cbv:mda#",
    cbv.PT_PREFIX: cbv.PT_NS,
    "gs1": "https://gs1.org/voc/",
    "cbv": "https://ref.gs1.org/cbv/",
    "epcis": "https://ref.gs1.org/epcis/",
}
QUANTITY_ORDER = ("epcClass", "quantity", "uom")
METADATA_ORDER = ("time", "startTime", "endTime", "deviceID", "deviceMetadata", "rawData", "dataProcessingMethod",
                  "bizRules")  # fmt: skip
REPORT_ORDER = ("type", "exception", "deviceID", "deviceMetadata", "rawData", "dataProcessingMethod", "time",
                "microorganism", "chemicalSubstance", "value", "component", "stringValue", "booleanValue",
                "hexBinaryValue", "uriValue", "minValue", "maxValue", "meanValue", "sDev", "percRank", "percValue",
                "uom", "coordinateReferenceSystem")  # fmt: skip
KNOWN = frozenset({
    "type", "eventTime", "eventTimeZoneOffset", "epcList", "parentID", "inputEPCList", "childEPCs", "quantityList",
    "childQuantityList", "inputQuantityList", "outputEPCList", "outputQuantityList", "action", "transformationID",
    "bizStep", "disposition", "persistentDisposition", "readPoint", "bizLocation", "bizTransactionList", "sourceList",
    "destinationList", "sensorElementList", "ilmd",
})  # fmt: skip
SENSOR_TYPES_BASE = "https://gs1.org/voc/"


def event_id(event: dict) -> str:
    """`ni:///sha-256;<hex>?ver=CBV2.0` of an EPCIS 2.0 JSON-LD event (our export's compact form)."""
    return f"ni:///sha-256;{hashlib.sha256(pre_hash(event).encode()).hexdigest()}?ver=CBV2.0"


def pre_hash(event: dict) -> str:
    out = [f"eventType={event['type']}", f"eventTime={_time(event['eventTime'])}",
           f"eventTimeZoneOffset={event['eventTimeZoneOffset']}"]  # fmt: skip
    out += _epcs(event, "epcList")
    out += _value(event, "parentID", _id)
    out += _epcs(event, "inputEPCList") + _epcs(event, "childEPCs")
    for name in ("quantityList", "childQuantityList", "inputQuantityList"):
        out += _quantities(event, name)
    out += _epcs(event, "outputEPCList") + _quantities(event, "outputQuantityList")
    out += _value(event, "action", str)
    out += _value(event, "transformationID", _id)
    out += _value(event, "bizStep", lambda v: _vocab(v, "BizStep-"))
    out += _value(event, "disposition", lambda v: _vocab(v, "Disp-"))
    for name in ("readPoint", "bizLocation"):
        if event.get(name):
            out.append(f"{name}id={_id(event[name]['id'])}")
    out += _typed_list(event, "bizTransactionList", "bizTransaction", "BTT-")
    # the published test vectors put destinations before sources (the README's table says the other way round)
    out += _typed_list(event, "destinationList", "destination", "SDT-")
    out += _typed_list(event, "sourceList", "source", "SDT-")
    out += _sensors(event)
    if event.get("ilmd"):
        # as the reference implementation does: ILMD keys as written (it leaves the cbvmda: prefix unexpanded)
        out.append("ilmd" + "".join(sorted(f"{k}={str(v).strip()}" for k, v in event["ilmd"].items())))
    out += sorted(_extension(k, v) for k, v in event.items() if k not in KNOWN and k not in IGNORED)
    return "".join(out)


def _value(event: dict, name: str, canon) -> list[str]:
    return [f"{name}={canon(event[name])}"] if event.get(name) is not None else []


def _epcs(event: dict, name: str) -> list[str]:
    values = event.get(name)
    if not values:
        return []
    return [name + "".join(sorted(f"epc={_id(v)}" for v in values))]


def _quantities(event: dict, name: str) -> list[str]:
    values = event.get(name)
    if not values:
        return []
    elements = []
    for q in values:
        parts = []
        for key in QUANTITY_ORDER:
            if q.get(key) is not None:
                parts.append(f"{key}={_id(q[key]) if key == 'epcClass' else _number(q[key])}")
        elements.append("quantityElement" + "".join(parts))
    return [name + "".join(sorted(elements))]


def _typed_list(event: dict, name: str, key: str, vocab_prefix: str) -> list[str]:
    values = event.get(name)
    if not values:
        return []
    items = sorted(f"type={_vocab(v['type'], vocab_prefix)}{key}={_id(v[key])}" for v in values)  # as the vectors do
    return [name + "".join(items)]


def _sensors(event: dict) -> list[str]:
    elements = event.get("sensorElementList")
    if not elements:
        return []
    out = []
    for element in elements:
        text = "sensorElement"
        metadata = element.get("sensorMetadata")
        if metadata:
            text += "sensorMetadata" + "".join(f"{k}={_sensor_value(k, metadata[k])}" for k in METADATA_ORDER
                                               if metadata.get(k) is not None)  # fmt: skip
        reports = ["sensorReport" + "".join(f"{k}={_sensor_value(k, r[k])}" for k in REPORT_ORDER
                                            if r.get(k) is not None) for r in element.get("sensorReport", [])]  # fmt: skip
        out.append(text + "".join(sorted(reports)))
    return ["sensorElementList" + "".join(sorted(out))]


def _sensor_value(key: str, value) -> str:
    if key in ("time", "startTime", "endTime"):
        return _time(value)
    if key == "type":
        return value if ":" in value else SENSOR_TYPES_BASE + value
    if key == "exception":
        return value if ":" in value else SENSOR_TYPES_BASE + value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return _number(value)
    return _id(str(value))


def _extension(key: str, value) -> str:
    prefix, _, local = key.partition(":")
    name = f"{{{NAMESPACES.get(prefix, prefix + ':')}}}{local}" if local else key
    if isinstance(value, dict):
        return name + "".join(sorted(_extension(k, v) for k, v in value.items()))
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return f"{name}={_number(value)}"
    return f"{name}={_bare(str(value).strip())}"


def _bare(value: str) -> str:
    """An extension value as the reference implementation canonicalises it: a bare CBV word expanded (JSON-LD
    context terms apply to every value), an EPC URN as a Digital Link."""
    if value in cbv.DISPOSITIONS:
        return f"{cbv.CBV_BASE}Disp-{value}"
    if value in cbv.BIZ_STEPS:
        return f"{cbv.CBV_BASE}BizStep-{value}"
    return _id(value)


@functools.lru_cache(maxsize=4096, typed=True)  # pure; readings repeat (typed: True is no 1)
def _number(value) -> str:
    text = format(Decimal(str(value)).normalize(), "f")
    return text


@functools.lru_cache(maxsize=16384)  # pure; a document's events and readings share their times
def _time(text: str) -> str:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@functools.lru_cache(maxsize=1024)  # pure; a document names a few steps, dispositions and types
def _vocab(value: str, prefix: str) -> str:
    word = cbv.cbv_word(value)
    if word != value or ":" not in value:
        return f"{cbv.CBV_BASE}{prefix}{word}"
    return value


@functools.lru_cache(maxsize=65536)  # pure; locations and parties repeat in every event of a document
def _id(uri: str) -> str:
    """An EPC / class / SGLN / PGLN URN as its canonical GS1 Digital Link; other URIs as they are."""
    uri = uri.strip()
    lowered = uri.lower()
    if lowered.startswith(("urn:epc:id:sgtin:", "urn:epc:id:sscc:", "urn:epc:class:lgtin:")):
        item = gs1.parse(uri)
        if isinstance(item, gs1.Pack):
            return f"https://id.gs1.org/01/{item.gtin}/21/{_dl(item.serial)}"
        if isinstance(item, gs1.Lot):
            return f"https://id.gs1.org/01/{item.gtin}/10/{_dl(item.lot)}"
        return f"https://id.gs1.org/00/{item.sscc}"
    if lowered.startswith(("urn:epc:id:sgln:", "urn:epc:id:pgln:")):
        gln = cbv.gln_of_sgln(uri)
        if lowered.startswith("urn:epc:id:pgln:"):
            return f"https://id.gs1.org/417/{gln}"
        extension = uri.split(".", 2)[2] if uri.count(".") >= 2 else "0"
        return f"https://id.gs1.org/414/{gln}" + ("" if extension == "0" else f"/254/{_dl(unquote(extension))}")
    return uri


def _dl(value: str) -> str:
    return quote(value, safe="!'()*+,-.:;=_")
