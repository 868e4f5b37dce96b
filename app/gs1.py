"""GS1 identifiers: one parser for every form the API accepts, and the renderers back.

Scanners, pharmacy systems and regulators send the same keys in four forms: bracketed
element strings, raw DataMatrix scan data, GS1 Digital Link URIs and EPC URIs (DESIGN.md §1).
`parse` turns any of them into a frozen `Pack`, `Lot`, `LogisticUnit` or `Product`, or
raises `GS1Error` naming the API field and a machine-readable rule.

biip does the GS1 work: the AI table, each AI's pattern, check digits, YYMMDD dates (with
the General Specifications' century window and day 00 = end of month), Digital Link paths
and rendering. This module picks the form, cuts element strings into (AI, value) pairs so
an error can name its field, and adds what biip 5.2.0 lacks or gets too lenient:

- a variable-length value runs to the next GS, so a 25-character serial is an error
  (biip's `GS1Message.parse` silently splits it into a serial and whatever AI follows);
- bracketed strings honour the GS1 Syntax Engine's ``\\(`` escape (biip's `parse_hri`
  silently drops data after a ``(`` that is not an AI);
- input must be ASCII (biip's ``\\d`` also accepts e.g. Arabic-Indic digits);
- an AI repeated with a different value is refused (biip keeps both);
- EPC URIs (GS1 Tag Data Standard), which biip does not know.

The four value types validate themselves on construction, so any instance is a
well-formed key the rest of the service can hash and store without checking again.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import ClassVar
from urllib.parse import parse_qsl, quote, unquote, urlsplit

from biip import BiipException
from biip.checksums import gs1_standard_check_digit
from biip.gln import Gln
from biip.gs1_application_identifiers import GS1ApplicationIdentifier
from biip.gs1_digital_link_uris import GS1DigitalLinkURI
from biip.gs1_element_strings import GS1ElementString, GS1ElementStrings
from biip.gs1_messages import GS1Message
from biip.gtin import Gtin
from biip.sscc import Sscc
from biip.symbology import GS1Symbology, SymbologyIdentifier

from app.errors import PharmatrackError

MAX_INPUT_LENGTH = 512  # longer than any real symbol or URI; refused before any parsing
GS = "\x1d"  # FNC1 as transmitted by scanners: ends a variable-length value
CSET82 = frozenset("!\"%&'()*+,-./0123456789:;<=>?ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz")
FIELD_BY_AI = {"00": "sscc", "01": "gtin", "10": "lot", "17": "expiry", "21": "serial"}
EPC_SAFE = "!'()*+,:;="  # TDS: of character set 82 only " % & / < > ? are %-escaped in EPC URIs
_BRACKETED_AI = re.compile(r"(?<!\\)\((\d+)\)")
_DATA_FORMAT = re.compile(r"([NX])(\.\.)?(\d+)")
_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")
_EPC_SCHEME = re.compile(r"urn:epc:(id:sgtin|id:sscc|class:lgtin):", re.IGNORECASE)
# The Digital Link of a pack or lot as printed (and as `to_digital_link` writes it): a host, /01/<GTIN-14>, the
# qualifiers 22, 10, 21 in that order, at most an expiry (17) in the query. See _from_digital_link.
_PLAIN_DIGITAL_LINK = re.compile(
    r"https?://[A-Za-z0-9.-]+(?::[0-9]{1,5})?/01/([0-9]{14})"
    r"(?:/22/([^/?#]+))?(?:/10/([^/?#]+))?(?:/21/([^/?#]+))?(?:\?17=([0-9]{6}))?",
    re.IGNORECASE,
)


class GS1Error(PharmatrackError, ValueError):
    """Input that is not a valid GS1 identifier; `field` is what the API reports, `rule` a slug.

    Rules: check_digit, length, charset, date, missing, format, unexpected_kind.
    """

    def __init__(self, field: str, rule: str, message: str):
        super().__init__(field, rule, message)
        self.field, self.rule, self.message = field, rule, message

    def __str__(self) -> str:
        return self.message


class Kind(StrEnum):
    PACK = "pack"
    LOT = "lot"
    LOGISTIC_UNIT = "logistic_unit"
    PRODUCT = "product"


@dataclass(frozen=True)
class Product:
    """A trade item (AI 01), GTIN-14."""

    gtin: str
    kind: ClassVar[Kind] = Kind.PRODUCT

    def __post_init__(self) -> None:
        _check_gtin14(self.gtin)


@dataclass(frozen=True)
class Lot:
    """A lot or batch of a product (LGTIN: AI 01 + 10), with its expiry when known."""

    gtin: str
    lot: str
    expiry: date | None = None
    kind: ClassVar[Kind] = Kind.LOT

    def __post_init__(self) -> None:
        _check_gtin14(self.gtin)
        _element("10", self.lot)
        _check_expiry(self.expiry)


@dataclass(frozen=True)
class Pack:
    """A serialized saleable unit (SGTIN: AI 01 + 21), with the lot and expiry printed beside."""

    gtin: str
    serial: str
    lot: str | None = None
    expiry: date | None = None
    kind: ClassVar[Kind] = Kind.PACK

    def __post_init__(self) -> None:
        _check_gtin14(self.gtin)
        _element("21", self.serial)
        if self.lot is not None:
            _element("10", self.lot)
        _check_expiry(self.expiry)


@dataclass(frozen=True)
class LogisticUnit:
    """A case, pallet or tote (AI 00), SSCC-18."""

    sscc: str
    kind: ClassVar[Kind] = Kind.LOGISTIC_UNIT

    def __post_init__(self) -> None:
        parse_sscc(self.sscc)


Identifier = Pack | Lot | LogisticUnit | Product


# --- entry points -------------------------------------------------------------------------


def parse(code: str, expect: Collection[Kind | str] | None = None) -> Identifier:
    """Parse any accepted form; with `expect`, also refuse other kinds and accept bare keys.

    A bare SSCC (18 digits) or GTIN (8/12/13/14 digits) is only taken as such when the
    caller expects a logistic unit or product: "96385074" is also a valid element string.
    """
    kinds = None if expect is None else frozenset(Kind(k) for k in expect)
    if kinds is not None and not kinds:
        raise ValueError("expect is empty: pass None to accept every kind")
    if not isinstance(code, str):
        raise GS1Error("code", "format", "code must be a string")
    if len(code) > MAX_INPUT_LENGTH:
        raise GS1Error("code", "length", f"code is longer than {MAX_INPUT_LENGTH} characters")
    text = code.strip()  # also drops a leading FNC1 (GS) some scanners send
    if not text:
        raise GS1Error("code", "missing", "code is empty")
    if not text.isascii():
        raise GS1Error("code", "charset", "code contains non-ASCII characters")
    return _expected(_parse_text(text, kinds or frozenset()), kinds)


def parse_gtin(value: str) -> str:
    """A GTIN-8/12/13/14 with a valid check digit, normalised to GTIN-14."""
    return _key("gtin", value, (8, 12, 13, 14), lambda digits: Gtin.parse(digits).as_gtin_14())


def parse_sscc(value: str) -> str:
    """An SSCC-18 with a valid check digit."""
    return _key("sscc", value, (18,), lambda digits: Sscc.parse(digits).value)


def parse_gln(value: str) -> str:
    """A GLN-13 with a valid check digit (trading partners, DESIGN.md §1)."""
    return _key("gln", value, (13,), lambda digits: Gln.parse(digits).value)


# --- renderers ----------------------------------------------------------------------------


def to_element_string(item: Identifier) -> str:
    """Bracketed element string, e.g. ``(01)09506000134352(21)ABC123``; ``(`` in data as ``\\(``."""
    return "".join(f"({ai}){_escape_parens(value)}" for ai, value in _pairs(item))


def to_scan_data(item: Identifier, symbology: str = "]d2") -> str:
    """What a scanner sends for a GS1 DataMatrix of `item`: symbology id, GS after variable fields."""
    return symbology + GS1Message.from_element_strings(_elements(item)).value


def to_digital_link(item: Identifier, base: str = "https://id.gs1.org") -> str:
    """GS1 Digital Link URI on `base` (an https origin, optionally with a path prefix)."""
    origin = urlsplit(base)
    if origin.scheme != "https" or not origin.netloc:
        raise ValueError(f"Digital Link base must be an https URL, got {base!r}")
    uri = GS1DigitalLinkURI.from_element_strings(_elements(item))
    return uri.as_uri(domain=origin.netloc, prefix=origin.path.strip("/") or None)


def to_epc_uri(item: Identifier, company_prefix_length: int | None = None) -> str:
    """EPC pure-identity URI (sgtin, sscc) or class URI (lgtin) per the GS1 Tag Data Standard.

    The company prefix length is not in the key itself; without it, biip's copy of GS1's
    prefix-length table is used. Lot/expiry of a pack and expiry of a lot are not carried.
    """
    if isinstance(item, Product):
        raise GS1Error("code", "unexpected_kind", "a GTIN alone has no EPC pure-identity URI")
    key = item.sscc if isinstance(item, LogisticUnit) else item.gtin
    if company_prefix_length is None:
        parsed = Sscc.parse(key) if isinstance(item, LogisticUnit) else Gtin.parse(key)
        if parsed.company_prefix is None:
            raise ValueError(f"company prefix length of {key} is unknown; pass company_prefix_length")
        company_prefix_length = len(parsed.company_prefix.value)
    if not 6 <= company_prefix_length <= 12:
        raise ValueError(f"company prefix length must be 6..12, got {company_prefix_length}")
    # Both keys are <indicator or extension digit><company prefix><reference><check digit>.
    company_prefix = key[1 : 1 + company_prefix_length]
    reference = key[0] + key[1 + company_prefix_length : -1]
    if isinstance(item, Pack):
        return f"urn:epc:id:sgtin:{company_prefix}.{reference}.{quote(item.serial, safe=EPC_SAFE)}"
    if isinstance(item, Lot):
        return f"urn:epc:class:lgtin:{company_prefix}.{reference}.{quote(item.lot, safe=EPC_SAFE)}"
    return f"urn:epc:id:sscc:{company_prefix}.{reference}"


# --- parsing by form ----------------------------------------------------------------------


def _parse_text(text: str, kinds: frozenset[Kind]) -> Identifier:
    lowered = text.lower()
    if lowered.startswith("urn:"):
        return _from_epc_uri(text)
    if lowered.startswith(("http://", "https://")):
        return _from_digital_link(text)
    if text.startswith("("):
        return _classify(_from_bracketed(text))
    if text.startswith("]"):
        return _from_scan_data(text)
    if text.isdigit() and (bare := _bare_key(text, kinds)):
        return bare
    return _classify(_from_unbracketed(text))


def _bare_key(digits: str, kinds: frozenset[Kind]) -> Identifier | None:
    if Kind.LOGISTIC_UNIT in kinds and len(digits) == 18:
        return LogisticUnit(parse_sscc(digits))
    if Kind.PRODUCT in kinds and len(digits) in (8, 12, 13, 14):
        return Product(parse_gtin(digits))
    return None


def _from_scan_data(text: str) -> Identifier:
    """Scanner output starting with an AIM symbology identifier (``]d2``, ``]C1``, ``]Q3``...)."""
    try:
        symbology = SymbologyIdentifier.extract(text)
    except (BiipException, IndexError, ValueError):  # biip raises IndexError for "]", "]Y"
        raise GS1Error("code", "format", f"unknown symbology identifier in {text[:4]!r}") from None
    data = text[len(symbology) :]
    if data.lower().startswith(("http://", "https://")):
        return _from_digital_link(data)
    if symbology.gs1_symbology in GS1Symbology.with_gs1_messages():
        return _classify(_from_unbracketed(data))
    if symbology.gs1_symbology in GS1Symbology.with_gtin():
        return Product(parse_gtin(data))
    raise GS1Error("code", "format", f"symbology {symbology} does not carry GS1 data")


def _from_unbracketed(data: str) -> list[GS1ElementString]:
    """Cut raw AI data into elements: fixed-length values by the AI's length, the rest to GS."""
    elements = []
    for chunk in data.split(GS):
        rest = chunk
        while rest:
            ai = _ai(rest)
            if ai.separator_required:
                value, rest = rest[len(ai) :], ""
            else:  # predefined-length AIs are all "N<k>+N<n>" in biip's table
                end = len(ai) + int(ai.format.rpartition("+N")[2])
                value, rest = rest[len(ai) : end], rest[end:]
            elements.append(_element(ai.ai, value))
    return elements


