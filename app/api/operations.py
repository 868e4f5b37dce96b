"""Operations: the state of an accepted write (pending → submitted → confirmed | failed)."""

from __future__ import annotations

from flask import current_app, g
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields

from app.api.auth import SECURITY
from app.api.fields import Text
from app.errors import NotFound
from app.services import outbox

blp = Blueprint("operations", __name__, url_prefix="/v1/operations", description="Accepted writes and their fate")


class OperationSchema(Schema):
    id = fields.UUID(required=True)
    action = Text(required=True)
    status = Text(required=True, metadata={"description": "pending, submitted, confirmed or failed"})
    tx_hash = Text(allow_none=True)
    block_number = fields.Integer(allow_none=True)
    error = fields.Dict(allow_none=True, metadata={"description": "Decoded revert reason when failed"})
    consignment = Text(
        allow_none=True,
        metadata={"description": "A confirmed pack shipment or return: the id of the consignment it made (receive, "
                  "refuse or accept it by this id)"},
    )  # fmt: skip
    created_at = fields.DateTime(required=True)
    updated_at = fields.DateTime(required=True)


def render(row: dict) -> dict:
    return {
        **{k: row[k] for k in ("id", "action", "status", "block_number", "error", "created_at", "updated_at")},
        "tx_hash": "0x" + bytes(row["tx_hash"]).hex() if row["tx_hash"] is not None else None,
        "consignment": row.get("consignment"),
    }


@blp.route("/<uuid:operation_id>")
class OperationById(MethodView):
    @blp.doc(security=SECURITY)
    @blp.response(200, OperationSchema)
    def get(self, operation_id):
        """One operation of the caller's organisation (a regulator sees every organisation's)."""
        principal = g.principal
        db = current_app.extensions["pharmatrack"].db
        with db.connection() as conn:
            row = outbox.get(conn, str(operation_id), principal.organisation_id, principal.has_role("regulator"))
        if row is None:
            raise NotFound(f"operation {operation_id}")
        return render(row)
