"""CBV 2.0 vocabulary and the identifier forms EPCIS speaks, shared by export (query) and capture.

- `BIZ_STEPS`, `DISPOSITIONS`, `SOURCE_DEST_TYPES`: the CBV 2.0 bare words (EPCIS 2.0 JSON-LD allows the bare
  word; `bizstep_uri` / `disposition_uri` give the full https://ref.gs1.org/cbv/ form, `cbv_word` reads either
  form, or the CBV 1.2 `urn:epcglobal:cbv:` form, back to the word).
- `EVENT_VOCABULARY`: each custody event of ours (the names of app/services/provenance.py timelines) as
  (EPCIS event type, action, bizStep, disposition). Capture maps the other way with `events_for`.
- Identifiers: `epc_uri` (SGTIN, SSCC, LGTIN class) and `parse_epc` (any form app/gs1.py reads, EPC URI or
  Digital Link), `sgln` / `gln_of_sgln` for a party's GLN as readPoint / bizLocation, `pgln` for a party as
  source / destination (owning_party).
"""

from __future__ import annotations

import functools
from datetime import datetime
from typing import NamedTuple

from biip import BiipException
from biip.checksums import gs1_standard_check_digit
from biip.gln import Gln
from biip.gtin import Gtin
from biip.sscc import Sscc

from app import gs1

CBV_BASE = "https://ref.gs1.org/cbv/"
CBV12_BIZSTEP = "urn:epcglobal:cbv:bizstep:"
CBV12_DISP = "urn:epcglobal:cbv:disp:"
CBV12_SDT = "urn:epcglobal:cbv:sdt:"
CBV12_BTT = "urn:epcglobal:cbv:btt:"
EPCIS_CONTEXT = "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"
PT_NS = "https://pharmatrack.example/epcis/"  # our own extension namespace, prefix `pt`
PT_PREFIX = "pt"
EPCIS_VERSION = "2.0.0"
CBV_VERSION = "2.0.0"
DEFAULT_COMPANY_PREFIX_LENGTH = 7  # when biip's prefix table does not know the key's prefix (e.g. test GTINs)

EVENT_TYPES = ("ObjectEvent", "AggregationEvent", "TransactionEvent", "TransformationEvent", "AssociationEvent")
ACTIONS = ("ADD", "OBSERVE", "DELETE")

BIZ_STEPS = frozenset({
    "accepting", "arriving", "assembling", "collecting", "commissioning", "consigning", "creating_class_instance",
    "cycle_counting", "decommissioning", "departing", "destroying", "disassembling", "dispensing", "encoding",
    "entering_exiting", "holding", "inspecting", "installing", "killing", "loading", "other", "packing", "picking",
    "receiving", "removing", "repackaging", "repairing", "replacing", "reserving", "retail_selling", "sampling",
    "sensor_reporting", "shipping", "staging_outbound", "stock_taking", "stocking", "storing", "transporting",
    "unloading", "unpacking", "void_shipping",
})  # fmt: skip
DISPOSITIONS = frozenset({
    "active", "available", "completeness_inferred", "completeness_verified", "conformant", "container_closed",
    "container_open", "damaged", "destroyed", "dispensed", "disposed", "encoded", "expired", "in_progress",
    "in_transit", "inactive", "mismatch_instance", "mismatch_class", "mismatch_quantity", "needs_replacement",
    "no_pedigree_match", "non_conformant", "non_sellable_other", "partially_dispensed", "recalled", "reserved",
    "retail_sold", "returned", "sellable_accessible", "sellable_not_accessible", "stolen", "unavailable", "unknown",
})  # fmt: skip
BTT_WORDS = frozenset({"bol", "cert", "desadv", "inv", "pedigree", "po", "poc", "prodorder", "recadv", "rma",
                       "testprd", "testres", "upevt"})  # CBV 2.0 business transaction types  # fmt: skip
SOURCE_DEST_TYPES = frozenset({"owning_party", "possessing_party", "location"})
SENSOR_TYPES = frozenset({"Temperature"})  # gs1: sensor measurement types we emit
UOM_CELSIUS = "CEL"


