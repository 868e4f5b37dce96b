"""The foundation's read-only probe: Beacon pings as mirrored by the indexer."""

from __future__ import annotations

from flask import current_app
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, ValidationError, fields, validate, validates

from app.api.auth import public
from app.db import fetch_all

blp = Blueprint("pings", __name__, url_prefix="/v1/pings", description="Wiring probe: chain → indexer → API")

_MAX_CURSOR = (2**63 - 1, 2**31 - 1)


class PingQuerySchema(Schema):
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=500))
    before = fields.String(
        load_default=None, metadata={"description": "Page cursor: the `next` value of the previous page"}
    )

    @validates("before")
    def _cursor_shape(self, value, **kwargs):
        if value is None:
            return
        parts = value.split(":")
        if len(parts) != 2 or not all(p.isdigit() for p in parts):
            raise ValidationError("must be '<block>:<logIndex>' as returned in `next`")
        if int(parts[0]) > _MAX_CURSOR[0] or int(parts[1]) > _MAX_CURSOR[1]:
            raise ValidationError("is out of range")


class PingSchema(Schema):
    block_number = fields.Integer(required=True)
    log_index = fields.Integer(required=True)
    tx_hash = fields.String(required=True)
    sender = fields.String(required=True)
    seq = fields.Integer(required=True)
    note = fields.String(required=True)
    timestamp = fields.DateTime(allow_none=True)


class PingPageSchema(Schema):
    items = fields.List(fields.Nested(PingSchema), required=True)
    next = fields.String(
        allow_none=True, metadata={"description": "Pass as `before` for the next page; null at the end"}
    )


LIST_PINGS = """
SELECT p.block_number, p.log_index, p.tx_hash, p.sender, p.seq, p.note, b.timestamp
FROM ev_pinged p LEFT JOIN blocks b ON b.number = p.block_number
WHERE (p.block_number, p.log_index) < (%s, %s)
ORDER BY p.block_number DESC, p.log_index DESC
LIMIT %s
"""


def _hex(value: bytes) -> str:
    return "0x" + bytes(value).hex()


@blp.route("")
@public
class Pings(MethodView):
    @blp.arguments(PingQuerySchema, location="query")
    @blp.response(200, PingPageSchema)
    def get(self, query):
        """Pings mirrored from the chain, newest first (public: the probe carries no data of anyone's)."""
        before = tuple(int(p) for p in query["before"].split(":")) if query["before"] else _MAX_CURSOR
        db = current_app.extensions["pharmatrack"].db
        with db.connection() as conn:
            rows = fetch_all(conn, LIST_PINGS, (before[0], before[1], query["limit"] + 1))
        page, more = rows[: query["limit"]], len(rows) > query["limit"]
        items = [
            {
                **row,
                "tx_hash": _hex(row["tx_hash"]),
                "sender": _hex(row["sender"]),
                "seq": int(row["seq"]),
            }
            for row in page
        ]
        nxt = f"{page[-1]['block_number']}:{page[-1]['log_index']}" if more else None
        return {"items": items, "next": nxt}
