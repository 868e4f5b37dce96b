"""Prometheus scrape endpoint."""

from __future__ import annotations

from flask import Response, current_app
from flask.views import MethodView
from flask_smorest import Blueprint
from prometheus_client import CONTENT_TYPE_LATEST

from app.api.auth import public
from app.services import metrics
from app.services.supervision import read_status

blp = Blueprint("metrics", __name__, description="Operational metrics")


@blp.route("/metrics")
@public
class Metrics(MethodView):
    @blp.response(200, content_type=CONTENT_TYPE_LATEST, description="Prometheus text exposition format")
    def get(self):
        """Prometheus metrics: chain head, indexer cursor and lag, mirror sizes (public: operational only)."""
        ext = current_app.extensions["pharmatrack"]
        supervisor = read_status(ext.settings.data_dir)  # written by `up`, if it runs this stack
        # content_type, not mimetype: Flask adds "; charset=utf-8" to a mimetype, and CONTENT_TYPE_LATEST has it
        return Response(
            metrics.render(ext.db, ext.chain, current_app.config["API_VERSION"], supervisor),
            content_type=CONTENT_TYPE_LATEST,
        )
