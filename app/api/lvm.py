"""The GS1 Lightweight Verification Messaging responder, ``GET /01/{gtin}/21/{serial}``, so that the
US Verification Router Service can route DSCSA saleable-return checks here, and its
``checkConnectivity`` call. The verdict is the one ``/v1/verify`` gives (app/services/verify.py),
mapped to the standard's `verified` and `verificationFailureReason`; each answer is logged with
channel `lvm`.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

from flask import current_app, g, request
from flask.views import MethodView
from flask_smorest import Blueprint, abort
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from app import gs1
from app.api.auth import SECURITY
from app.api.fields import GLN, LotNumber, Text
from app.api.problems import problem
from app.api.verify import _log, _requester
from app.services import verify as service

blp = Blueprint("lvm", __name__, description="GS1 Lightweight Verification Messaging responder")

LVM_LINK_TYPES = ("verificationService", "gs1:verificationService", "checkConnectivity")
LVM_CONTEXTS = ("dscsaSaleableReturn", "checkConnectivity")


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
