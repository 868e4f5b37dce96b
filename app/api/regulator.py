"""Regulator queries and alerts: lots by product or manufacturer, a trading partner's activity in a
time window, recalls, and the alerts the detection rules raise, with their review workflow.

Every list is cursor-paginated: ``{items, next}``; pass ``next`` back as ``cursor`` for the following
page (``null`` on the last). Who sees what is the access policy's decision (app/services/access.py): a
regulator sees the whole chain; any other organisation the lots it manufactured or took part in the custody
of, its own activity, and the alerts naming it or about what it manufactured.
"""

from __future__ import annotations

from flask import current_app, g
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema

from app.api import fields as gs1f
from app.api.auth import SECURITY
from app.api.fields import Text
from app.api.problems import problem
from app.services import access, alerts, prechecks, queries

blp = Blueprint(
    "regulator",
    __name__,
    url_prefix="/v1",
    description="Regulator queries (lots, partner activity, recalls) and alerts",
)

MAX_TEXT = 2000


def _hex(value) -> str | None:
    return "0x" + bytes(value).hex() if value is not None else None


def _db():
    return current_app.extensions["pharmatrack"].db


def _viewer() -> bytes | None:
    """Whose lots the caller sees listed: None for every lot (a regulator), else its chain account."""
    return access.lot_scope(access.Viewer.of(g.principal))


def _forbidden(location: str, field: str, rule: str, message: str):
    return problem(403, "Forbidden", message, errors={location: {field: [f"{rule}: {message}"]}}, code=rule)


@blp.errorhandler(alerts.ClosureRefused)
def _closure_refused(exc: alerts.ClosureRefused):
    return _forbidden("path", "alert_id", "close_not_permitted", exc.message)


@blp.errorhandler(alerts.TransitionRefused)
def _transition_refused(exc: alerts.TransitionRefused):
    return problem(
        409,
        "Conflict",
        exc.message,
        errors={"json": {"status": [f"{alerts.TRANSITION_RULE}: {exc.message}"]}},
        code=alerts.TRANSITION_RULE,
        alert_rule=exc.rule,
        status_now=exc.status,
    )


# --------------------------------------------------------------------------- query parameters


class KnownRule(validate.OneOf):
    """A detection rule as app/services/alerts.py declares them (422 ``one_of: …`` listing them; the
    OpenAPI document's enum)."""

    def __init__(self):
        super().__init__(sorted(alerts.RULES), error="one_of: must be one of {choices}")


