"""One error shape for the whole API: RFC 9457 problem documents (application/problem+json).

Field-level validation errors travel in ``errors``: ``{"<location>": {"<field>": ["<rule>"]}}``.
"""

from __future__ import annotations

import http
import logging

import psycopg2
from apispec import BasePlugin
from flask import Flask, Response, json, request
from flask_smorest import Api
from flask_smorest.utils import prepare_response
from marshmallow import INCLUDE, Schema, ValidationError, fields
from werkzeug.exceptions import HTTPException

from app.api.fields import Text
from app.errors import ConfigError, NotFound, ServiceUnavailable
from app.gs1 import GS1Error
from app.services.outbox import IdempotencyConflict
from app.services.readings import ReadingsError
from app.services.writes import Rejected

log = logging.getLogger(__name__)
PROBLEM_JSON = "application/problem+json"


class ProblemSchema(Schema):
    """What every error answer is, as the OpenAPI document states it (RFC 9457)."""

    class Meta:
        unknown = INCLUDE  # some problems carry more (`operation`, `alert_rule`, `status_now`)

    type = Text(required=True, metadata={"example": "about:blank"})
    title = Text(required=True)
    status = fields.Integer(required=True)
    detail = Text(echo=True)
    instance = Text(echo=True, metadata={"description": "The request's path"})
    errors = fields.Dict(
        keys=Text(),
        metadata={"description": "By location (json, query, path, headers, body): each field and the rules it broke"},
    )
    code = Text(metadata={"description": "A machine-readable rule, e.g. `not_holder`"})


class HeaderParameters(BasePlugin):
    """`@blp.doc(**{"x-headers": [parameter, ...]})` adds header parameters to an operation. (`parameters=` in
    `blp.doc` would replace the query parameters its schemas give, not add to them.)"""

    def operation_helper(self, path=None, operations=None, **kwargs):
        for operation in (operations or {}).values():
            headers = operation.pop("x-headers", None) if isinstance(operation, dict) else None
            if headers:
                operation.setdefault("parameters", []).extend(headers)


class ProblemApi(Api):
    """flask-smorest's Api, with the error answers documented as they are (problem documents), and header
    parameters (HeaderParameters)."""

    ERROR_SCHEMA = ProblemSchema

    def _init_spec(self, *, extra_plugins=None, **kwargs):
        super()._init_spec(extra_plugins=[*(extra_plugins or ()), HeaderParameters()], **kwargs)

    def _register_responses(self):
        for status in http.HTTPStatus:
            response = {"description": status.phrase}
            if status >= 400:
                response["schema"] = self.ERROR_SCHEMA
            prepare_response(response, self.spec, PROBLEM_JSON)
            self.spec.components.response(status.name, response, lazy=True)
        response = {"description": "An error (a problem document)", "schema": self.ERROR_SCHEMA}
        prepare_response(response, self.spec, PROBLEM_JSON)
        self.spec.components.response("DEFAULT_ERROR", response, lazy=True)


def problem(status: int, title: str, detail: str | None = None, errors: dict | None = None, **extra) -> Response:
    body = {"type": "about:blank", "title": title, "status": status}
    if detail:
        body["detail"] = detail
    if errors:
        body["errors"] = errors
    body["instance"] = request.path
    body.update(extra)
    resp = Response(json.dumps(body), status=status, mimetype=PROBLEM_JSON)
    if status == 503:
        resp.headers["Retry-After"] = "5"
    return resp


def _http_exception(exc: HTTPException) -> Response:
    # flask-smorest's abort(...) and webargs put validation messages in exc.data["messages"].
    data = getattr(exc, "data", None) or {}
    errors = data.get("messages")
    detail = exc.description if isinstance(exc.description, str) else None
    if errors and exc.code == 422:
        detail = "The request is invalid; see errors for each field and the rule it broke."
    resp = problem(exc.code or 500, exc.name, detail, errors)
    if exc.code == 405 and hasattr(exc, "valid_methods") and exc.valid_methods:
        resp.headers["Allow"] = ", ".join(exc.valid_methods)
    return resp


def register(app: Flask) -> None:
    app.register_error_handler(HTTPException, _http_exception)

    @app.errorhandler(NotFound)
    def _not_found(exc: NotFound):
        return problem(404, "Not Found", f"{exc.what} does not exist")

    @app.errorhandler(ServiceUnavailable)
    def _unavailable(exc: ServiceUnavailable):
        log.warning("dependency unavailable", extra={"component": exc.component, "problem": exc.problem})
        resp = problem(503, "Service Unavailable", f"the {exc.component} is unavailable; retry later")
        if exc.retry_after:
            resp.headers["Retry-After"] = str(max(1, round(exc.retry_after)))
        return resp

    @app.errorhandler(IdempotencyConflict)
    def _idempotency(exc: IdempotencyConflict):
        return problem(
            422,
            "Unprocessable Entity",
            str(exc),
            errors={"headers": {"Idempotency-Key": ["was used before with a different request"]}},
            operation=exc.operation_id,
        )

    @app.errorhandler(GS1Error)
    def _gs1(exc: GS1Error):
        return problem(
            422, "Unprocessable Entity", exc.message, errors={"json": {exc.field: [f"{exc.rule}: {exc.message}"]}}
        )

    @app.errorhandler(Rejected)
    def _rejected(exc: Rejected):
        title = "Conflict" if exc.status == 409 else "Unprocessable Entity"
        return problem(exc.status, title, exc.message, errors={"json": {exc.field: [f"{exc.rule}: {exc.message}"]}},
                       code=exc.rule)  # fmt: skip

    @app.errorhandler(ValidationError)
    def _validation(exc: ValidationError):
        messages = exc.messages if isinstance(exc.messages, dict) else {"_schema": exc.messages}
        return problem(422, "Unprocessable Entity", "The request is invalid; see errors for each field and the rule "
                       "it broke.", errors={"json": messages})  # fmt: skip

    @app.errorhandler(ReadingsError)
    def _readings(exc: ReadingsError):
        return problem(422, "Unprocessable Entity", str(exc), errors={"json": {exc.field: [exc.message]}})

    @app.errorhandler(UnicodeDecodeError)
    def _encoding(exc: UnicodeDecodeError):
        return problem(400, "Bad Request", "the body is not UTF-8", errors={"body": {"encoding": ["must be UTF-8"]}})

    @app.errorhandler(psycopg2.errors.UndefinedTable)
    def _schema_missing(exc):
        log.error("database schema missing: run `pharmatrack migrate`")
        return problem(503, "Service Unavailable", "the database schema is not installed yet; retry later")

    @app.errorhandler(ConfigError)
    def _config(exc: ConfigError):
        log.error("configuration problem", extra={"setting": exc.setting, "problem": exc.problem})
        return problem(503, "Service Unavailable", "the service is not fully configured; retry later")

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        log.exception("unhandled error on %s %s", request.method, request.path)
        return problem(500, "Internal Server Error", "an unexpected error occurred; it has been logged")
