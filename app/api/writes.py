"""Scanner writes: every custody action a trading partner posts.

Each write is authenticated, checked for role, validated (GS1 check digits, dates, sizes),
pre-checked against the mirror, and stored in the outbox in the same transaction as its
``Idempotency-Key``. The answer is 202 with the operation and its status URL; the relayer puts
it on chain. ``?wait=confirmed`` holds the answer until the operation is confirmed or failed
(or the timeout passes: then it is still 202).
"""

from __future__ import annotations

import re
import time

from flask import current_app, g, request, url_for
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema

from app.api import fields as gs1f
from app.api.auth import SECURITY
from app.api.fields import Text
from app.api.operations import OperationSchema, render
from app.api.problems import problem
from app.services import outbox, readings, writes

blp = Blueprint("writes", __name__, url_prefix="/v1", description="Scans: custody handoffs and status changes")

KEY_RE = re.compile(r"^[\x21-\x7e]{1,255}$")
IDEMPOTENCY_KEY = {
    "in": "header",
    "name": "Idempotency-Key",
    "required": True,
    "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[\\x21-\\x7e]+$"},
    "description": "The scan's own id: a rescan with the same key returns the first answer (1 to 255 visible ASCII)",
}
UNITS = validate.Length(min=1, max=writes.MAX_UNITS, error=f"must list 1 to {writes.MAX_UNITS} items")
WAIT_POLL_SECONDS = 0.05
BULK_DB_TIMEOUT = 120.0  # seconds a lot commission may hold its connection (others: DB_REQUEST_TIMEOUT)
BULK = ("commission_lot", "commission_batch")


# --------------------------------------------------------------------------- request schemas


class WaitSchema(Schema):
    wait = Text(
        validate=validate.OneOf(["confirmed"]),
        metadata={"description": "`confirmed`: answer once the operation is confirmed or failed"},
    )
    timeout = fields.Float(
        load_default=30.0,
        validate=validate.Range(min=0, max=120),
        metadata={"description": "Seconds to wait with `wait=confirmed` (at most 120)"},
    )


def _celsius():
    # The bounds in the document as numbers (apispec writes a Decimal field's as strings, which is invalid).
    return fields.Decimal(required=True, places=2, allow_nan=False, validate=validate.Range(min=-100, max=100),
                          metadata={"minimum": -100, "maximum": 100, "description": "°C, two decimals"})  # fmt: skip


class StorageSchema(Schema):
    min_celsius = _celsius()
    max_celsius = _celsius()


class ProductRegistrationSchema(Schema):
    gtin = gs1f.GTIN(required=True, metadata={"example": "09506000134352"})
    name = Text(required=True, validate=validate.Length(min=1, max=200))
    strength = Text(validate=validate.Length(max=100))
    dosage_form = Text(validate=validate.Length(max=100), metadata={"example": "film-coated tablet"})
    storage = fields.Nested(StorageSchema, required=True, metadata={"description": "Storage range, °C"})


class SerialRangeSchema(Schema):
    prefix = Text(load_default="", validate=validate.Regexp(r"^[0-9A-Za-z]{0,19}$"))
    first = fields.Integer(required=True, validate=validate.Range(min=0))
    count = fields.Integer(required=True, validate=validate.Range(min=1, max=writes.MAX_SERIALS))
    digits = fields.Integer(load_default=10, validate=validate.Range(min=1, max=20))


class LotCommissionSchema(Schema):
    gtin = gs1f.GTIN(required=True)
    lot = gs1f.LotNumber(required=True)
    expiry = gs1f.Expiry(required=True, metadata={"description": "Expiry date (YYYY-MM-DD), printable as GS1 AI (17)"})
    serials = fields.List(
        gs1f.Serial(),
        validate=validate.Length(min=1, max=writes.MAX_SERIALS, error=f"must list 1 to {writes.MAX_SERIALS} serials"),
        metadata={"description": "The lot's serials, in leaf order"},
    )
    serial_range = fields.Nested(SerialRangeSchema, metadata={"description": "Generate serials instead of listing"})

    @validates_schema
    def _one_source(self, data, **kwargs):
        if ("serials" in data) == ("serial_range" in data):
            raise ValidationError("give exactly one of serials or serial_range", "serials")


class LotOpeningSchema(Schema):
    gtin = gs1f.GTIN(required=True)
    lot = gs1f.LotNumber(required=True)
    expiry = gs1f.Expiry(required=True, metadata={"description": "Expiry date (YYYY-MM-DD), printable as GS1 AI (17)"})
    capacity = fields.Integer(
        required=True,
        validate=validate.Range(min=1, max=writes.MAX_CAPACITY),
        metadata={"description": "The most serials the lot may ever hold (over all batches)"},
    )


