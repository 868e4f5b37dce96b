"""Provenance: the timeline, containment history, parties and cold chain of a pack, case, pallet or lot.

Read from the mirror only (app.services.provenance), cut by the access policy (app/services/access.py): a
regulator and the manufacturer see the whole record, an organisation that took part in the object's custody
the record up to and including its own last event, anyone else nothing (403 `not_on_path`).
"""

from __future__ import annotations

from flask import current_app, g
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import RAISE, Schema, fields

from app import gs1
from app.api import fields as gs1f
from app.api.auth import SECURITY
from app.api.fields import Text
from app.api.problems import problem
from app.services import provenance

blp = Blueprint("provenance", __name__, url_prefix="/v1", description="Provenance of packs, cases, pallets and lots")

CODE_DESCRIPTION = (
    "A case or pallet (SSCC-18: 18 digits, `(00)…`, `urn:epc:id:sscc:…`) or a pack (GTIN + serial: element "
    "string, raw DataMatrix scan, GS1 Digital Link, `urn:epc:id:sgtin:…`). In the path, URL-encode it "
    "(`(`, `)`, `/`, `:`, `?` and the GS separator `%1D`); `GET /v1/units/provenance?code=…` takes the same code as "
    "a query parameter. A lot or expiry given beside a pack's serial must be the pack's, else 404."
)


# --------------------------------------------------------------------------------------------- request schemas


class UnitCode(gs1f._GS1):
    """A case, pallet or pack code in any GS1 form; deserialises to gs1.LogisticUnit or gs1.Pack."""

    kinds = (gs1.Kind.LOGISTIC_UNIT, gs1.Kind.PACK)
    description = CODE_DESCRIPTION


class UnitPathSchema(Schema):
    code = UnitCode(required=True, metadata={"example": "109506000000090000"})  # the demo's pallet


class UnitQuerySchema(Schema):
    code = UnitCode(required=True, metadata={"example": "(01)09506000134352(21)DEMO000001"})


class LotPathSchema(Schema):
    gtin = gs1f.GTIN(required=True, metadata={"description": "GTIN-8/12/13/14", "example": "09506000134352"})
    lot = gs1f.LotNumber(
        required=True, metadata={"description": "Lot number (AI 10), URL-encoded", "example": "DEMO-L1"}
    )


# --------------------------------------------------------------------------------------------- response schemas


class RefSchema(Schema):
    kind = Text(
        required=True,
        metadata={"description": "lot, case, pallet, tote, consignment, pack, or packs (of a lot)"},
    )
    sscc = Text(allow_none=True, metadata={"description": "Case, pallet or tote (a consignment has none)"})
    id = Text(metadata={"description": "On-chain id of a consignment (it has no SSCC): receive or accept it by this"})
    gtin = Text()
    lot = Text()
    serial = Text()


class PartySchema(Schema):
    account = Text(required=True, metadata={"description": "Chain address"})
    gln = Text(allow_none=True, metadata={"description": "GLN registered on chain for the account"})
    name = Text(allow_none=True, metadata={"description": "Organisation name known to the service"})


class PlaceSchema(Schema):
    gln = Text(allow_none=True)
    name = Text(allow_none=True)


class EventSchema(Schema):
    event = Text(
        required=True,
        metadata={
            "description": "opened, commissioned (a lot in one go, or each batch of an opened lot), recalled, "
            "quarantined, cleared (of the subject: lot, unit or pack), "
            "packed, palletised, shipped, received, refused, unpacked, dispensed, destroyed"
        },
    )
    subject = fields.Nested(RefSchema, required=True, metadata={"description": "What the event is about"})
    container = fields.Nested(
        RefSchema,
        allow_none=True,
        metadata={"description": "palletised: the pallet; pack events: the case they were held through"},
    )
    sender = fields.Nested(
        PartySchema,
        data_key="from",
        attribute="from",
        required=True,
        metadata={"description": "Who acted; for shipped/received/refused, the sender"},
    )
    to = fields.Nested(
        PartySchema, allow_none=True, metadata={"description": "shipped/received/refused: the recipient"}
    )
    place = fields.Nested(PlaceSchema, required=True, metadata={"description": "The acting party's GLN"})
    time = fields.DateTime(allow_none=True, metadata={"description": "Block timestamp, UTC"})
    block_number = fields.Integer(required=True)
    log_index = fields.Integer(required=True)
    tx_hash = Text(required=True)
    packs = fields.Integer(allow_none=True, metadata={"description": "Packs the event names (case packing, pack sets)"})


class MomentSchema(Schema):
    block_number = fields.Integer(required=True)
    time = fields.DateTime(allow_none=True)


class UntilSchema(MomentSchema):
    event = Text(
        required=True, metadata={"description": "pallet_unpacked, case_shipped, case_unpacked or case_palletised"}
    )


class ContainmentSchema(Schema):
    unit = fields.Nested(RefSchema, required=True)
    container = fields.Nested(RefSchema, required=True)
    packs = fields.Integer(allow_none=True, metadata={"description": "For a lot: packs of it put in the case"})
    since = fields.Nested(MomentSchema, required=True)
    until = fields.Nested(UntilSchema, allow_none=True, metadata={"description": "null: still inside"})