def _from_bracketed(text: str) -> list[GS1ElementString]:
    """``(AI)value...``; ``\\(`` is a literal. Whitespace around an element (as printed under a barcode:
    ``(01) 09506000134352 (21) ABC123``) is dropped; inside a value it is refused, not dropped: none is valid
    GS1 data, and ``AB C`` is not the serial ``ABC``."""
    head, *rest = _BRACKETED_AI.split(text)
    if head.strip() or not rest:
        raise GS1Error("code", "format", "expected an element string like (01)09506000134352(21)ABC123")
    elements = []
    for code, printed in zip(rest[::2], rest[1::2], strict=True):
        _ai(code, exact=True)
        value = printed.strip()
        if any(c.isspace() for c in value):
            field = FIELD_BY_AI.get(code, "code")
            raise GS1Error(field, "charset", f"{_name(code)} contains whitespace")
        elements.append(_element(code, value.replace("\\(", "(")))
    return elements


def _from_digital_link(uri: str) -> Identifier:
    _check_escapes(uri)
    if (plain := _plain_digital_link(uri)) is not None:
        return plain
    # RFC 3986 keeps "+" literal and it is in character set 82; biip's parse_qs would make it a space.
    path, mark, query = uri.partition("?")
    uri = path + mark + query.replace("+", "%2B")
    try:
        parsed = GS1DigitalLinkURI.parse(uri)
    except (BiipException, ValueError) as exc:
        _explain_digital_link(uri)
        raise GS1Error("code", "format", f"not a valid GS1 Digital Link URI: {exc}") from None
    return _classify([_checked(element) for element in parsed.element_strings])