class LotBatchSchema(Schema):
    gtin = gs1f.GTIN(required=True)
    lot = gs1f.LotNumber(required=True)
    serials = fields.List(
        gs1f.Serial(),
        validate=validate.Length(min=1, max=writes.MAX_SERIALS, error=f"must list 1 to {writes.MAX_SERIALS} serials"),
        metadata={"description": "The batch's serials, in leaf order (they follow the lot's earlier batches)"},
    )
    serial_range = fields.Nested(SerialRangeSchema, metadata={"description": "Generate serials instead of listing"})

    @validates_schema
    def _one_source(self, data, **kwargs):
        if ("serials" in data) == ("serial_range" in data):
            raise ValidationError("give exactly one of serials or serial_range", "serials")


class LotRefSchema(Schema):
    gtin = gs1f.GTIN(required=True)
    lot = gs1f.LotNumber(required=True)


class UnitsSchema(Schema):
    units = fields.List(gs1f.SSCC(), required=True, validate=UNITS)


CONSIGNMENT_ID = validate.Regexp(r"^0x[0-9a-fA-F]{64}$", error="format: must be 0x and 64 hex digits")


def _consignments(what: str):
    return fields.List(Text(validate=CONSIGNMENT_ID), validate=UNITS,
                       metadata={"description": f"{what} by id (the `consignment` of the operation that made it)"})  # fmt: skip


class ReceiptSchema(Schema):
    units = fields.List(gs1f.SSCC(), validate=UNITS, metadata={"description": "Cases, totes or pallets (SSCC)"})
    packs = fields.List(gs1f.PackCode(), validate=UNITS,
                        metadata={"description": "Loose consignments: any pack of each, as scanned"})  # fmt: skip
    consignments = _consignments("Loose consignments")

    @validates_schema
    def _something(self, data, **kwargs):
        if "units" not in data and "packs" not in data and "consignments" not in data:
            raise ValidationError("give units, or packs or ids of loose consignments", "units")


class ReturnAcceptanceSchema(Schema):
    packs = fields.List(gs1f.PackCode(), validate=UNITS,
                        metadata={"description": "Returns: any pack of each, as scanned"})  # fmt: skip
    consignments = _consignments("Returns")

    @validates_schema
    def _something(self, data, **kwargs):
        if "packs" not in data and "consignments" not in data:
            raise ValidationError("give packs or ids of returns", "packs")


class ToteSchema(Schema):
    sscc = gs1f.SSCC(required=True, metadata={"description": "The new tote's SSCC"})
    packs = fields.List(gs1f.PackCode(), required=True, validate=UNITS,
                        metadata={"description": "Packs of any products and lots, from opened containers you hold"})  # fmt: skip


class CageSchema(Schema):
    sscc = gs1f.SSCC(required=True, metadata={"description": "The new roll cage's SSCC"})
    totes = fields.List(fields.Nested(ToteSchema), required=True, validate=UNITS,
                        metadata={"description": "Its totes, each picked out of opened run cases you hold"})  # fmt: skip
    cases = fields.List(gs1f.SSCC(), load_default=list, validate=validate.Length(max=writes.MAX_UNITS),
                        metadata={"description": "Closed cases you hold, on the cage beside the totes"})  # fmt: skip


class PackShipmentSchema(Schema):
    packs = fields.List(gs1f.PackCode(), required=True, validate=UNITS,
                        metadata={"description": "Loose packs from opened containers you hold"})  # fmt: skip
    to = gs1f.GLN(required=True, metadata={"description": "The recipient's GLN"})


class ShipSchema(UnitsSchema):
    to = gs1f.GLN(required=True, metadata={"description": "The recipient's GLN"})


class CaseSchema(Schema):
    sscc = gs1f.SSCC(required=True)
    gtin = gs1f.GTIN(required=True)
    lot = gs1f.LotNumber(required=True)
    first_index = fields.Integer(validate=validate.Range(min=0), metadata={"description": "A run: first leaf index"})
    count = fields.Integer(validate=validate.Range(min=1, max=100_000), metadata={"description": "A run: packs"})
    packs = fields.List(gs1f.PackCode(), validate=UNITS, metadata={"description": "Or any packs of the lot"})

    @validates_schema
    def _one_shape(self, data, **kwargs):
        run = "first_index" in data and "count" in data
        if run == ("packs" in data):
            raise ValidationError("give either first_index and count, or packs", "packs")


class PalletSchema(Schema):
    sscc = gs1f.SSCC(required=True)
    cases = fields.List(gs1f.SSCC(), required=True, validate=UNITS)


class PacksSchema(Schema):
    packs = fields.List(gs1f.PackCode(), required=True, validate=UNITS)


