"""pharmatrack: serialized drug custody on an EVM chain, with a Flask API and a Postgres mirror."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask

from app.api import jsonbody, security  # jsonbody before any blueprint: it installs their webargs parser
from app.chain.client import ChainClient
from app.config import Settings
from app.db import Database
from app.services.verifylog import VerificationLog

__version__ = "0.1.0"


@dataclass
class Extensions:
    settings: Settings
    db: Database
    chain: ChainClient
    verifications: VerificationLog


def create_app(settings: Settings | None = None, config: dict | None = None) -> Flask:
    """Build the WSGI app. Settings come from the environment unless given (tests pass them)."""
    from app import logs, web
    from app.api import (
        auth,
        epcis,
        epcis_capture,
        epcis_queries,
        health,
        lvm,
        me,
        metrics,
        operations,
        problems,
        products,
        provenance,
        regulator,
        verify,
        writes,
    )
    from app.api import urls as url_rules

    settings = settings or Settings.from_env()
    logs.setup(settings.log_level)
    app = Flask(__name__)
    app.config.update(
        API_TITLE="pharmatrack",
        API_VERSION=__version__,
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/",
        OPENAPI_JSON_PATH="openapi.json",
        OPENAPI_SWAGGER_UI_PATH="/docs",
        OPENAPI_SWAGGER_UI_URL=security.SWAGGER_UI_URL,  # npm swagger-ui-dist, served here (no CDN)
        OPENAPI_SWAGGER_UI_CONFIG={"validatorUrl": None},  # no badge fetched from swagger.io
        PUBLIC_ENDPOINTS={"api-docs.openapi_json", "api-docs.openapi_swagger_ui", "static"},
        JSON_SORT_KEYS=False,
    )
    app.config.update(config or {})
    # Connections for all request threads but one (the verification log's writer and the rate-limit
    # flusher share them): a hung database holds at most WEB_THREADS - 1 threads, each for at most
    # DB_REQUEST_TIMEOUT, so one is left for /healthz and requests that need no database (app/db).
    db = Database(
        settings.require_database_url(),
        maxconn=max(2, settings.web_threads - 1),
        connect_timeout=settings.db_connect_timeout,
        statement_timeout=settings.db_request_timeout,
        hold_timeout=settings.db_request_timeout,
        pool_wait=settings.db_pool_wait,
        breaker_seconds=settings.db_breaker_seconds,
    )
    app.extensions["pharmatrack"] = Extensions(
        settings=settings,
        db=db,
        chain=ChainClient(settings.effective_rpc_url),
        verifications=VerificationLog(
            db, settings.verify_log_flush_seconds, settings.verify_log_backlog, settings.verify_log_retention_months
        ),
    )
    api = problems.ProblemApi(app)
    api.spec.components.security_scheme(
        "ApiKey", {"type": "http", "scheme": "bearer", "description": "Organisation API key: pt_<prefix>_<secret>"}
    )
    for blueprint in (
        health.blp, metrics.blp, products.blp, me.blp, operations.blp, writes.blp,
        verify.blp, lvm.blp, provenance.blp, regulator.blp, epcis.blp, epcis_capture.blp, epcis_queries.blp,
    ):  # fmt: skip
        api.register_blueprint(blueprint)
    problems.register(app)
    security.register(app, settings.cors_origins)  # before auth: preflights are answered first
    web.register(app, settings)  # the pages: sessions, not API keys (the key gate leaves them to it)
    auth.register(app)
    jsonbody.register(app, settings.max_body_bytes, settings.json_max_depth)  # after auth: strangers' bodies unread
    url_rules.register(app)
    return app
