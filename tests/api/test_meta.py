"""Meta-tests that keep the API honest: every route is authenticated or explicitly public,
and every route is in the OpenAPI document."""

import re

from app.api.auth import is_public

# The only routes anyone may call without credentials, on purpose.
EXPECTED_PUBLIC = {
    "/healthz",
    "/readyz",
    "/metrics",
    "/openapi.json",
    "/docs",
    "/docs/<path:filename>",
    "/docs/assets/<name>",  # Swagger UI's files (app/api/security.py)
    "/static/<path:filename>",
    "/v1/products",
    "/v1/products/<gtin>",  # product master data is public (README); a key sent along is still checked
}
# Public routes that still check an API key sent with the request (OpenAPI: security [{}, ApiKey]).
KEY_CHECKED = {"/v1/products", "/v1/products/<gtin>"}


def _openapi_path(rule: str) -> str:
    return re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule)


def test_every_route_is_authenticated_or_explicitly_public(app):
    public = {rule.rule for rule in app.url_map.iter_rules() if is_public(app, rule.endpoint)}
    assert public <= EXPECTED_PUBLIC, f"unexpected public routes: {public - EXPECTED_PUBLIC}"


def test_a_route_not_marked_public_demands_credentials(app):
    from flask import Blueprint

    from app.api.auth import is_public as check

    bp = Blueprint("closed_probe", __name__)
    bp.add_url_rule("/closed-probe", "closed", lambda: "secret")
    app.register_blueprint(bp)
    assert not check(app, "closed_probe.closed")
    resp = app.test_client().get("/closed-probe")
    assert resp.status_code == 401
    assert resp.content_type == "application/problem+json"
    assert resp.get_json()["errors"] == {"headers": {"Authorization": ["required"]}}


def test_every_non_public_operation_declares_the_api_key_in_openapi(client, app):
    spec = client.get("/openapi.json").get_json()
    assert "ApiKey" in spec["components"]["securitySchemes"]
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            if method not in {"get", "post", "put", "patch", "delete"}:
                continue  # path-level keys such as "parameters"
            flask_rule = re.sub(r"\{([^}]+)\}", r"<\1>", path)
            if flask_rule in KEY_CHECKED and method == "get":
                assert operation.get("security") == [{}, {"ApiKey": []}], f"{method.upper()} {path}"
                continue
            if flask_rule in EXPECTED_PUBLIC and flask_rule not in KEY_CHECKED:
                continue
            assert operation.get("security") == [{"ApiKey": []}], f"{method.upper()} {path}"


def test_every_api_route_is_in_the_openapi_spec(client, app):
    spec = client.get("/openapi.json").get_json()
    documented = set(spec["paths"])
    internal = {"/openapi.json", "/docs", "/docs/<path:filename>", "/docs/assets/<name>", "/static/<path:filename>"}
    pages = app.config["SESSION_BLUEPRINTS"]  # people's pages (app/web): HTML, not API operations
    routes = {
        _openapi_path(r.rule)
        for r in app.url_map.iter_rules()
        if r.rule not in internal and r.endpoint.partition(".")[0] not in pages
    }
    assert routes - documented == set()
    assert not any(path.startswith(("/pharmacy", "/login", "/audit")) for path in documented)


def _sample_argument(match: re.Match) -> str:
    """A value of a route's argument its converter accepts."""
    converter = match.group(1) or ""
    if converter.startswith("any("):
        return converter[4:].split(",")[0].strip()
    return {"int": "1", "uuid": "00000000-0000-0000-0000-000000000000"}.get(converter, "x")


def test_every_page_but_sign_in_and_its_assets_demands_a_session(app):
    """The pages' session gate (app/web) is the only way in: no page opens to a stranger, nor to an API key."""
    from app.web.session import OPEN_ENDPOINTS

    client = app.test_client()
    pages = [r for r in app.url_map.iter_rules() if r.endpoint.partition(".")[0] in app.config["SESSION_BLUEPRINTS"]]
    assert {r.endpoint for r in pages} >= OPEN_ENDPOINTS | {"web.pharmacy", "web.audit"}
    for rule in pages:
        if rule.endpoint in OPEN_ENDPOINTS:
            continue
        path = re.sub(r"<(?:([^:>]+):)?[^>]+>", _sample_argument, rule.rule)
        resp = client.get(path, headers={"Authorization": "Bearer pt_abcdefghij_" + "x" * 43})
        if "GET" in rule.methods:
            assert resp.status_code == 303 and resp.headers["Location"] == "/login", rule.rule
        assert client.post(path).status_code in (303, 400, 405), rule.rule  # POST: no CSRF token, no session


def test_openapi_document_describes_the_service(client):
    spec = client.get("/openapi.json").get_json()
    assert spec["info"]["title"] == "pharmatrack"
    assert spec["openapi"].startswith("3.")
    assert spec["paths"]["/readyz"]["get"]["summary"].startswith("Readiness")


def test_swagger_ui_is_served(client):
    resp = client.get("/docs")
    assert resp.status_code == 200
    assert b"swagger-ui" in resp.data