class ReadingsSummarySchema(Schema):
    count = fields.Integer(required=True)
    impossible_readings = fields.Integer(
        metadata={"description": "Readings at or below absolute zero (a broken logger): left out of the figures"}
    )
    min_celsius = fields.Float(required=True)
    max_celsius = fields.Float(required=True)
    mean_celsius = fields.Float(
        required=True, metadata={"description": "Time-weighted mean (the arithmetic mean for evenly spaced readings)"}
    )
    mkt_celsius = fields.Float(
        required=True, metadata={"description": "Mean kinetic temperature, ΔH/R = 10,000 K, weighted by interval"}
    )
    first = fields.DateTime(allow_none=True, metadata={"description": "Time of the first reading"})
    last = fields.DateTime(allow_none=True, metadata={"description": "Time of the last reading"})


class SensorSummarySchema(ReadingsSummarySchema):
    sensor_id = Text(required=True, metadata={"description": "keccak256 of the logger's id, as on chain"})
    units = fields.List(Text(), required=True, metadata={"description": "SSCCs it recorded on"})


class ReadingsSchema(Schema):
    overall = fields.Nested(ReadingsSummarySchema, allow_none=True)
    sensors = fields.List(fields.Nested(SensorSummarySchema), required=True)


class AllowedSchema(Schema):
    min_celsius = fields.Float(required=True)
    max_celsius = fields.Float(required=True)


class ExcursionSchema(Schema):
    unit = fields.Nested(RefSchema, required=True)
    sensor_id = Text(required=True)
    time = fields.DateTime(allow_none=True, metadata={"description": "When the first out-of-range reading was taken"})
    celsius = fields.Float(required=True, metadata={"description": "That reading"})
    allowed = fields.Nested(AllowedSchema, required=True)
    block_number = fields.Integer(required=True)
    tx_hash = Text(required=True)
    recorded_at = fields.DateTime(allow_none=True, metadata={"description": "Block timestamp"})


class SubjectSchema(Schema):
    kind = Text(required=True, metadata={"description": "pack, case, pallet or lot"})
    id = Text(required=True, metadata={"description": "On-chain id (sgtin, sscc or lgtin hash)"})
    sscc = Text()
    gtin = Text()
    serial = Text()
    lot = Text()
    expiry = fields.Date(allow_none=True)
    lot_id = Text()
    leaf_index = fields.Integer(metadata={"description": "The pack's position in its lot's serial tree"})
    manufacturer = Text(metadata={"description": "The lot's manufacturer (chain address)"})


class PackCountsSchema(Schema):
    serials = fields.Integer(required=True)
    cased = fields.Integer(required=True)
    dispensed = fields.Integer(required=True)
    destroyed = fields.Integer(required=True)
    stolen = fields.Integer(required=True, metadata={"description": "Packs reported stolen"})
    quarantined = fields.Integer(required=True, metadata={"description": "Packs quarantined now, on their own"})


class ProvenanceSchema(Schema):
    subject = fields.Nested(SubjectSchema, required=True)
    timeline = fields.List(fields.Nested(EventSchema), required=True)
    containment = fields.List(fields.Nested(ContainmentSchema), required=True)
    parties = fields.List(fields.Nested(PartySchema), required=True)
    readings = fields.Nested(ReadingsSchema, required=True)
    excursions = fields.List(fields.Nested(ExcursionSchema), required=True)
    pack_counts = fields.Nested(PackCountsSchema, allow_none=True, metadata={"description": "Lots only"})


# --------------------------------------------------------------------------------------------- views


def _answer(build, *args):
    db = current_app.extensions["pharmatrack"].db
    try:
        with db.connection() as conn:
            prov = provenance.seen_by(conn, g.principal, build, *args)  # the access policy (app/services/access.py)
    except provenance.NotOnPath as exc:
        return problem(
            403,
            "Forbidden",
            "only a regulator, the lot's manufacturer or an organisation that took part in the custody of "
            f"this {exc.kind} may see its provenance",
            code="not_on_path",
        )
    return prov.to_dict()


def _unit(code: gs1.Pack | gs1.LogisticUnit):
    if isinstance(code, gs1.Pack):
        return _answer(provenance.pack_provenance, code)
    return _answer(provenance.unit_provenance, code.sscc)


def _documented(view):
    """The answers besides 200 that every provenance route gives."""
    view = blp.alt_response(403, description="Not on the object's custody path (`code`: `not_on_path`)")(view)
    return blp.alt_response(404, description="No such pack, unit or lot in the mirror")(view)


@blp.route("/units/<path:code>/provenance")
class UnitProvenance(MethodView):
    @blp.doc(security=SECURITY)
    @_documented
    @blp.arguments(UnitPathSchema, location="path")
    @blp.response(200, ProvenanceSchema)
    def get(self, args, code):
        """Provenance of a pack, case or pallet: timeline, containment, parties and cold chain."""
        return _unit(args["code"])


@blp.route("/units/provenance")
class UnitProvenanceByQuery(MethodView):
    @blp.doc(security=SECURITY)
    @_documented
    @blp.arguments(UnitQuerySchema, location="query", unknown=RAISE)
    @blp.response(200, ProvenanceSchema)
    def get(self, args):
        """Provenance of a pack, case or pallet named by `?code=` (no path encoding needed)."""
        return _unit(args["code"])


@blp.route("/lots/<gtin>/<path:lot>/provenance")
class LotProvenance(MethodView):
    @blp.doc(security=SECURITY)
    @_documented
    @blp.arguments(LotPathSchema, location="path")
    @blp.response(200, ProvenanceSchema)
    def get(self, args, gtin, lot):
        """Provenance of a lot: commissioning, recalls, quarantines, its cases, pack counts and cold chain."""
        return _answer(provenance.lot_provenance, args["gtin"], args["lot"])
