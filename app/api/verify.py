"""Verification: what a pharmacist, a wholesaler or a regulator asks before accepting a pack.

- ``GET /v1/verify?code=…`` and ``POST /v1/verify`` (up to 1,000 codes): verdict, reasons, custody
  path, excursions and a Merkle proof to check against the chain (app/services/verify.py).
- The GS1 Lightweight Verification Messaging responder, ``GET /01/{gtin}/21/{serial}``, so that the
  US Verification Router Service can route DSCSA saleable-return checks here, and its
  ``checkConnectivity`` call.

Every verification is logged (``verifications``): who asked, from which GLN, through which channel,
what, and the verdict. The detection rules read that log (app/services/detect.py).
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

from flask import current_app, g, jsonify, request
from flask.views import MethodView
from flask_smorest import Blueprint, abort
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from app import gs1
from app.api.auth import SECURITY
from app.api.fields import GLN, LotNumber, Text, VerifiableCode
from app.api.problems import problem
from app.services import verify as service

blp = Blueprint("verify", __name__, description="Verification of packs, lots and logistic units")

MAX_CODES = 1000
LVM_LINK_TYPES = ("verificationService", "gs1:verificationService", "checkConnectivity")
LVM_CONTEXTS = ("dscsaSaleableReturn", "checkConnectivity")


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
    leaf_index = fields.Integer(required=True)
    leaf = Text(required=True)
    proof = fields.List(Text(), required=True)
    root = Text(required=True, metadata={"description": "the lot's serialsRoot on chain"})
    block_number = fields.Integer(required=True, metadata={"description": "block of the LotCommissioned event"})
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
        text = request.args.get("code")
        unknown = sorted(set(request.args) - {"code"})
        if unknown:
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
        return jsonify(result.body)

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


# -- GS1 Lightweight Verification Messaging ---------------------------------------------------


class LvmQuerySchema(Schema):
    class Meta:
        unknown = "exclude"  # a router may add its own parameters

    linkType = Text(load_default="verificationService", validate=validate.OneOf(LVM_LINK_TYPES))
    reqGLN = GLN(required=True, metadata={"example": "9506000000039"})
    corrUUID = fields.UUID(required=True, metadata={"example": "8f3c1f0e-4c1a-4d59-9d7b-2a4f0a6c1e11"})
    context = Text(load_default="dscsaSaleableReturn", validate=validate.OneOf(LVM_CONTEXTS))
    lot = LotNumber(data_key="10", load_default=None)
    expiry = Text(data_key="17", load_default=None, validate=validate.Regexp(r"^\d{6}$", error="YYMMDD"))

    @validates_schema
    def _expiry(self, data, **kwargs):
        if data.get("expiry"):
            try:
                gs1.parse(f"(01)09506000134352(17){data['expiry']}")
            except gs1.GS1Error as exc:
                raise ValidationError({"17": [f"{exc.rule}: {exc.message}"]}) from None


class LvmDataSchema(Schema):
    verified = fields.Boolean(required=True)
    verificationFailureReason = Text()
    additionalInfo = Text()


class LvmResponseSchema(Schema):
    verificationTimestamp = Text(required=True)
    responderGLN = Text(required=True)
    corrUUID = Text(required=True)
    data = fields.Nested(LvmDataSchema)


def _lvm_requester(req_gln: str) -> service.Requester | tuple:
    """The LVM requester: the API key's organisation, asking as `reqGLN`. An unknown `reqGLN` is an
    unknown requester (401); a GLN that is not the caller's own, or a caller that is suspended, is
    not permitted (403)."""
    from app.services import orgs

    db = current_app.extensions["pharmatrack"].db
    with db.connection() as conn:
        org = orgs.organisation_by_gln(conn, req_gln)
    if org is None:
        return 401, "unknown_requester", f"reqGLN {req_gln} is not a known trading partner"
    if org["id"] != g.principal.organisation_id:
        return 403, "not_permitted", f"reqGLN {req_gln} is not the GLN of the calling organisation"
    if org.get("suspended_at") is not None:
        return 403, "not_permitted", "the requesting organisation is suspended"
    return _requester(req_gln)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _lvm_error(status: int, rule: str, message: str):
    resp = problem(status, "Unauthorized" if status == 401 else "Forbidden", message,
                   errors={"query": {"reqGLN": [f"{rule}: {message}"]}})  # fmt: skip
    if status == 401:
        resp.headers["WWW-Authenticate"] = 'Bearer realm="pharmatrack"'
    return resp


def _responder_gln(result: service.Result | None = None) -> str | None:
    """The product's manufacturer answers for its products (as in the DSCSA VRS); RESPONDER_GLN
    when the product is not known here."""
    manufacturer = (result.body.get("lot_record") or {}).get("manufacturer") if result else None
    if isinstance(manufacturer, dict) and manufacturer.get("gln"):
        return manufacturer["gln"]
    return current_app.extensions["pharmatrack"].settings.responder_gln


@blp.route("/01/<string:gtin>/21/<path:serial>")
class LightweightVerification(MethodView):
    @blp.doc(security=SECURITY)
    @blp.arguments(LvmQuerySchema, location="query", as_kwargs=True)
    @blp.response(200, LvmResponseSchema)
    def get(self, gtin, serial, linkType, reqGLN, corrUUID, context, lot, expiry):
        """GS1 Lightweight Verification Messaging: is this product identifier (GTIN, serial, and
        the lot and expiry as printed) one we commissioned, and may it be resold?

        `linkType=checkConnectivity` (or `context=checkConnectivity`) answers without verifying."""
        requester = _lvm_requester(reqGLN)
        if isinstance(requester, tuple):
            return _lvm_error(*requester)
        answer = {"verificationTimestamp": _now(), "corrUUID": str(corrUUID)}
        if "checkConnectivity" in (linkType, context):
            return {**answer, "responderGLN": _responder_gln()}
        try:
            pack = gs1.Pack(gs1.parse_gtin(gtin), serial, lot, _yymmdd(expiry) if expiry else None)
        except gs1.GS1Error as exc:  # the GTIN and serial are in the path; lot (10) and expiry (17) in the query
            location, field = {"lot": ("query", "10"), "expiry": ("query", "17")}.get(exc.field, ("path", exc.field))
            abort(422, messages={location: {field: [f"{exc.rule}: {exc.message}"]}})
        db = current_app.extensions["pharmatrack"].db
        code = request.full_path.rstrip("?")
        with db.connection(autocommit=True) as conn:
            result = service.verify_pack(conn, pack, requester)
        _log().append(service.log_row(result, requester, "lvm", code, str(corrUUID), context))
        return {**answer, "responderGLN": _responder_gln(result), "data": lvm_data(result.verdict)}


@blp.route("/checkConnectivity")
class CheckConnectivity(MethodView):
    @blp.doc(security=SECURITY)
    @blp.response(200, LvmResponseSchema)
    def get(self):
        """LVM connectivity check: the responder is up and the requester is recognised."""
        req_gln = request.args.get("reqGLN")
        if not req_gln:
            abort(422, messages={"query": {"reqGLN": ["missing: the requester's GLN is required"]}})
        try:
            req_gln = gs1.parse_gln(req_gln)
            corr = str(uuid.UUID(request.args.get("corrUUID") or str(uuid.uuid4())))
        except gs1.GS1Error as exc:
            abort(422, messages={"query": {"reqGLN": [f"{exc.rule}: {exc.message}"]}})
        except ValueError:
            abort(422, messages={"query": {"corrUUID": ["format: must be a UUID"]}})
        requester = _lvm_requester(req_gln)
        if isinstance(requester, tuple):
            return _lvm_error(*requester)
        return {"verificationTimestamp": _now(), "responderGLN": _responder_gln(), "corrUUID": corr}


def _yymmdd(text: str) -> date:
    return gs1.parse(f"(01)09506000134352(21)X(17){text}").expiry


def lvm_data(verdict: service.Verdict) -> dict:
    """`data` of an LVM answer. `verified` is true when the identifier matches what was commissioned
    (the standard's question); whatever else we know (recalled, dispensed, expired, …) goes into
    `additionalInfo`, so a saleable return of a recalled pack is verified but flagged."""
    failure = verdict.lvm_failure()
    data: dict = {"verified": failure is None}
    if failure:
        data["verificationFailureReason"] = failure
    extra = [r for r in verdict.reasons if r not in ("unknown_product", "unknown_serial", "lot_mismatch",
                                                     "expiry_mismatch", "lot_not_on_chain")]  # fmt: skip
    if extra:
        data["additionalInfo"] = ", ".join(extra)
    return data