class StatusTargetSchema(Schema):
    sscc = gs1f.SSCC(metadata={"description": "A case or pallet"})
    gtin = gs1f.GTIN(metadata={"description": "With lot: a whole lot"})
    lot = gs1f.LotNumber()

    @validates_schema
    def _one_target(self, data, **kwargs):
        lot = "gtin" in data and "lot" in data
        if ("sscc" in data) == lot:
            raise ValidationError("give either sscc, or gtin and lot", "sscc")


class ReadingsJsonSchema(Schema):
    sensor_id = Text(required=True, validate=validate.Length(min=1, max=100))
    start = fields.Raw(required=True, metadata={"description": "ISO-8601 time with zone, or unix seconds"})
    interval = fields.Integer(required=True, metadata={"description": "Seconds between readings"})
    celsius = fields.List(fields.Raw(), required=True, metadata={"description": "Readings in °C"})


class ReadingsQuerySchema(WaitSchema):
    sensor_id = Text(validate=validate.Length(min=1, max=100))


class AcceptedSchema(Schema):
    operation = fields.Nested(OperationSchema, required=True)
    status_url = Text(required=True)


# --------------------------------------------------------------------------- the common path


def _idempotency_key() -> str | None:
    key = request.headers.get("Idempotency-Key")
    return key if key is not None and KEY_RE.fullmatch(key) else None


def _accept(action: str, body: dict, query: dict, bound: bytes = b""):
    """`bound`: what the request names outside its body (path, query), bound to the Idempotency-Key too."""
    principal = g.principal
    spec = writes.ACTIONS[action]
    if not principal.has_role(*spec.roles):
        return problem(
            403,
            "Forbidden",
            f"{action} needs the role {' or '.join(spec.roles)}; you have {', '.join(principal.roles)}",
        )
    key = _idempotency_key()
    if key is None:
        rule = "required" if "Idempotency-Key" not in request.headers else "must be 1 to 255 visible ASCII characters"
        return problem(400, "Bad Request", f"Idempotency-Key {rule}", errors={"headers": {"Idempotency-Key": [rule]}})
    db = current_app.extensions["pharmatrack"].db
    # a lot of up to 100,000 serials (tree, rows) takes seconds: a longer database bound for it alone
    with db.connection(timeout=BULK_DB_TIMEOUT if action in BULK else None) as conn:
        row, created = writes.submit(conn, principal, action, body, bound + request.get_data(cache=True), key)
        row = outbox.with_result(conn, row)  # a replayed, confirmed pack shipment: its consignment
    if query.get("wait") == "confirmed":
        row = _wait(db, row, query["timeout"])
    status = 200 if row["status"] in ("confirmed", "failed") and query.get("wait") else 202
    status_url = url_for("operations.OperationById", operation_id=row["id"], _external=False)
    headers = {"Location": status_url}
    if not created:
        headers["Idempotent-Replayed"] = "true"
    return {"operation": render(row), "status_url": status_url}, status, headers