def _plain_digital_link(uri: str) -> Identifier | None:
    """A plain Digital Link (_PLAIN_DIGITAL_LINK) read without biip's URI parser, or None for any other.

    biip's GS1DigitalLinkURI.parse cuts the path after its primary key into (AI, value) pairs, %-decodes them,
    takes the qualifiers in order and the query's AIs, and parses each pair with GS1ElementString.parse: for a
    URI of this shape those are the pairs matched here, parsed the same way by the cached `_element` (biip's
    parser is most of a Digital Link's cost, about 6x an element string's). A pair that fails returns None, so
    the error is the one biip's way gives."""
    match = _PLAIN_DIGITAL_LINK.fullmatch(uri)
    if match is None:
        return None
    gtin, variant, lot, serial, expiry = match.groups()
    pairs = [("01", gtin), ("22", variant), ("10", lot), ("21", serial), ("17", expiry)]
    try:
        return _classify(
            [_element(ai, value if ai in ("01", "17") else unquote(value)) for ai, value in pairs if value is not None]
        )
    except GS1Error:
        return None


def _check_escapes(uri: str) -> None:
    """A ``%`` not followed by two hex digits is not percent-encoding (RFC 3986 §2.1): refuse it rather than
    take ``%ZZ`` as three characters of a serial (``%`` is in character set 82; a literal one is ``%25``)."""
    if not _BAD_ESCAPE.search(uri):
        return
    path, _, query = uri.partition("?")
    segments = path.split("/")
    for i, segment in enumerate(segments[1:], start=1):
        if _BAD_ESCAPE.search(segment):
            field = FIELD_BY_AI.get(segments[i - 1], "code")
            raise GS1Error(field, "charset", f"malformed %-escape in the Digital Link's {field}: write % as %25")
    for pair in query.split("&"):
        ai = pair.partition("=")[0]
        if _BAD_ESCAPE.search(pair):
            field = FIELD_BY_AI.get(ai, "code")
            raise GS1Error(field, "charset", f"malformed %-escape in the Digital Link's {field}: write % as %25")
    raise GS1Error("code", "charset", "malformed %-escape in the Digital Link: write % as %25")


