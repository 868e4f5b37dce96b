"""EPCIS 2.0 query interface (REST binding): GET /epcis/events and the resource views.

Every answer is an EPCISQueryDocument (JSON-LD) of the events the caller may see, cut by the one access policy
(app/services/access.py, through app/services/epcis/query.py as the provenance views are). Parameters follow
SimpleEventQuery; an unknown parameter or a bad value is a 400 whose problem type names the EPCIS exception
(`epcisException:QueryParameterException`) and whose detail names the parameter. Paging: perPage, and the next
page's URL (with nextPageToken) in a Link header, rel="next". A query naming no object answers the events of the
objects the caller may see (app/services/epcis/query.py says how, and how the work per page is bounded).
"""

from __future__ import annotations

from urllib.parse import urlencode

from flask import Response, current_app, g, json, request
from flask.views import MethodView
from flask_smorest import Blueprint

from app import gs1
from app.api.auth import SECURITY
from app.api.problems import problem
from app.services.epcis import cbv, export, xmldoc
from app.services.epcis import query as epcis_query

blp = Blueprint("epcis", __name__, url_prefix="/epcis", description="EPCIS 2.0 query interface (CBV 2.0)")

LD_JSON = "application/ld+json"
XML = "application/xml"
DOC = {
    "parameters": [
        {"name": name, "in": "query", "required": False, "schema": {"type": "string"}}
        for name in sorted(epcis_query.PARAMS)
    ],
    "responses": {
        "200": {"description": 'EPCISQueryDocument; Link: <…nextPageToken=…>; rel="next" when there is more'},
        "400": {"description": "epcisException:QueryParameterException naming the parameter"},
        "404": {"description": "/epcs/{epc}/events: no event of that EPC visible to the caller"},
        "413": {
            "description": "epcisException:QueryTooComplexException: the query names more than "
            f"{epcis_query.MAX_SCOPE} objects, or a parameter more than {epcis_query.MAX_VALUES} values (named)"
        },
    },
}


def headers(resp: Response) -> Response:
    resp.headers.setdefault("GS1-EPCIS-Version", cbv.EPCIS_VERSION)  # 1.2 XML sets its own
    resp.headers["GS1-CBV-Version"] = cbv.CBV_VERSION
    return resp


def _answer(fixed: list[tuple[str, str]], not_found: str | None = None) -> Response:
    items = list(request.args.items(multi=True))

    def run(conn, principal):
        return epcis_query.run(conn, principal, epcis_query.parse(items + fixed))

    return answer(run, items, not_found)


def answer(run, items: list[tuple[str, str]], not_found: str | None = None) -> Response:
    """The EPCISQueryDocument of `run(conn, principal) -> (page, provs, next token)` for the caller, in
    JSON-LD or XML as Accept asks, the next page in a Link header; a QueryError as its EPCIS problem."""
    if g.get("principal") is None:  # every /epcis route is authenticated; fail closed if one ever is not
        return headers(problem(401, "Unauthorized", "an EPCIS query needs an API key"))
    try:
        db = current_app.extensions["pharmatrack"].db
        with db.connection() as conn:
            page, provs, next_token = run(conn, g.principal)
    except epcis_query.QueryError as error:
        extra = {"parameter": error.parameter} if error.parameter else {}
        title = "Invalid query parameter" if error.status == 400 else "Query too complex"
        return headers(problem(error.status, title, error.reason, type=error.type, **extra))
    if not_found is not None and not page and all(k != "nextPageToken" for k, _ in items):
        detail = f"no event of {not_found} is visible to you"
        return headers(problem(404, "Not Found", detail, type="epcisException:NoSuchResourceException"))
    doc = export.query_document(page, provs)
    if xmldoc.wants_1_2(request.headers.get("Accept"), request.headers.get("GS1-EPCIS-Version")):
        resp = Response(xmldoc.query_document_1_2(doc, g.principal.gln), status=200, mimetype=XML)
        resp.headers["GS1-EPCIS-Version"] = xmldoc.EPCIS12_VERSION
    elif request.accept_mimetypes.best_match([LD_JSON, "application/json", XML]) == XML:
        resp = Response(xmldoc.query_document(doc), status=200, mimetype=XML)
    else:
        resp = Response(json.dumps(doc), status=200, mimetype=LD_JSON)
    if next_token is not None:
        rest = [(k, v) for k, v in items if k != "nextPageToken"] + [("nextPageToken", next_token)]
        resp.headers["Link"] = f'<{request.base_url}?{urlencode(rest)}>; rel="next"'
    return headers(resp)


@blp.route("/events")
class Events(MethodView):
    @blp.doc(security=SECURITY, **DOC)
    def get(self):
        """EPCIS events (SimpleEventQuery parameters)"""
        return _answer([])


@blp.route("/eventTypes/<event_type>/events")
class EventTypeEvents(MethodView):
    @blp.doc(security=SECURITY, **DOC)
    def get(self, event_type: str):
        """Events of one EPCIS event type"""
        return _answer([("eventType", event_type)])


@blp.route("/epcs/<path:epc>/events")
class EpcEvents(MethodView):
    @blp.doc(security=SECURITY, **DOC)
    def get(self, epc: str):
        """Events naming an EPC (SGTIN, SSCC, LGTIN class; URN or Digital Link), as MATCH_anyEPC + MATCH_epcClass"""
        try:
            item = cbv.parse_epc(epc, field="epc")
        except (gs1.GS1Error, ValueError) as error:  # ValueError: e.g. a non-ASCII digit that int() refuses
            message = error.message if isinstance(error, gs1.GS1Error) else str(error)
            detail = f"epc: {epc!r} is not an SGTIN, SSCC or LGTIN ({message})"
            exception = epcis_query.QueryError("QueryParameterException", "epc", detail)
            return headers(problem(400, "Invalid EPC", detail, type=exception.type, parameter="epc"))
        name = "MATCH_epcClass" if isinstance(item, gs1.Lot) else "MATCH_anyEPC"
        return _answer([(name, epc)], not_found=epc)


@blp.route("/bizSteps/<biz_step>/events")
class BizStepEvents(MethodView):
    @blp.doc(security=SECURITY, **DOC)
    def get(self, biz_step: str):
        """Events of one CBV bizStep"""
        return _answer([("EQ_bizStep", biz_step)])


@blp.route("/bizLocations/<path:location>/events")
class BizLocationEvents(MethodView):
    @blp.doc(security=SECURITY, **DOC)
    def get(self, location: str):
        """Events at one business location (SGLN)"""
        return _answer([("EQ_bizLocation", location)])


@blp.route("/dispositions/<disposition>/events")
class DispositionEvents(MethodView):
    @blp.doc(security=SECURITY, **DOC)
    def get(self, disposition: str):
        """Events with one CBV disposition"""
        return _answer([("EQ_disposition", disposition)])