def _wait(db, row: dict, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    while row["status"] not in ("confirmed", "failed") and time.monotonic() < deadline:
        time.sleep(WAIT_POLL_SECONDS)
        with db.connection() as conn:
            row = outbox.get(conn, str(row["id"]), row["organisation_id"])
    return row


def _route(path: str, action: str, schema: type[Schema], summary: str):
    """One POST route per action; all share the accept path above."""

    class Write(MethodView):
        @blp.doc(security=SECURITY, summary=summary, description=f"Action `{action}`; roles: "
                 f"{', '.join(writes.ACTIONS[action].roles)}. Send an `Idempotency-Key` header.",
                 **{"x-headers": [IDEMPOTENCY_KEY]})  # fmt: skip
        @blp.arguments(schema())  # instances: webargs would build a schema from a class on every request
        @blp.arguments(WaitSchema(), location="query", unknown=RAISE)
        @blp.response(202, AcceptedSchema)
        @blp.alt_response(200, schema=AcceptedSchema, description="With wait=confirmed: the final state")
        def post(self, body, query):
            return _accept(action, body, query)

    Write.__name__ = "".join(part.title() for part in action.split("_"))
    blp.route(path, endpoint=action)(Write)


_route("/products", "register_product", ProductRegistrationSchema, "Register a product (manufacturer)")
_route("/lots", "commission_lot", LotCommissionSchema, "Commission a lot with its serials (manufacturer)")
_route("/lots/openings", "open_lot", LotOpeningSchema, "Open a lot to be commissioned in batches (manufacturer)")
_route("/lots/batches", "commission_batch", LotBatchSchema, "Commission a lot's next batch of serials (manufacturer)")
_route("/lots/recalls", "recall", LotRefSchema, "Recall a lot (its manufacturer or a regulator)")
_route("/cases", "pack_case", CaseSchema, "Pack loose packs of a lot into a case (manufacturer)")
_route("/pallets", "pack_pallet", PalletSchema, "Pack held cases onto a pallet")
_route("/unpackings", "unpack", UnitsSchema, "Unpack cases or pallets you hold")
_route("/shipments", "ship", ShipSchema, "Ship units you hold to a trading partner's GLN")
_route("/receipts", "receive", ReceiptSchema, "Receive units or loose consignments shipped to you")
_route("/refusals", "refuse", ReceiptSchema, "Refuse units, loose consignments or returns shipped to you")
_route("/totes", "pack_tote", ToteSchema, "Pick packs out of opened containers into a new tote")
_route("/roll-cages", "pack_cage", CageSchema, "Pick totes out of opened cases onto a new roll cage, with cases")
_route("/pack-shipments", "ship_packs", PackShipmentSchema, "Ship loose packs to a trading partner (a consignment)")
_route(
    "/returns", "return_packs", PackShipmentSchema, "Return saleable packs to the party that shipped them (dispenser)"
)
_route(
    "/return-acceptances",
    "accept_return",
    ReturnAcceptanceSchema,
    "Accept a return shipped to you, named by its id or by its packs",
)
_route("/thefts", "report_stolen", PacksSchema, "Report packs you hold stolen")
_route("/dispensation-undos", "undo_dispense", PacksSchema, "Undo a dispense within 10 days (dispenser, EU FMD)")
_route("/dispensations", "dispense", PacksSchema, "Dispense packs (dispenser)")
_route("/destructions", "destroy", PacksSchema, "Destroy packs you hold")
_route("/quarantines", "quarantine", StatusTargetSchema, "Quarantine a unit (holder) or a lot (manufacturer)")
_route("/quarantine-clearances", "clear_quarantine", StatusTargetSchema, "Clear a quarantine")


@blp.route("/units/<code>/readings", endpoint="record_readings")
class UnitReadings(MethodView):
    @blp.doc(
        security=SECURITY,
        summary="Upload a data logger's readings for a case or pallet",
        description="JSON (`sensor_id`, `start`, `interval`, `celsius`) or `text/csv` with a header "
        "`time,temperature_c` and `?sensor_id=`. Readings must be evenly spaced.",
        requestBody={
            "content": {
                "application/json": {"schema": ReadingsJsonSchema},
                "text/csv": {"schema": {"type": "string"}},
            }
        },
        **{"x-headers": [IDEMPOTENCY_KEY]},
    )
    @blp.arguments(ReadingsQuerySchema, location="query", unknown=RAISE)
    @blp.response(202, AcceptedSchema)
    def post(self, query, code):
        try:
            sscc = gs1f.SSCC().deserialize(code)
        except ValidationError as exc:
            return problem(422, "Unprocessable Entity", "The request is invalid; see errors for each field and the "
                           "rule it broke.", errors={"path": {"code": exc.messages}})  # fmt: skip
        sensor_id = query.get("sensor_id")
        mimetype = request.mimetype
        if mimetype == "application/json":
            data = ReadingsJsonSchema().load(request.get_json(silent=True) or {})
            sensor_id = data["sensor_id"]
            try:
                parsed = readings.from_json(data["start"], data["interval"], data["celsius"])
            except readings.ReadingsError as exc:  # name the body's field: celsius[3], not readings[3]
                raise readings.ReadingsError(exc.field.replace("readings", "celsius", 1), exc.message) from None
            readings.check_not_future(parsed, time.time(), _skew(), lambda i: f"celsius[{i}]" if i else "start")
        elif mimetype == "text/csv":
            if not sensor_id:
                return problem(422, "Unprocessable Entity", "sensor_id is required with text/csv",
                               errors={"query": {"sensor_id": ["required with text/csv"]}})  # fmt: skip
            text = request.get_data(cache=True).decode("utf-8", errors="strict")
            parsed = readings.from_csv(text)
            readings.check_not_future(parsed, time.time(), _skew(), lambda i: f"csv line {i + 2}")
        else:
            return problem(
                415,
                "Unsupported Media Type",
                "send application/json or text/csv",
                errors={"headers": {"Content-Type": ["must be application/json or text/csv"]}},
            )
        bound = f"{sscc}\0{sensor_id}\0".encode()
        return _accept("record_readings", {"sscc": sscc, "sensor_id": sensor_id, "readings": parsed}, query, bound)


def _skew() -> float:
    return current_app.extensions["pharmatrack"].settings.readings_max_clock_skew_seconds


@blp.before_request
def _json_only():
    """Bodies of the JSON routes must be JSON: another content type is a 415, not a guess."""
    if request.method != "POST" or request.endpoint == "writes.record_readings":
        return None
    if request.mimetype != "application/json":
        return problem(
            415,
            "Unsupported Media Type",
            "send the request body as application/json",
            errors={"headers": {"Content-Type": ["must be application/json"]}},
        )
    return None
