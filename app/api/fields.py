"""Marshmallow fields: `Text`, the one string field of every schema, and the GS1 identifiers.

`Text` refuses control characters (C0, DEL, C1), lone surrogates and, in a single-line field, the
Unicode line and paragraph separators: Postgres text cannot hold NUL, a lone surrogate cannot be
encoded as UTF-8, and a control character in a name, a sensor id or a code is never meant. A
multi-line field (a note) also takes tab, LF and CR. tests/api/test_fields.py checks that every
string field of every schema is a `Text`.

A unit may be sent as an element string, raw DataMatrix/GS1-128 scan data, a Digital Link URI,
an EPC URI or a bare key; a wrong check digit, length, charset or date is a 422 naming the field
and the rule (``check_digit: …``).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from marshmallow import ValidationError, fields

from app import gs1

AI82 = re.compile(r"^[!\"%&'()*+,\-./0-9:;<=>?A-Z_a-z]{1,20}$")  # GS1 AI encodable character set 82

_SURROGATES = (0xD800, 0xDFFF)  # unpaired in JSON ("\\ud800"): cannot be stored as UTF-8
_SEPARATORS = (0x2028, 0x2029)  # Unicode line and paragraph separators: line breaks in a single-line field


def _ranges(codes: list[int]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for code in sorted(codes):
        if out and code == out[-1][1] + 1:
            out[-1] = (out[-1][0], code)
        else:
            out.append((code, code))
    return out


class Text(fields.String):
    """A string without control characters (422 ``charset: …`` naming the field).

    `multiline`: tab, LF and CR are allowed too (notes, resolutions). `allow`: further characters a
    field needs (a GS1 scan's group separator). `echo`: an answer's field that repeats what the client sent (a
    problem's `instance`), so the document states no pattern for it."""

    def __init__(self, *, multiline: bool = False, allow: str = "", echo: bool = False, **kwargs):
        self.multiline = multiline
        allowed = {ord(c) for c in ("\t\n\r" if multiline else "") + allow}
        banned = [c for c in (*range(0x20), *range(0x7F, 0xA0)) if c not in allowed]
        banned += [*range(_SURROGATES[0], _SURROGATES[1] + 1)] + ([] if multiline else [*_SEPARATORS])
        spans = _ranges(banned)
        self._banned = re.compile("[" + "".join(f"\\U{a:08x}-\\U{b:08x}" for a, b in spans) + "]")
        # The same rule as an OpenAPI (ECMA-262) pattern, so schema-driven clients and fuzzers know it; without the
        # surrogates, which JSON Schema validators cannot compile in a pattern (and valid Unicode text never holds).
        pattern = "".join(
            f"\\u{a:04x}" if a == b else f"\\u{a:04x}-\\u{b:04x}" for a, b in spans if a != _SURROGATES[0]
        )
        metadata = {**({} if echo else {"pattern": f"^[^{pattern}]*$"}), **kwargs.pop("metadata", {})}
        super().__init__(metadata=metadata, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        found = self._banned.search(text)
        if found:
            allowed = "; tab, LF and CR are allowed" if self.multiline else ""
            what = "an unpaired surrogate" if 0xD800 <= ord(found[0]) <= 0xDFFF else "a control character"
            raise ValidationError(
                f"charset: must not contain control characters ({what}, U+{ord(found[0]):04X}, at position "
                f"{found.start()}{allowed})"
            )
        return text


class _GS1(Text):
    kinds: tuple[gs1.Kind, ...] = ()
    description = ""

    def __init__(self, **kwargs):
        metadata = {"description": self.description, **kwargs.pop("metadata", {})}
        super().__init__(metadata=metadata, allow=gs1.GS, **kwargs)  # GS ends a value in raw scan data

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        try:
            return self.convert(gs1.parse(text, expect=self.kinds))
        except gs1.GS1Error as exc:
            raise ValidationError(f"{exc.rule}: {exc.message}") from None

    def convert(self, item):
        return item


class SSCC(_GS1):
    """A case or pallet: SSCC-18 in any GS1 form; deserialises to the 18 digits."""

    kinds = (gs1.Kind.LOGISTIC_UNIT,)
    description = "SSCC of a case or pallet, in any GS1 form (e.g. 00106141411234567897, (00)…, Digital Link)"

    def convert(self, item):
        return item.sscc


class PackCode(_GS1):
    """A pack: GTIN + serial (lot and expiry optional) in any GS1 form; deserialises to gs1.Pack."""

    kinds = (gs1.Kind.PACK,)
    description = "A pack's GTIN and serial in any GS1 form, e.g. (01)09506000134352(21)ABC123 or a DataMatrix scan"


class _Key(Text):
    parser = staticmethod(gs1.parse_gtin)

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        try:
            return self.parser(text)
        except gs1.GS1Error as exc:
            raise ValidationError(f"{exc.rule}: {exc.message}") from None


class GTIN(_Key):
    """GTIN-8/12/13/14 with its check digit; deserialises to GTIN-14."""


class GLN(_Key):
    """GLN-13 with its check digit."""

    parser = staticmethod(gs1.parse_gln)


class LotNumber(Text):
    """A lot number as GS1 AI 10 allows it: 1 to 20 characters of the AI character set 82."""

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        if not AI82.fullmatch(text):
            raise ValidationError("charset: must be 1 to 20 characters of the GS1 AI character set 82")
        return text


class Serial(LotNumber):
    """A serial number as GS1 AI 21 allows it (same rule as a lot number)."""


class VerifiableCode(_GS1):
    """A pack (GTIN + serial), a lot (GTIN + lot) or a case/pallet (SSCC) in any GS1 form;
    deserialises to gs1.Pack, gs1.Lot or gs1.LogisticUnit."""

    kinds = (gs1.Kind.PACK, gs1.Kind.LOT, gs1.Kind.LOGISTIC_UNIT)
    description = (
        "What to verify, in any GS1 form: a pack (GTIN + serial, with lot and expiry as printed), a lot (GTIN + lot) "
        "or a case/pallet (SSCC). E.g. (01)09506000134352(21)ABC123(10)L1(17)301231, a raw DataMatrix scan, "
        "https://id.gs1.org/01/09506000134352/21/ABC123?10=L1&17=301231 or urn:epc:id:sgtin:9506000.013435.ABC123"
    )


class Time(fields.AwareDateTime):
    """A query time: ISO-8601 with a timezone, from 2000-01-01 up to (not including) 2200-01-01 UTC;
    deserialises to UTC (Postgres takes offsets only up to ±15:59, Python up to ±23:59)."""

    EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
    LATEST = datetime(2200, 1, 1, tzinfo=UTC)  # exclusive

    def __init__(self, **kwargs):
        kwargs.setdefault(
            "error_messages",
            {
                "invalid": "iso8601: must be an ISO-8601 time with a timezone, e.g. 2025-01-31T12:00:00Z",
                "invalid_awareness": "timezone: must carry a timezone (Z or ±hh:mm); a naive time is ambiguous",
            },
        )
        super().__init__(**kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        moment = super()._deserialize(value, attr, data, **kwargs)
        try:
            moment = moment.astimezone(UTC)
        except OverflowError:  # e.g. 9999-12-31T23:59:59-23:59 is in the year 10000 in UTC
            moment = None
        if moment is None or not self.EARLIEST <= moment < self.LATEST:
            raise ValidationError("range: must be from 2000-01-01T00:00:00Z up to 2200-01-01T00:00:00Z (exclusive)")
        return moment


class Expiry(fields.Date):
    """An expiry date a GS1 AI (17) can print: YYMMDD reaches 49 years back and 50 ahead (General Specifications
    7.12), so a later date could never be scanned back as itself."""

    def _deserialize(self, value, attr, data, **kwargs):
        day = super()._deserialize(value, attr, data, **kwargs)
        try:
            gs1.yymmdd(day)
        except gs1.GS1Error as exc:
            raise ValidationError(f"{exc.rule}: {exc.message}") from None
        return day
