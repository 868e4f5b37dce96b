"""EPCIS 2.0 named queries and webhook subscriptions (REST binding): /epcis/queries.

A named query (QueryDefinition: `{"name", "query"}`) belongs to the organisation that created it: another gets 404.
GET /epcis/queries/{name}/events runs it for the caller as GET /epcis/events would (the one access policy).
Subscriptions (`dest`, `signatureToken`, `stream: true` or `schedule`, `reportIfEmpty`, `initialRecordTime`) are
delivered by the delivery process (app/services/epcis/subscriptions.py says how: at least once, signed, retried
with backoff, durable, cut by the access policy at delivery time). Bad input is a 400 naming the field.
"""

from __future__ import annotations

from flask import Response, current_app, g, json, request, url_for
from flask.views import MethodView
from flask_smorest import Blueprint

from app.api.auth import SECURITY
from app.api.epcis import answer, headers
from app.api.problems import problem
from app.services.epcis import subscriptions

blp = Blueprint("epcis_queries", __name__, url_prefix="/epcis", description="EPCIS 2.0 named queries and subscriptions")

VALIDATION = "epcisException:ValidationException"
NOT_FOUND = {"description": "no query (or subscription) of that name of your organisation"}
BAD = {"description": "epcisException:ValidationException naming the field (`field`) and the rule"}
QUERY_BODY = {
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "required": ["name", "query"],
                "properties": {
                    "name": {"type": "string", "pattern": f"^{subscriptions.NAME_RE.pattern}$"},
                    "query": {"type": "object", "description": "SimpleEventQuery parameters (GET /epcis/events)"},
                },
            },
            "example": {"name": "shipments", "query": {"EQ_bizStep": ["shipping"], "eventType": ["ObjectEvent"]}},
        }
    },
    "required": True,
}
SUBSCRIPTION_BODY = {
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "required": ["dest"],
                "properties": {
                    "dest": {"type": "string", "format": "uri"},
                    "signatureToken": {"type": "string"},
                    "stream": {"type": "boolean"},
                    "schedule": {"type": "object"},
                    "reportIfEmpty": {"type": "boolean"},
                    "initialRecordTime": {"type": "string", "format": "date-time"},
                },
            },
            "example": {"dest": "https://client.example.com/queryCallback", "signatureToken": "s3cret", "stream": True},
        }
    },
    "required": True,
}


def _json(body, status: int, extra: dict | None = None) -> Response:
    resp = Response(json.dumps(body), status=status, mimetype="application/json")
    resp.headers.update(extra or {})
    return headers(resp)


def _bad(error: subscriptions.BadRequest) -> Response:
    detail = f"{error.field}: {error.reason}"
    return headers(problem(400, "Bad Request", detail, {"json": {error.field: [error.reason]}}, type=VALIDATION,
                           field=error.field))  # fmt: skip


def _db():
    return current_app.extensions["pharmatrack"].db


def _render_query(row: dict) -> dict:
    return {"name": row["name"], "query": row["query"], "createdAt": row["created_at"].isoformat()}


@blp.route("/queries")
class Queries(MethodView):
    @blp.doc(security=SECURITY, summary="Your organisation's named queries",
             responses={"200": {"description": "[{name, query, createdAt}] by name"}})  # fmt: skip
    def get(self):
        with _db().connection() as conn:
            rows = subscriptions.list_queries(conn, g.principal)
        return _json([_render_query(r) for r in rows], 200)

    @blp.doc(security=SECURITY, summary="Create a named query (QueryDefinition)", requestBody=QUERY_BODY,
             responses={"201": {"description": "Created: the query is at Location"}, "400": BAD,
                        "409": {"description": "your organisation already has a query of that name"}})  # fmt: skip
    def post(self):
        body = request.get_json(silent=True)
        try:
            with _db().connection() as conn:
                row = subscriptions.create_query(conn, g.principal, body)
        except subscriptions.BadRequest as error:
            return _bad(error)
        except subscriptions.Conflict as error:
            return headers(problem(409, "Conflict", str(error), type="epcisException:ResourceAlreadyExistsException"))
        location = url_for("epcis_queries.Query", name=row["name"])
        return _json(_render_query(row), 201, {"Location": location})


