"""EPCIS 2.0 capture (REST binding): POST /epcis/capture, GET /epcis/capture/{captureID}, OPTIONS /epcis/capture.

A capture document's events are mapped to our write actions and accepted into the outbox (app/services/epcis/
capture.py); the answer is 202 with the capture job's Location. The job tells, per event, its operations and
their state, or why the event was refused (its index, the field and the rule).
"""

from __future__ import annotations

from flask import current_app, g, request, url_for
from flask.views import MethodView
from flask_smorest import Blueprint

from app.api.auth import SECURITY
from app.api.problems import problem
from app.errors import NotFound
from app.services.epcis import capture as epcis_capture
from app.services.epcis import capture_xml, cbv

blp = Blueprint("epcis_capture", __name__, url_prefix="/epcis", description="EPCIS 2.0 capture")

JSON_TYPES = ("application/json", "application/ld+json")
XML_TYPES = ("application/xml", "text/xml")
BEHAVIOUR_HEADER = "GS1-Capture-Error-Behaviour"
VALIDATION = "epcisException:ValidationException"


def _headers(extra: dict | None = None) -> dict:
    return {"GS1-EPCIS-Version": cbv.EPCIS_VERSION, "GS1-CBV-Version": cbv.CBV_VERSION, **(extra or {})}


def _epcis_problem(status: int, kind: str, title: str, detail: str, errors: dict):
    resp = problem(status, title, detail, errors, type=kind)
    resp.headers.update(_headers())
    return resp


def _limits() -> dict:
    return {
        "GS1-EPCIS-Capture-Limit": str(epcis_capture.CAPTURE_LIMIT),
        "GS1-EPCIS-Capture-File-Size-Limit": str(current_app.config.get("MAX_CONTENT_LENGTH") or 0),
    }


@blp.route("/capture")
class Capture(MethodView):
    @blp.doc(
        security=SECURITY,
        summary="Capture an EPCISDocument (JSON / JSON-LD, or EPCIS 1.2 / 2.0 XML)",
        description="Each event is mapped (CBV 2.0) to a write and accepted into the outbox, as the scanner API "
        "does; a TransactionEvent or AssociationEvent is recorded without a write (no custody effect on chain). "
        "`GS1-Capture-Error-Behaviour`: `rollback` (default: nothing applied if one event is refused) or "
        "`proceed`. An event captured before (same eventID, else same content) is not applied again. XML is "
        "validated against GS1's XSD of its version: an invalid document is a 400 naming the element, line and "
        "XSD rule.",
        responses={"202": {"description": "Accepted: the capture job is at Location"}},
    )
    def post(self):
        if request.mimetype not in JSON_TYPES + XML_TYPES:
            return _epcis_problem(415, "epcisException:UnsupportedMediaType", "Unsupported Media Type",
                                  "send the EPCISDocument as JSON (application/json, application/ld+json) or XML "
                                  "(application/xml: EPCIS 1.2 or 2.0)",
                                  {"headers": {"Content-Type": ["must be application/json, application/ld+json or "
                                                                "application/xml"]}})  # fmt: skip
        version = request.headers.get("GS1-EPCIS-Version")
        if version is not None and not version.startswith("2."):
            return _epcis_problem(406, "epcisException:NotAcceptableException", "Not Acceptable",
                                  f"GS1-EPCIS-Version {version} is not supported: 2.0.0",
                                  {"headers": {"GS1-EPCIS-Version": ["must be 2.0.0"]}})  # fmt: skip
        behaviour = request.headers.get(BEHAVIOUR_HEADER, "rollback").strip().lower()
        if behaviour not in epcis_capture.BEHAVIOURS:
            return _epcis_problem(400, VALIDATION, "Bad Request", f"{BEHAVIOUR_HEADER} must be rollback or proceed",
                                  {"headers": {BEHAVIOUR_HEADER: ["must be rollback or proceed"]}})  # fmt: skip
        principal = g.principal
        db = current_app.extensions["pharmatrack"].db
        try:
            xml = request.mimetype in XML_TYPES
            doc = capture_xml.to_document(request.get_data(cache=True)) if xml else request.get_json(silent=True)
            with db.connection(timeout=120.0) as conn:
                row = epcis_capture.capture(conn, principal, doc, behaviour, validate=not xml)
        except epcis_capture.BadDocument as exc:
            if "at most" in exc.message:
                return _epcis_problem(413, "epcisException:CaptureLimitExceededException", "Content Too Large",
                                      exc.message, {"json": {exc.field: [exc.message]}})  # fmt: skip
            return _epcis_problem(400, VALIDATION, "Bad Request", f"{exc.field}: {exc.message}",
                                  {"json": {exc.field: [exc.message]}})  # fmt: skip
        location = url_for("epcis_capture.CaptureJob", capture_id=row["id"], _external=False)
        body = {"captureID": str(row["id"]), "status_url": location}
        return body, 202, _headers({"Location": location})

    @blp.doc(security=SECURITY, summary="The capture limits (GS1-EPCIS-Capture-Limit, …-File-Size-Limit)")
    @blp.response(204, description="No body: the limits are in the GS1-EPCIS-Capture-Limit and "
                  "GS1-EPCIS-Capture-File-Size-Limit headers")  # fmt: skip
    def options(self):
        # no body, so no Content-Type (Flask's default text/html would be an undocumented media type)
        resp = current_app.response_class(status=204, headers=_headers({"Allow": "OPTIONS, POST", **_limits()}))
        del resp.headers["Content-Type"]
        return resp


@blp.route("/capture/<uuid:capture_id>")
class CaptureJob(MethodView):
    @blp.doc(security=SECURITY, summary="A capture job: running, success or failed, with per-event errors")
    def get(self, capture_id):
        principal = g.principal
        db = current_app.extensions["pharmatrack"].db
        with db.connection() as conn:
            row = epcis_capture.job(conn, str(capture_id), principal.organisation_id)
        if row is None:
            raise NotFound(f"capture {capture_id}")
        return render(row), 200, _headers()


def render(row: dict) -> dict:
    return {
        "captureID": str(row["id"]),
        "createdAt": row["created_at"].isoformat(),
        "finishedAt": row["finished_at"].isoformat() if row["finished_at"] else None,
        "running": row["status"] == "running",
        "success": row["status"] == "success",
        "status": row["status"],
        "captureErrorBehaviour": row["error_behaviour"],
        "eventCount": row["event_count"],
        "errors": row["errors"],
        "events": row["events"],
    }