class Vocab(NamedTuple):
    event_type: str
    action: str
    biz_step: str
    disposition: str | None


# Our custody event (provenance timeline name) -> its EPCIS form. Aggregations name the container as parentID.
EVENT_VOCABULARY: dict[str, Vocab] = {
    "commissioned": Vocab("ObjectEvent", "ADD", "commissioning", "active"),
    "opened": Vocab("ObjectEvent", "ADD", "commissioning", "active"),  # an opened lot: class level, no EPCs yet
    "packed": Vocab("AggregationEvent", "ADD", "packing", "in_progress"),
    "palletised": Vocab("AggregationEvent", "ADD", "packing", "in_progress"),
    "moved": Vocab("AggregationEvent", "ADD", "packing", "in_progress"),  # packs picked into a tote / consignment
    "unpacked": Vocab("AggregationEvent", "DELETE", "unpacking", "in_progress"),
    "shipped": Vocab("ObjectEvent", "OBSERVE", "shipping", "in_transit"),
    "consigned": Vocab("ObjectEvent", "OBSERVE", "shipping", "in_transit"),  # a pack shipment (consignment)
    "received": Vocab("ObjectEvent", "OBSERVE", "receiving", "in_progress"),
    "refused": Vocab("ObjectEvent", "OBSERVE", "void_shipping", "in_transit"),  # back on its way to the sender
    "returned": Vocab("ObjectEvent", "OBSERVE", "shipping", "returned"),  # a return consignment
    "accepted": Vocab("ObjectEvent", "OBSERVE", "accepting", "returned"),  # a return accepted by its recipient
    "dispensed": Vocab("ObjectEvent", "OBSERVE", "dispensing", "dispensed"),
    "undone": Vocab("ObjectEvent", "OBSERVE", "stocking", "sellable_accessible"),  # a dispense undone
    "destroyed": Vocab("ObjectEvent", "DELETE", "destroying", "destroyed"),
    "stolen": Vocab("ObjectEvent", "OBSERVE", "decommissioning", "stolen"),
    "quarantined": Vocab("ObjectEvent", "OBSERVE", "holding", "non_sellable_other"),
    "cleared": Vocab("ObjectEvent", "OBSERVE", "inspecting", "active"),
    "recalled": Vocab("ObjectEvent", "OBSERVE", "holding", "recalled"),
    "reading": Vocab("ObjectEvent", "OBSERVE", "sensor_reporting", None),
    "excursion": Vocab("ObjectEvent", "OBSERVE", "sensor_reporting", None),
}


def events_for(event_type: str, action: str, biz_step: str | None) -> list[str]:
    """Our custody events an EPCIS (type, action, bizStep) may stand for (capture's lookup)."""
    step = cbv_word(biz_step) if biz_step else None
    return [name for name, v in EVENT_VOCABULARY.items()
            if v.event_type == event_type and v.action == action and (step is None or v.biz_step == step)]  # fmt: skip


def bizstep_uri(word: str) -> str:
    return f"{CBV_BASE}BizStep-{word}"


def disposition_uri(word: str) -> str:
    return f"{CBV_BASE}Disp-{word}"


def sdt_uri(word: str) -> str:
    return f"{CBV_BASE}SDT-{word}"


def btt_uri(word: str) -> str:
    """A business transaction type: a CBV word as its URI; anything else (a private type's URI) as it is."""
    return f"{CBV_BASE}BTT-{word}" if word in BTT_WORDS else word


def cbv12_uri(kind: str, word: str) -> str:
    """The CBV 1.2 URN of a word (kind: bizstep, disp, sdt, btt); a non-CBV value (a URI of its own) as it is."""
    return word if ":" in word else f"urn:epcglobal:cbv:{kind}:{word}"


def cbv_word(value: str) -> str:
    """The CBV bare word of a bizStep / disposition / source-destination / business transaction type in any of
    its forms."""
    for prefix in (f"{CBV_BASE}BizStep-", f"{CBV_BASE}Disp-", f"{CBV_BASE}SDT-", f"{CBV_BASE}BTT-", CBV12_BIZSTEP,
                   CBV12_DISP, CBV12_SDT, CBV12_BTT):  # fmt: skip
        if value.startswith(prefix):
            return value[len(prefix) :]
    return value


