"""pharmatrack: serialized drug custody on an EVM chain, with a Flask API and a Postgres mirror."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask

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
    from app import logs
    from app.api import auth, health, me, metrics, operations, problems, products, provenance, regulator, verify, writes
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
        OPENAPI_SWAGGER_UI_URL="https://cdn.jsdelivr.net/npm/swagger-ui-dist@5.17.14/",
        PUBLIC_ENDPOINTS={"api-docs.openapi_json", "api-docs.openapi_swagger_ui", "static"},
        JSON_SORT_KEYS=False,
        MAX_CONTENT_LENGTH=16 * 1024 * 1024,
    )
    app.config.update(config or {})
    # every request thread may hold a connection, plus the verification log's writer
    db = Database(settings.require_database_url(), maxconn=max(8, settings.web_threads + 2))
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
        verify.blp, provenance.blp, regulator.blp,
    ):  # fmt: skip
        api.register_blueprint(blueprint)
    problems.register(app)
    auth.register(app)
    url_rules.register(app)
    return app