@blp.route("/queries/<name>")
class Query(MethodView):
    @blp.doc(security=SECURITY, summary="One of your organisation's named queries",
             responses={"200": {"description": "{name, query, createdAt}"}, "404": NOT_FOUND})  # fmt: skip
    def get(self, name: str):
        with _db().connection() as conn:
            row = subscriptions.get_query(conn, g.principal, name)
        return _json(_render_query(row), 200)

    @blp.doc(security=SECURITY, summary="Delete a named query and its subscriptions",
             responses={"204": {"description": "Deleted"}, "404": NOT_FOUND})  # fmt: skip
    def delete(self, name: str):
        with _db().connection() as conn:
            subscriptions.delete_query(conn, g.principal, name)
        resp = headers(Response(status=204))
        del resp.headers["Content-Type"]
        return resp


@blp.route("/queries/<name>/events")
class QueryEvents(MethodView):
    @blp.doc(
        security=SECURITY,
        summary="Run a named query (EPCISQueryDocument), paged with perPage and nextPageToken",
        parameters=[
            {"name": n, "in": "query", "required": False, "schema": {"type": "string"}}
            for n in ("perPage", "nextPageToken")
        ],
        responses={
            "200": {"description": 'EPCISQueryDocument; Link: <…nextPageToken=…>; rel="next" when there is more'},
            "400": {"description": "epcisException:QueryParameterException naming the parameter"},
            "404": NOT_FOUND,
            "413": {"description": "epcisException:QueryTooComplexException"},
        },
    )
    def get(self, name: str):
        items = list(request.args.items(multi=True))
        with _db().connection() as conn:
            row = subscriptions.get_query(conn, g.principal, name)  # 404 before anything else
        return answer(lambda conn, principal: subscriptions.run_query(conn, principal, row, items), items)


@blp.route("/queries/<name>/subscriptions")
class Subscriptions(MethodView):
    @blp.doc(security=SECURITY, summary="The webhook subscriptions of a named query",
             responses={"200": {"description": "[subscription]"}, "404": NOT_FOUND})  # fmt: skip
    def get(self, name: str):
        with _db().connection() as conn:
            rows = subscriptions.list_subscriptions(conn, g.principal, name)
        return _json([subscriptions.render_subscription(r) for r in rows], 200)

    @blp.doc(security=SECURITY, summary="Subscribe a webhook to a named query (stream: true, or a schedule)",
             requestBody=SUBSCRIPTION_BODY,
             responses={"201": {"description": "Created: the subscription is at Location"}, "400": BAD,
                        "404": NOT_FOUND})  # fmt: skip
    def post(self, name: str):
        body = request.get_json(silent=True)
        try:
            with _db().connection() as conn:
                row = subscriptions.create_subscription(conn, g.principal, name, body)
        except subscriptions.BadRequest as error:
            return _bad(error)
        location = url_for("epcis_queries.Subscription", name=name, subscription_id=str(row["id"]))
        return _json(subscriptions.render_subscription(row), 201, {"Location": location})


@blp.route("/queries/<name>/subscriptions/<subscription_id>")
class Subscription(MethodView):
    @blp.doc(security=SECURITY, summary="One webhook subscription",
             responses={"200": {"description": "subscription"}, "404": NOT_FOUND})  # fmt: skip
    def get(self, name: str, subscription_id: str):
        with _db().connection() as conn:
            row = subscriptions.get_subscription(conn, g.principal, name, subscription_id)
        return _json(subscriptions.render_subscription(row), 200)

    @blp.doc(security=SECURITY, summary="Unsubscribe", responses={"204": {"description": "Deleted"}, "404": NOT_FOUND})
    def delete(self, name: str, subscription_id: str):
        with _db().connection() as conn:
            subscriptions.delete_subscription(conn, g.principal, name, subscription_id)
        resp = headers(Response(status=204))
        del resp.headers["Content-Type"]
        return resp
