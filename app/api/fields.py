"""Marshmallow fields for GS1 identifiers: any accepted form in, a checked identifier out.

A unit may be sent as an element string, raw DataMatrix/GS1-128 scan data, a Digital Link URI,
an EPC URI or a bare key; a wrong check digit, length, charset or date is a 422 naming the field
and the rule (``check_digit: …``).
"""

from __future__ import annotations

import re

from marshmallow import ValidationError, fields

from app import gs1

AI82 = re.compile(r"^[!\"%&'()*+,\-./0-9:;<=>?A-Z_a-z]{1,20}$")  # GS1 AI encodable character set 82


class _GS1(fields.String):
    kinds: tuple[gs1.Kind, ...] = ()
    description = ""

    def __init__(self, **kwargs):
        metadata = {"description": self.description, **kwargs.pop("metadata", {})}
        super().__init__(metadata=metadata, **kwargs)

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


class _Key(fields.String):
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


class LotNumber(fields.String):
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