class Cursor(Text):
    """An opaque page cursor, as returned in `next`; deserialises to the sort key it carries."""

    def __init__(self, kind: str, size: int, **kwargs):
        self.kind, self.size = kind, size
        metadata = {"description": "Page cursor: the `next` of the previous page", **kwargs.pop("metadata", {})}
        super().__init__(metadata=metadata, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        try:
            return queries.decode_cursor(self.kind, self.size, text)
        except queries.CursorError as exc:
            raise ValidationError(f"cursor: {exc}") from None


def _limit():
    return fields.Integer(
        load_default=50,
        strict=False,
        validate=validate.Range(min=1, max=500, error="range: must be between {min} and {max}"),
        error_messages={"invalid": "integer: must be a whole number between 1 and 500"},
        metadata={"description": "Items per page, 1 to 500"},
    )


def _time(data_key: str, description: str):
    return gs1f.Time(
        data_key=data_key, metadata={"description": description + "; 2000-01-01 to 2199, UTC or an offset"}
    )


class LotQuerySchema(Schema):
    gtin = gs1f.GTIN(
        metadata={"description": "Only lots of this product (GTIN-8/12/13/14)", "example": "09506000134352"}
    )
    manufacturer = gs1f.GLN(
        metadata={"description": "Only lots of the manufacturer with this GLN", "example": "9506000000015"}
    )
    limit = _limit()
    cursor = Cursor("lots", 2)


class ActivityQuerySchema(Schema):
    start = _time("from", "From this time (inclusive, block time)")
    end = _time("to", "Up to this time (exclusive, block time)")
    limit = _limit()
    cursor = Cursor("activity", 2)

    @validates_schema
    def _ordered(self, data, **kwargs):
        if "start" in data and "end" in data and data["end"] <= data["start"]:
            raise ValidationError("order: must be after `from`", "to")


class PartnerPathSchema(Schema):
    gln = gs1f.GLN(required=True, metadata={"description": "The trading partner's GLN-13", "example": "9506000000015"})


class RecallQuerySchema(Schema):
    limit = _limit()
    cursor = Cursor("recalls", 2)


class AlertQuerySchema(Schema):
    status = Text(
        validate=validate.OneOf(alerts.STATUSES, error="one_of: must be one of {choices}"),
        metadata={"description": "open, acknowledged or closed; all when absent"},
    )
    rule = Text(
        validate=KnownRule(),
        metadata={"description": "Only alerts of this detection rule"},
    )
    limit = _limit()
    cursor = Cursor("alerts", 1)


class AlertAcknowledgementSchema(Schema):
    note = Text(
        multiline=True,
        validate=validate.Length(min=1, max=MAX_TEXT, error="length: must be {min} to {max} characters"),
        metadata={"description": "Optional note, kept with the alert's evidence"},
    )


class AlertClosureSchema(Schema):
    resolution = Text(
        required=True,
        multiline=True,
        validate=validate.Length(max=MAX_TEXT, error="length: must be at most {max} characters"),
        error_messages={"required": "required: say how the alert was resolved"},
        metadata={"description": "How the alert was resolved"},
    )

    @validates_schema
    def _not_blank(self, data, **kwargs):
        if "resolution" in data and not data["resolution"].strip():
            raise ValidationError("non_empty: must not be empty or blank", "resolution")


# --------------------------------------------------------------------------- response schemas


class TradingPartnerSchema(Schema):
    account = Text(required=True, metadata={"description": "Chain address"})
    gln = Text(allow_none=True)
    name = Text(allow_none=True, metadata={"description": "Null when the service has no record of it"})


class LotRecordSchema(Schema):
    lot_id = Text(required=True)
    gtin = Text(required=True)
    lot = Text(required=True, metadata={"description": "Lot number (AI 10)"})
    expiry = fields.Date(required=True)
    serial_count = fields.Integer(required=True)
    serials_root = Text(required=True, metadata={"description": "Merkle root of the serials, on chain"})
    product_name = Text(allow_none=True)
    manufacturer = fields.Nested(TradingPartnerSchema, required=True)
    recalled = fields.Boolean(required=True)
    quarantined = fields.Boolean(required=True)
    commissioned_at = fields.DateTime(allow_none=True)
    block_number = fields.Integer(required=True)
    tx_hash = Text(required=True)


class ActivityUnitSchema(Schema):
    id = Text(required=True)
    sscc = Text(allow_none=True)
    kind = Text(allow_none=True, metadata={"description": "case or pallet"})


class ActivityLotSchema(Schema):
    id = Text(required=True)
    gtin = Text(allow_none=True)
    lot = Text(allow_none=True)


class PartnerEventSchema(Schema):
    event = Text(required=True, metadata={"example": "shipped"})
    role = Text(required=True, metadata={"description": "The partner's part: actor or counterparty"})
    at = fields.DateTime(allow_none=True, metadata={"description": "Block time"})
    actor = fields.Nested(TradingPartnerSchema, allow_none=True)
    counterparty = fields.Nested(TradingPartnerSchema, allow_none=True)
    unit = fields.Nested(ActivityUnitSchema, allow_none=True)
    lot = fields.Nested(ActivityLotSchema, allow_none=True)
    gtin = Text(allow_none=True)
    packs = fields.Integer(allow_none=True, metadata={"description": "Packs the event names (or a lot's serials)"})
    readings = fields.Integer(allow_none=True, metadata={"description": "Temperature readings recorded"})
    block_number = fields.Integer(required=True)
    log_index = fields.Integer(required=True)
    tx_hash = Text(required=True)


class RecallRecordSchema(Schema):
    lot_id = Text(required=True)
    gtin = Text(required=True)
    lot = Text(required=True)
    expiry = fields.Date(required=True)
    serial_count = fields.Integer(required=True)
    manufacturer = fields.Nested(TradingPartnerSchema, required=True)
    recalled_by = fields.Nested(TradingPartnerSchema, required=True)
    recalled_at = fields.DateTime(allow_none=True)
    block_number = fields.Integer(required=True)
    tx_hash = Text(required=True)


class AlertOrganisationSchema(Schema):
    id = fields.Integer(required=True)
    name = Text(allow_none=True)
    gln = Text(allow_none=True)


class AlertSchema(Schema):
    id = fields.Integer(required=True)
    rule = Text(required=True)
    subject = Text(required=True)
    status = Text(required=True, validate=validate.OneOf(alerts.STATUSES))
    severity = Text(required=True, validate=validate.OneOf(alerts.SEVERITIES))
    summary = Text(required=True)
    evidence = fields.List(fields.Raw(), required=True, metadata={"description": "The latest occurrences' facts"})
    parties = fields.List(fields.Nested(AlertOrganisationSchema), required=True)
    gtin = Text(allow_none=True)
    lot = Text(allow_none=True)
    lot_id = Text(allow_none=True)
    sgtin_id = Text(allow_none=True)
    unit_id = Text(allow_none=True)
    occurrences = fields.Integer(required=True)
    first_seen = fields.DateTime(required=True)
    last_seen = fields.DateTime(required=True)
    acknowledged_by = fields.Nested(AlertOrganisationSchema, allow_none=True)
    acknowledged_at = fields.DateTime(allow_none=True)
    closed_by = fields.Nested(AlertOrganisationSchema, allow_none=True)
    closed_at = fields.DateTime(allow_none=True)
    resolution = Text(multiline=True, allow_none=True)


def _page_schema(name: str, item: type[Schema]) -> type[Schema]:
    return Schema.from_dict(
        {
            "items": fields.List(fields.Nested(item), required=True),
            "next": Text(allow_none=True, metadata={"description": "Pass as `cursor`; null at the end"}),
        },
        name=name,
    )


LotPageSchema = _page_schema("LotRecordPage", LotRecordSchema)
ActivityPageSchema = _page_schema("PartnerEventPage", PartnerEventSchema)
RecallPageSchema = _page_schema("RecallRecordPage", RecallRecordSchema)
AlertPageSchema = _page_schema("AlertPage", AlertSchema)


# --------------------------------------------------------------------------- rendering


def _party(names: dict, account) -> dict | None:
    if account is None:
        return None
    found = names.get(bytes(account), {})
    return {"account": _hex(account), "gln": found.get("gln"), "name": found.get("name")}


def _next(kind: str, key) -> str | None:
    return queries.encode_cursor(kind, key) if key is not None else None


def _render_lots(conn, page: queries.Page) -> dict:
    names = queries.parties(conn, [r["manufacturer"] for r in page.rows])
    items = [
        {
            "lot_id": _hex(r["lot_id"]),
            "gtin": f"{int(r['gtin']):014d}",
            "lot": r["lot_number"],
            "expiry": queries.expiry_date(r["expiry"]),
            "serial_count": r["serial_count"],
            "serials_root": _hex(r["serials_root"]),
            "product_name": r["product_name"],
            "manufacturer": _party(names, r["manufacturer"]),
            "recalled": r["recalled"],
            "quarantined": r["quarantined"],
            "commissioned_at": r["commissioned_at"],
            "block_number": r["block_number"],
            "tx_hash": _hex(r["tx_hash"]),
        }
        for r in page.rows
    ]
    return {"items": items, "next": _next("lots", page.next_key)}


def _render_activity(conn, page: queries.Page) -> dict:
    rows = page.rows
    names = queries.parties(conn, [a for r in rows for a in (r["actor"], r["counterparty"])])
    unit_names = queries.units(conn, [r["unit_id"] for r in rows])
    lots = queries.lot_names(conn, [r["lot_id"] for r in rows])
    items = []
    for r in rows:
        lot = lots.get(r["lot_id"], {}) if r["lot_id"] is not None else None
        unit = unit_names.get(r["unit_id"], {}) if r["unit_id"] is not None else None
        gtin = f"{int(r['gtin']):014d}" if r["gtin"] is not None else (lot or {}).get("gtin")
        items.append(
            {
                "event": r["event"],
                "role": r["role"],
                "at": r["at"],
                "actor": _party(names, r["actor"]),
                "counterparty": _party(names, r["counterparty"]),
                "unit": None if unit is None else {"id": _hex(r["unit_id"]), **unit},
                "lot": None
                if lot is None
                else {"id": _hex(r["lot_id"]), "gtin": lot.get("gtin"), "lot": lot.get("lot")},
                "gtin": gtin,
                "packs": r["packs"],
                "readings": r["readings"],
                "block_number": r["block_number"],
                "log_index": r["log_index"],
                "tx_hash": _hex(r["tx_hash"]),
            }
        )
    return {"items": items, "next": _next("activity", page.next_key)}


def _render_recalls(conn, page: queries.Page) -> dict:
    names = queries.parties(conn, [a for r in page.rows for a in (r["manufacturer"], r["recalled_by"])])
    items = [
        {
            "lot_id": _hex(r["lot_id"]),
            "gtin": f"{int(r['gtin']):014d}",
            "lot": r["lot_number"],
            "expiry": queries.expiry_date(r["expiry"]),
            "serial_count": r["serial_count"],
            "manufacturer": _party(names, r["manufacturer"]),
            "recalled_by": _party(names, r["recalled_by"]),
            "recalled_at": r["recalled_at"],
            "block_number": r["block_number"],
            "tx_hash": _hex(r["tx_hash"]),
        }
        for r in page.rows
    ]
    return {"items": items, "next": _next("recalls", page.next_key)}


def _render_alerts(conn, rows: list[dict]) -> list[dict]:
    orgs = alerts.organisations(conn, [o for r in rows for o in (*r["parties"], r["acknowledged_by"], r["closed_by"])])

    def org(org_id):
        if org_id is None:
            return None
        found = orgs.get(org_id, {})
        return {"id": org_id, "name": found.get("name"), "gln": found.get("gln")}

    return [
        {
            **{k: r[k] for k in ("id", "rule", "subject", "status", "severity", "summary", "evidence", "occurrences")},
            "parties": [org(p) for p in r["parties"]],
            "gtin": f"{int(r['gtin']):014d}" if r["gtin"] is not None else None,
            "lot": r["lot_number"],
            "lot_id": _hex(r["lot_id"]),
            "sgtin_id": _hex(r["sgtin_id"]),
            "unit_id": _hex(r["unit_id"]),
            **{k: r[k] for k in ("first_seen", "last_seen", "acknowledged_at", "closed_at", "resolution")},
            "acknowledged_by": org(r["acknowledged_by"]),
            "closed_by": org(r["closed_by"]),
        }
        for r in rows
    ]


# --------------------------------------------------------------------------- routes


@blp.route("/lots")
class Lots(MethodView):
    @blp.doc(security=SECURITY)
    @blp.arguments(LotQuerySchema, location="query", unknown=RAISE)
    @blp.response(200, LotPageSchema)
    def get(self, query):
        """Commissioned lots, oldest first, by product and/or manufacturer (others: lots that passed through your hands)."""
        with _db().connection() as conn:
            manufacturer = None
            if "manufacturer" in query:
                manufacturer = prechecks.account_of_gln(conn, query["manufacturer"])
                if manufacturer is None:  # no such manufacturer: no lots
                    return {"items": [], "next": None}
            page = queries.lots(
                conn,
                _viewer(),
                gtin=query.get("gtin"),
                manufacturer=manufacturer,
                after=query.get("cursor"),
                limit=query["limit"],
            )
            return _render_lots(conn, page)


@blp.route("/partners/<gln>/activity")
class PartnerActivity(MethodView):
    @blp.doc(security=SECURITY)
    @blp.arguments(PartnerPathSchema, location="path")
    @blp.arguments(ActivityQuerySchema, location="query", unknown=RAISE)
    @blp.response(200, ActivityPageSchema)
    @blp.alt_response(403, description="Another partner's activity (only a regulator may see it)")
    @blp.alt_response(404, description="No organisation with this GLN is registered on chain")
    def get(self, path, query, gln):
        """Every event a trading partner acted in or was the counterparty of, oldest first (regulators; others: their own)."""
        principal = g.principal
        viewer = access.Viewer.of(principal)
        gln = path["gln"]
        own_activity_only = (
            "path",
            "gln",
            "own_activity_only",
            "only a regulator may see another trading partner's activity; use your own GLN",
        )
        if not viewer.regulator and gln != principal.gln:  # decided before the lookup: reveals no GLN
            return _forbidden(*own_activity_only)
        with _db().connection() as conn:
            account = prechecks.account_of_gln(conn, gln)
            if account is not None and not access.may_see_activity(viewer, account):
                return _forbidden(*own_activity_only)
            if account is None:
                return problem(
                    404,
                    "Not Found",
                    f"no organisation with GLN {gln} is registered on chain",
                    errors={"path": {"gln": ["registered: no organisation has this GLN"]}},
                )
            # the rows the access policy shows; a page is filled up from the following ones
            rows, after, limit = [], query.get("cursor"), query["limit"]
            while True:
                page = queries.activity(
                    conn, account, start=query.get("start"), end=query.get("end"), after=after, limit=limit
                )
                rows += [r for r in page.rows if access.may_see_activity_row(viewer, account, r)]
                if len(rows) >= limit or page.next_key is None:
                    break
                after = page.next_key
            more = len(rows) > limit or page.next_key is not None
            rows = rows[:limit]
            page = queries.Page(rows, (rows[-1]["block_number"], rows[-1]["log_index"]) if more and rows else None)
            return _render_activity(conn, page)


@blp.route("/recalls")
class Recalls(MethodView):
    @blp.doc(security=SECURITY)
    @blp.arguments(RecallQuerySchema, location="query", unknown=RAISE)
    @blp.response(200, RecallPageSchema)
    def get(self, query):
        """Recalled lots, newest first, with who recalled them and when (others: lots that passed through your hands)."""
        with _db().connection() as conn:
            page = queries.recalls(conn, _viewer(), before=query.get("cursor"), limit=query["limit"])
            return _render_recalls(conn, page)


def _organisation_scope() -> int | None:
    return access.alert_scope(access.Viewer.of(g.principal))[0]


def _account_scope() -> bytes | None:
    return access.alert_scope(access.Viewer.of(g.principal))[1]


@blp.route("/alerts")
class Alerts(MethodView):
    @blp.doc(security=SECURITY)
    @blp.arguments(AlertQuerySchema, location="query", unknown=RAISE)  # a misspelt filter: 422, not all alerts
    @blp.response(200, AlertPageSchema)
    def get(self, query):
        """Alerts raised by the detection rules, newest first (others: alerts naming your organisation)."""
        cursor = query.get("cursor")
        with _db().connection() as conn:
            rows, next_id = alerts.list_alerts(
                conn,
                _organisation_scope(),
                status=query.get("status"),
                rule=query.get("rule"),
                before=cursor[0] if cursor else None,
                limit=query["limit"],
                account=_account_scope(),
            )
            return {"items": _render_alerts(conn, rows), "next": _next("alerts", (next_id,) if next_id else None)}


@blp.route("/alerts/<int:alert_id>")
class AlertById(MethodView):
    @blp.doc(security=SECURITY)
    @blp.response(200, AlertSchema)
    @blp.alt_response(404, description="No such alert, or not one naming your organisation")
    def get(self, alert_id):
        """One alert with its evidence (404 for an alert your organisation is not a party to)."""
        with _db().connection() as conn:
            return _render_alerts(conn, [alerts.get_alert(conn, alert_id, _organisation_scope(), _account_scope())])[0]


@blp.route("/alerts/<int:alert_id>/acknowledge")
class AlertAcknowledge(MethodView):
    @blp.doc(security=SECURITY)
    @blp.arguments(AlertAcknowledgementSchema, required=False)
    @blp.response(200, AlertSchema)
    @blp.alt_response(404, description="No such alert, or not one naming your organisation")
    @blp.alt_response(409, description="The alert is not open")
    def post(self, body, alert_id):
        """Acknowledge an open alert (a regulator, or an organisation the alert names)."""
        principal = g.principal
        with _db().connection() as conn:
            row = alerts.acknowledge(
                conn,
                alert_id,
                principal.organisation_id,
                principal.has_role("regulator"),
                body.get("note"),
                _account_scope(),
            )
            return _render_alerts(conn, [row])[0]


@blp.route("/alerts/<int:alert_id>/close")
class AlertClose(MethodView):
    @blp.doc(security=SECURITY)
    @blp.arguments(AlertClosureSchema)
    @blp.response(200, AlertSchema)
    @blp.alt_response(404, description="No such alert, or not one naming your organisation")
    @blp.alt_response(403, description="Only a regulator or a manufacturer the alert names may close it")
    @blp.alt_response(409, description="The alert is already closed")
    def post(self, body, alert_id):
        """Close an open or acknowledged alert with its resolution (a regulator, or a manufacturer the alert names;
        the other parties acknowledge)."""
        principal = g.principal
        with _db().connection() as conn:
            row = alerts.close(
                conn,
                alert_id,
                principal.organisation_id,
                principal.has_role("regulator"),
                body["resolution"],
                _account_scope(),
            )
            return _render_alerts(conn, [row])[0]