def _explain_digital_link(uri: str) -> None:
    """biip says only that a URI failed; find the key/qualifier/attribute value that did."""
    try:
        parts = urlsplit(uri)
    except ValueError:
        return
    segments = [unquote(s) for s in parts.path.split("/")]
    start = next((i for i, s in enumerate(segments) if s in ("00", "01")), len(segments))
    pairs = [*zip(segments[start::2], segments[start + 1 :: 2], strict=False), *parse_qsl(parts.query)]
    for code, value in pairs:
        if code in FIELD_BY_AI:
            _element(code, value)


@functools.lru_cache(maxsize=65536)  # pure, its results immutable: an EPCIS document names each EPC in its hash too
def _from_epc_uri(uri: str) -> Identifier:
    """TDS: ``urn:epc:id:sgtin:CP.IR.S``, ``urn:epc:id:sscc:CP.SR``, ``urn:epc:class:lgtin:CP.IR.L``. An error is
    raised again each time (lru_cache keeps only results)."""
    scheme = _EPC_SCHEME.match(uri)
    if not scheme:
        raise GS1Error("code", "format", "expected urn:epc:id:sgtin, urn:epc:id:sscc or urn:epc:class:lgtin")
    kind = scheme[1].lower()
    field, key_length = ("sscc", 17) if kind == "id:sscc" else ("gtin", 13)
    company_prefix, reference, extra = [*uri[scheme.end() :].split(".", 2), "", ""][:3]
    if not (company_prefix.isdigit() and reference.isdigit()):
        raise GS1Error(field, "charset", "EPC company prefix and reference must be digits")
    if not 6 <= len(company_prefix) <= 12 or len(company_prefix) + len(reference) != key_length:
        raise GS1Error(field, "length", f"EPC company prefix (6-12 digits) and reference must total {key_length}")
    # The indicator (GTIN) or extension digit (SSCC) leads the reference in EPCs, the key in GS1.
    body = reference[0] + company_prefix + reference[1:]
    key = body + str(gs1_standard_check_digit(body))
    if kind == "id:sscc":
        if extra:
            raise GS1Error("code", "format", "an SSCC EPC URI has two parts: company prefix and serial reference")
        return LogisticUnit(key)
    name = "serial" if kind == "id:sgtin" else "lot"
    if not extra:
        raise GS1Error(name, "missing", f"EPC URI has no {name}")
    if _BAD_ESCAPE.search(extra):
        raise GS1Error(name, "charset", f"malformed %-escape in EPC {name}")
    value = unquote(extra)
    return Pack(key, value) if name == "serial" else Lot(key, value)


