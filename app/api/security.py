"""Security headers on every answer, Swagger UI served from this server, and the CORS policy.

Headers (every answer, errors included):
- ``X-Content-Type-Options: nosniff``, ``X-Frame-Options: DENY``, ``Referrer-Policy: no-referrer``;
- ``Content-Security-Policy``: ``default-src 'none'; frame-ancestors 'none'`` for the API's JSON;
  the /docs page gets what Swagger UI needs from this origin only: its scripts and stylesheet
  (served from npm's ``swagger-ui-dist``, pinned in package.json, at /docs/assets/), its one inline
  script by hash, inline styles (Swagger UI sets style attributes), data: images, and fetches to
  this origin (the OpenAPI document, "try it out");
- ``Cache-Control: no-store`` on every answer to a request that carried credentials.

CORS (CORS_ORIGINS): off by default — no Access-Control-* header is ever sent, so browsers keep
other origins' scripts out. A preflight (OPTIONS with Origin and Access-Control-Request-Method) is
answered here, before authentication (browsers never send credentials on a preflight, so a 401
would only hide the policy): 204, with the Access-Control-Allow-* headers only when the origin is
allowed. Allowed origins get ``Access-Control-Allow-Origin`` on their requests; credentials are
bearer keys, never cookies, so Access-Control-Allow-Credentials is never sent.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import logging
import re

from flask import Flask, Response, abort, request, send_from_directory

from app.config import PROJECT_ROOT

log = logging.getLogger(__name__)

SWAGGER_UI_DIR = PROJECT_ROOT / "node_modules" / "swagger-ui-dist"
SWAGGER_UI_URL = "/docs/assets/"
SWAGGER_UI_FILES = frozenset(
    {"swagger-ui.css", "swagger-ui-bundle.js", "swagger-ui-standalone-preset.js", "favicon-32x32.png",
     "favicon-16x16.png"}
)  # fmt: skip
API_CSP = "default-src 'none'; frame-ancestors 'none'"
DOCS_CSP = (
    "default-src 'none'; script-src 'self' {script_hashes}; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; font-src 'self' data:; frame-ancestors 'none'; "
    "base-uri 'none'; form-action 'none'"
)
INLINE_SCRIPT = re.compile(rb"<script>(.*?)</script>", re.DOTALL)
CORS_ALLOW_HEADERS = "Authorization, Content-Type, Idempotency-Key"
CORS_EXPOSE_HEADERS = "Location, Retry-After, Idempotency-Key"
CORS_MAX_AGE = "600"
STATIC_HEADERS = [
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "no-referrer"),
]
DOCS_ENDPOINT = "api-docs.openapi_swagger_ui"


class SecurityHeaders:
    """WSGI middleware that adds the headers to every answer, Flask's and werkzeug's alike, at the
    cost of a list extend (the verify hot path measures every microsecond; Flask hooks touching
    request/response proxies cost ~10x more). With CORS off it also answers preflights itself."""

    def __init__(self, wsgi_app, cors_enabled: bool):
        self.wsgi_app = wsgi_app
        self.cors_enabled = cors_enabled

    def __call__(self, environ, start_response):
        authenticated = "HTTP_AUTHORIZATION" in environ
        if (
            not self.cors_enabled
            and environ.get("REQUEST_METHOD") == "OPTIONS"
            and "HTTP_ACCESS_CONTROL_REQUEST_METHOD" in environ
        ):
            start_response("204 No Content", [*STATIC_HEADERS, ("Content-Security-Policy", API_CSP)])
            return [b""]

        def add_headers(status, headers, exc_info=None):
            if authenticated:
                headers[:] = [h for h in headers if h[0].lower() != "cache-control"]
                headers.append(("Cache-Control", "no-store"))
            if not any(name == "Content-Security-Policy" for name, _ in headers):
                headers.append(("Content-Security-Policy", API_CSP))
            headers.extend(STATIC_HEADERS)
            return start_response(status, headers, exc_info)

        return self.wsgi_app(environ, add_headers)


def _docs_csp(resp: Response) -> str:
    """The docs page's policy, allowing its inline script(s) by SHA-256 (the page is rendered from
    a constant template and config, so the hash is the same on every request)."""
    hashes = [
        "'sha256-" + base64.b64encode(hashlib.sha256(body).digest()).decode() + "'"
        for body in INLINE_SCRIPT.findall(resp.get_data())
    ]
    return DOCS_CSP.format(script_hashes=" ".join(hashes))


def _allowed_origin(origins: tuple[str, ...], origin: str | None) -> str | None:
    if not origin or not origins:
        return None
    if "*" in origins:
        return "*"
    return origin if origin.rstrip("/") in origins else None


def register(app: Flask, cors_origins: tuple[str, ...]) -> None:
    """Install the headers, the CORS policy and the Swagger UI assets (after the Api is made: the
    docs view is wrapped; before the authentication gate: preflights are answered first). The
    app's config names SWAGGER_UI_URL as OPENAPI_SWAGGER_UI_URL (flask-smorest reads it then)."""
    app.config["PUBLIC_ENDPOINTS"] = {*app.config.get("PUBLIC_ENDPOINTS", ()), "swagger_ui_asset"}
    if not (SWAGGER_UI_DIR / "swagger-ui-bundle.js").is_file():
        log.warning(
            "Swagger UI assets missing (run `npm ci`): /docs will not render", extra={"dir": str(SWAGGER_UI_DIR)}
        )
    app.wsgi_app = SecurityHeaders(app.wsgi_app, bool(cors_origins))

    @app.route(SWAGGER_UI_URL + "<name>", endpoint="swagger_ui_asset")
    def _swagger_ui_asset(name: str):
        if name not in SWAGGER_UI_FILES:
            abort(404)
        return send_from_directory(SWAGGER_UI_DIR, name, max_age=86400)

    docs_view = app.view_functions.get(DOCS_ENDPOINT)
    if docs_view is not None:

        @functools.wraps(docs_view)
        def _docs(*args, **kwargs):
            resp = app.make_response(docs_view(*args, **kwargs))
            resp.headers["Content-Security-Policy"] = _docs_csp(resp)
            return resp

        app.view_functions[DOCS_ENDPOINT] = _docs

    if cors_origins:
        _register_cors(app, cors_origins)


def _register_cors(app: Flask, cors_origins: tuple[str, ...]) -> None:
    @app.before_request
    def _preflight():
        if request.method != "OPTIONS" or "Access-Control-Request-Method" not in request.headers:
            return None
        resp = Response(status=204)
        allowed = _allowed_origin(cors_origins, request.headers.get("Origin"))
        if allowed and request.url_rule is not None:
            resp.headers["Access-Control-Allow-Origin"] = allowed
            resp.headers["Access-Control-Allow-Methods"] = ", ".join(sorted(request.url_rule.methods or ()))
            resp.headers["Access-Control-Allow-Headers"] = CORS_ALLOW_HEADERS
            resp.headers["Access-Control-Max-Age"] = CORS_MAX_AGE
        return resp

    @app.after_request
    def _cors(resp: Response) -> Response:
        headers = resp.headers
        if "Origin" not in headers.get("Vary", ""):
            headers.add("Vary", "Origin")
        allowed = _allowed_origin(cors_origins, request.headers.get("Origin"))
        if allowed and "Access-Control-Allow-Origin" not in headers:
            headers["Access-Control-Allow-Origin"] = allowed
            headers["Access-Control-Expose-Headers"] = CORS_EXPOSE_HEADERS
        return resp