# --------------------------------------------------------------------------------------------- identifiers


def _prefix_length(key: str, kind: str) -> int:
    try:
        parsed = Sscc.parse(key) if kind == "sscc" else Gtin.parse(key)
    except BiipException:  # an unknown prefix range: the default length
        return DEFAULT_COMPANY_PREFIX_LENGTH
    return len(parsed.company_prefix.value) if parsed.company_prefix else DEFAULT_COMPANY_PREFIX_LENGTH


def epc_uri(item: gs1.Identifier) -> str:
    """EPC URI of a pack (sgtin), lot (lgtin class) or logistic unit (sscc)."""
    if isinstance(item, gs1.LogisticUnit):
        return gs1.to_epc_uri(item, _prefix_length(item.sscc, "sscc"))
    return gs1.to_epc_uri(item, _prefix_length(item.gtin, "gtin"))


def sgtin(gtin: str, serial: str) -> str:
    return epc_uri(gs1.Pack(gtin, serial))


def lgtin(gtin: str, lot: str) -> str:
    return epc_uri(gs1.Lot(gtin, lot))


def sscc(sscc18: str) -> str:
    return epc_uri(gs1.LogisticUnit(sscc18))


def parse_epc(value: str, field: str = "epc") -> gs1.Identifier:
    """An EPC URI, Digital Link or element string as our identifier; GS1Error names `field` when it is not one."""
    try:
        return gs1.parse(value, expect=(gs1.Kind.PACK, gs1.Kind.LOT, gs1.Kind.LOGISTIC_UNIT))
    except gs1.GS1Error as error:
        raise gs1.GS1Error(field, error.rule, error.message) from error


def _gln_parts(gln: str) -> tuple[str, str]:
    try:
        parsed = Gln.parse(gln)
        length = len(parsed.company_prefix.value) if parsed.company_prefix else DEFAULT_COMPANY_PREFIX_LENGTH
    except BiipException:
        length = DEFAULT_COMPANY_PREFIX_LENGTH
    return gln[:length], gln[length:-1]


def sgln(gln: str, extension: str = "0") -> str:
    """`urn:epc:id:sgln:<company prefix>.<location reference>.<extension>` of a 13-digit GLN."""
    company_prefix, reference = _gln_parts(gln)
    return f"urn:epc:id:sgln:{company_prefix}.{reference}.{extension}"


def pgln(gln: str) -> str:
    """`urn:epc:id:pgln:<company prefix>.<party reference>` of a party's GLN (source / destination)."""
    company_prefix, reference = _gln_parts(gln)
    return f"urn:epc:id:pgln:{company_prefix}.{reference}"


@functools.lru_cache(maxsize=4096)  # pure; a document names the same few locations and parties in every event
def gln_of_sgln(uri: str, field: str = "bizLocation") -> str:
    """The 13-digit GLN of an SGLN / PGLN EPC URI or a Digital Link /414/ or /417/; GS1Error otherwise."""
    for scheme in ("urn:epc:id:sgln:", "urn:epc:id:pgln:"):
        if uri.lower().startswith(scheme):
            parts = uri[len(scheme) :].split(".")
            body = "".join(parts[:2])
            if len(parts) < 2 or not (body.isascii() and body.isdecimal()) or len(body) != 12:
                break
            return body + str(gs1_standard_check_digit(body))
    for ai in ("/414/", "/417/"):
        if ai in uri:
            value = uri.split(ai, 1)[1][:13]
            return gs1.parse_gln(value)
    raise gs1.GS1Error(field, "format", f"{field} must be an SGLN (urn:epc:id:sgln:…) or a Digital Link /414/")


def zoned_time(value: str) -> datetime:
    """An EPCIS date-time (ISO 8601 with its zone, `Z` or ±hh:mm); ValueError naming what is wrong otherwise."""
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{value!r} is not an ISO 8601 date-time") from None
    if moment.tzinfo is None:
        raise ValueError("the time must carry its zone (Z or ±hh:mm)")
    return moment