# --- elements -----------------------------------------------------------------------------


def _ai(data: str, *, exact: bool = False) -> GS1ApplicationIdentifier:
    """The GS1 AI `data` starts with (or, if `exact`, is), from biip's table."""
    try:
        ai = GS1ApplicationIdentifier.extract(data)
    except BiipException:
        ai = None
    if ai is None or (exact and ai.ai != data):
        shown = data if exact else data[:4]
        hint = " (a bare GTIN or SSCC is accepted only when one is expected)" if data.isdigit() and not exact else ""
        raise GS1Error("code", "format", f"unknown GS1 Application Identifier at {shown!r}{hint}")
    return ai


@functools.lru_cache(maxsize=16384)
def _element(ai: str, value: str) -> GS1ElementString:
    """One AI's value, validated by biip; any failure becomes a GS1Error on the AI's field.

    Parses are kept (biip's parse is most of a verification's CPU): GTINs, lots and expiry dates
    repeat across the packs a partner scans, and a serial is checked twice, by the parser and again
    by `Pack`. An error is raised again each time (lru_cache keeps only results). Callers only read
    the elements, never change them."""
    return _parse_element(ai, value)


def _parse_element(ai: str, value: str) -> GS1ElementString:
    field = FIELD_BY_AI.get(ai, "code")
    if not value:
        raise GS1Error(field, "missing", f"{_name(ai)} is empty")
    if not value.isascii():
        raise GS1Error(field, "charset", f"{_name(ai)} contains non-ASCII characters")
    try:
        element = GS1ElementString.parse(ai + value)
    except (BiipException, ValueError) as exc:
        raise _explain(ai, field, value, str(exc)) from None
    return _checked(element)


