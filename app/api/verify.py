"""Verification: what a pharmacist, a wholesaler or a regulator asks before accepting a pack.

- ``GET /v1/verify?code=…`` and ``POST /v1/verify`` (up to 1,000 codes): verdict, reasons, custody
  path, excursions and a Merkle proof to check against the chain (app/services/verify.py).

The GS1 Lightweight Verification Messaging responder is beside it, in app/api/lvm.py.

Every verification is logged (``verifications``): who asked, from which GLN, through which channel,
what, and the verdict. The detection rules read that log (app/detector/core.py).
"""

from __future__ import annotations

import orjson
from flask import Response, current_app, g, request
from flask.views import MethodView
from flask_smorest import Blueprint, abort
from marshmallow import Schema, ValidationError, fields, validate

from app import gs1
from app.api.auth import SECURITY
from app.api.fields import Text, VerifiableCode
from app.services import verify as service

blp = Blueprint("verify", __name__, description="Verification of packs, lots and logistic units")

MAX_CODES = 1000


CODE_PARAMETER = {
    "in": "query",
    "name": "code",
    "required": True,
    "schema": {"type": "string", "maxLength": gs1.MAX_INPUT_LENGTH},
    "description": VerifiableCode.description,
    "example": "(01)09506000134352(21)DEMO000001(10)DEMO-L1",  # a pack of `pharmatrack up --demo`
}


class ReasonSchema(Schema):
    code = Text(required=True, metadata={"description": "machine-readable reason, e.g. `recalled`"})
    verdict = Text(required=True, metadata={"description": "the verdict this reason implies"})
    detail = Text(required=True)


class ProofSchema(Schema):
    lot_id = Text(required=True)
    batch = fields.Integer(required=True, metadata={"description": "the lot's commissioning batch holding the serial"})
    batch_first_index = fields.Integer(required=True, metadata={"description": "the batch's first leaf index"})
    batch_count = fields.Integer(required=True, metadata={"description": "the batch's serials"})
    leaf_index = fields.Integer(required=True)
    leaf = Text(required=True)
    proof = fields.List(Text(), required=True)
    root = Text(required=True, metadata={"description": "the batch's serialsRoot on chain (batch(lot_id, batch))"})
    block_number = fields.Integer(
        required=True, metadata={"description": "block of the LotCommissioned or BatchCommissioned event"}
    )
    tx_hash = Text(required=True)
    how_to_check = Text(required=True)


class VerificationSchema(Schema):
    kind = Text(required=True, metadata={"description": "pack, lot or logistic_unit"})
    verdict = Text(required=True, validate=validate.OneOf(service.VERDICTS))
    reasons = fields.List(fields.Nested(ReasonSchema), required=True)
    gtin = Text()
    serial = Text()
    lot = Text(allow_none=True)
    expiry = Text(allow_none=True)
    sscc = Text()
    sgtin_id = Text()
    lot_id = Text()
    unit_id = Text()
    lot_record = fields.Dict(metadata={"description": "the lot as committed on chain"})
    state = fields.Dict(metadata={"description": "the pack's own state: dispensed, destroyed, quarantined"})
    custody = fields.Dict(metadata={"description": "holder now, in transit, and the custody path (handoffs)"})
    excursions = fields.List(fields.Dict())
    proof = fields.Nested(ProofSchema, allow_none=True)


class BatchSchema(Schema):
    codes = fields.List(Text(validate=validate.Length(min=1, max=gs1.MAX_INPUT_LENGTH)), required=True,
                        validate=validate.Length(min=1, max=MAX_CODES, error="between 1 and 1000 codes"))  # fmt: skip


class BatchResultSchema(Schema):
    results = fields.List(fields.Nested(VerificationSchema), required=True)
    summary = fields.Dict(keys=Text(), values=fields.Integer(), required=True)


def _log():
    return current_app.extensions["pharmatrack"].verifications


def _json(body: dict) -> Response:
    """The answer as JSON, written by orjson (a tenth of the json module's time on a verification's answer);
    anything orjson does not know is written as Flask's JSON provider writes it."""
    return current_app.response_class(orjson.dumps(body, default=current_app.json.default), mimetype="application/json")


def _requester(place_gln: str | None = None) -> service.Requester:
    p = g.principal
    return service.Requester(p.organisation_id, bytes.fromhex(p.account[2:]), p.gln, tuple(p.roles), place_gln)


@blp.route("/v1/verify")
class Verify(MethodView):
    # The hot path: the code is read and the answer written without marshmallow (the schemas
    # document them; `make bench-verify` measured their load and dump at a fifth of the request).
    @blp.doc(security=SECURITY, parameters=[CODE_PARAMETER])
    @blp.response(200, VerificationSchema)
    def get(self):
        """Verify one pack, lot or case/pallet.

        Any organisation may ask. The answer is logged with the asking organisation and GLN."""
        args = request.args
        text = args.get("code")
        if len(args) != (text is not None) and (unknown := sorted(set(args) - {"code"})):
            abort(422, messages={"query": {name: ["Unknown field."] for name in unknown}})
        if text is None:
            abort(422, messages={"query": {"code": ["missing: Missing data for required field."]}})
        try:
            code = gs1.parse(text, expect=VerifiableCode.kinds)
        except gs1.GS1Error as exc:
            abort(422, messages={"query": {"code": [f"{exc.rule}: {exc.message}"]}})
        db = current_app.extensions["pharmatrack"].db
        requester = _requester()
        with db.connection(autocommit=True) as conn:  # reads only: no BEGIN/COMMIT round trips
            result = service.verify(conn, code, requester)
        _log().append(service.log_row(result, requester, "api", text))
        return _json(result.body)

    @blp.doc(security=SECURITY)
    @blp.arguments(BatchSchema)
    @blp.response(200, BatchResultSchema)
    def post(self, body):
        """Verify up to 1,000 codes at once (a tote, a delivery). A code that cannot be read is a
        422 naming it (`codes[i]`), and then nothing is verified or logged."""
        items, errors = [], {}
        for i, text in enumerate(body["codes"]):
            try:
                items.append(gs1.parse(text, expect=VerifiableCode.kinds))
            except gs1.GS1Error as exc:
                errors[f"codes[{i}]"] = [f"{exc.rule}: {exc.message}"]
        if errors:
            raise ValidationError(errors)
        db = current_app.extensions["pharmatrack"].db
        requester = _requester()
        summary: dict[str, int] = {}
        with db.connection() as conn:
            results = [service.verify(conn, item, requester) for item in items]
        for result, text in zip(results, body["codes"], strict=True):
            _log().append(service.log_row(result, requester, "api", text))
        for r in results:
            summary[r.verdict.verdict] = summary.get(r.verdict.verdict, 0) + 1
        return {"results": [r.body for r in results], "summary": summary}
