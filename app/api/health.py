"""Liveness and readiness."""

from __future__ import annotations

import time

from flask import current_app
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields

from app.api.auth import public
from app.api.fields import Text
from app.errors import PharmatrackError
from app.services import readiness

blp = Blueprint("health", __name__, description="Liveness and readiness probes")


class HealthSchema(Schema):
    status = Text(required=True, metadata={"example": "ok"})


class ComponentSchema(Schema):
    state = Text(required=True, metadata={"description": "ok, degraded or down"})
    detail = Text()
    latency_ms = fields.Float()
    block = fields.Integer()
    chain_id = fields.Integer()
    lag_blocks = fields.Integer()
    cursor = fields.Integer()
    pending = fields.Integer(metadata={"description": "relayer: operations waiting to be sent (counted up to 10,000)"})
    oldest_pending_seconds = fields.Float(metadata={"description": "relayer: age of the oldest pending operation"})
    in_flight = fields.Integer(metadata={"description": "relayer: transactions sent and not yet mined"})
    stuck = fields.Integer(metadata={"description": "relayer: transactions unmined after twice RELAYER_STUCK_SECONDS"})
    nonce_gap = fields.Integer(
        metadata={"description": "relayer: most by which its next nonce for an account is ahead of the chain's"}
    )
    detail_chain = Text()
    oldest_unseen_seconds = fields.Float(
        metadata={"description": "detector: age of the oldest verification its rules have not seen"}
    )
    process = Text(metadata={"description": "under `pharmatrack up`: running, restarting or stopped"})


class ReadySchema(Schema):
    status = Text(required=True, metadata={"description": "ok, degraded or down"})
    components = fields.Dict(keys=Text(), values=fields.Nested(ComponentSchema))


@blp.route("/healthz")
@public
class Health(MethodView):
    @blp.response(200, HealthSchema)
    def get(self):
        """The process is alive (no dependency is checked)."""
        return {"status": "ok"}


@blp.route("/readyz")
@public
class Ready(MethodView):
    @blp.response(200, ReadySchema)
    @blp.alt_response(503, schema=ReadySchema, description="The database or the chain is down")
    def get(self):
        """Readiness: the database, the chain, the indexer's lag, the relayer and the detector, each with its state."""
        ext = current_app.extensions["pharmatrack"]
        started = time.perf_counter()
        try:
            report = readiness.check(ext.db, ext.chain, ext.settings)
        except PharmatrackError as exc:  # a dependency failed in a way check() did not expect
            report = {"status": "down", "components": {"service": {"state": "down", "detail": str(exc)}}}
        report["components"].setdefault(
            "service", {"state": "ok", "latency_ms": round((time.perf_counter() - started) * 1000, 2)}
        )
        return report, (200 if report["status"] != "down" else 503)