def _checked(element: GS1ElementString) -> GS1ElementString:
    """biip reports a bad check digit beside the element, not as an exception; raise it."""
    ai, value = element.ai.ai, element.value
    field = FIELD_BY_AI.get(ai, "code")
    if not value.isascii():
        raise GS1Error(field, "charset", f"{_name(ai)} contains non-ASCII characters")
    problem = element.gtin_error or element.sscc_error or element.gln_error
    if problem:
        raise GS1Error(field, "check_digit", problem)
    if field in ("gtin", "sscc") and not value.strip("0"):
        raise GS1Error(field, "format", f"a {field.upper()} of all zeros is not valid")
    return element


def _explain(ai: str, field: str, value: str, biip_message: str) -> GS1Error:
    """Turn biip's "failed to match pattern" into the rule the value broke."""
    spec, name = GS1ApplicationIdentifier.extract(ai), _name(ai)
    data_format = _DATA_FORMAT.fullmatch(spec.format.partition("+")[2])
    if data_format:
        numeric, variable, size = data_format[1] == "N", bool(data_format[2]), int(data_format[3])
        if numeric and not value.isdigit():
            return GS1Error(field, "charset", f"{name} must be digits only")
        if not numeric and set(value) - CSET82:
            bad = "".join(sorted(set(value) - CSET82))
            return GS1Error(field, "charset", f"{name} has characters outside GS1 character set 82: {bad!r}")
        if len(value) > size or (not variable and len(value) != size):
            expected = f"at most {size}" if variable else f"exactly {size}"
            return GS1Error(field, "length", f"{name} must have {expected} characters, got {len(value)}")
        if "YYMMDD" in spec.description:
            return GS1Error(field, "date", f"{name} {value!r} is not a date (YYMMDD, day 00 = end of month)")
    return GS1Error(field, "format", f"{name}: {biip_message}")


def _name(ai: str) -> str:
    return f"{FIELD_BY_AI[ai]} ({ai})" if ai in FIELD_BY_AI else f"AI ({ai})"


def _classify(elements: list[GS1ElementString]) -> Identifier:
    """Which key the elements make up; AIs this service does not use (e.g. NHRN 710) are ignored."""
    by_ai: dict[str, GS1ElementString] = {}
    for element in elements:
        seen = by_ai.setdefault(element.ai.ai, element)
        if seen.value != element.value:
            field = FIELD_BY_AI.get(element.ai.ai, "code")
            raise GS1Error(field, "format", f"{_name(element.ai.ai)} appears twice with different values")
    value = {ai: element.value for ai, element in by_ai.items()}.get
    if "00" in by_ai:
        if "01" in by_ai:
            raise GS1Error("code", "format", "code has both an SSCC (00) and a GTIN (01)")
        return LogisticUnit(value("00"))
    if "01" not in by_ai:
        field = "gtin" if by_ai.keys() & {"10", "17", "21"} else "code"
        raise GS1Error(field, "missing", "code has no GTIN (01) or SSCC (00)")
    expiry = by_ai["17"].date if "17" in by_ai else None
    if "21" in by_ai:
        return Pack(value("01"), value("21"), value("10"), expiry)
    if "10" in by_ai:
        return Lot(value("01"), value("10"), expiry)
    return Product(value("01"))


def _expected(item: Identifier, kinds: frozenset[Kind] | None) -> Identifier:
    if kinds is None or item.kind in kinds:
        return item
    if isinstance(item, Product | Lot) and Kind.PACK in kinds:
        raise GS1Error("serial", "missing", f"expected a pack (GTIN + serial), got a {item.kind}")
    if isinstance(item, Product) and Kind.LOT in kinds:
        raise GS1Error("lot", "missing", "expected a lot (GTIN + lot), got a product")
    wanted = " or ".join(sorted(kinds))
    raise GS1Error("code", "unexpected_kind", f"expected {wanted}, got {item.kind}")


# --- helpers ------------------------------------------------------------------------------


def _key(field: str, value: str, lengths: tuple[int, ...], biip_parse: Callable[[str], str]) -> str:
    """A bare numeric key: shape checked here so the rule is precise, check digit by biip."""
    if not isinstance(value, str) or not value:
        raise GS1Error(field, "missing", f"{field} is empty")
    if not (value.isascii() and value.isdigit()):
        raise GS1Error(field, "charset", f"{field} must be digits only")
    if len(value) not in lengths:
        allowed = "/".join(map(str, lengths))
        raise GS1Error(field, "length", f"{field} must have {allowed} digits, got {len(value)}")
    if not value.strip("0"):
        raise GS1Error(field, "format", f"a {field.upper()} of all zeros is not valid")
    try:
        return biip_parse(value)
    except BiipException as exc:
        raise GS1Error(field, "check_digit", str(exc)) from None


@functools.lru_cache(maxsize=4096)  # every Pack, Lot and Product checks its GTIN; GTINs repeat
def _check_gtin14(gtin: str) -> None:
    if parse_gtin(gtin) != gtin:
        raise GS1Error("gtin", "length", "GTIN must be given as GTIN-14 (see parse_gtin)")


def _check_expiry(expiry: date | None) -> None:
    if expiry is not None and (not isinstance(expiry, date) or isinstance(expiry, datetime)):
        raise GS1Error("expiry", "format", "expiry must be a date")


def yymmdd(expiry: date) -> str:
    """Render an expiry as AI (17) prints it; refuse dates the YYMMDD century window would read back differently."""
    text = expiry.strftime("%y%m%d")
    if _element("17", text).date != expiry:
        raise GS1Error("expiry", "date", f"{expiry} is outside the GS1 YYMMDD window (49 years back, 50 ahead)")
    return text


def _escape_parens(value: str) -> str:
    return value.replace("(", "\\(")


def _pairs(item: Identifier) -> Iterator[tuple[str, str]]:
    """(AI, value) in the order of DESIGN.md's example: key, serial, lot, expiry."""
    if isinstance(item, LogisticUnit):
        yield "00", item.sscc
        return
    yield "01", item.gtin
    if isinstance(item, Pack):
        yield "21", item.serial
    if isinstance(item, Pack | Lot) and item.lot is not None:
        yield "10", item.lot
    if isinstance(item, Pack | Lot) and item.expiry is not None:
        yield "17", yymmdd(item.expiry)


def _elements(item: Identifier) -> GS1ElementStrings:
    return GS1ElementStrings(_element(ai, value) for ai, value in _pairs(item))
