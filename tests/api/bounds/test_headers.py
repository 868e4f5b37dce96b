"""Security headers on every answer, Swagger UI from this server (no CDN), and the CORS policy."""

from __future__ import annotations

import base64
import hashlib
import re

import pytest

from app import create_app

from .conftest import add_key


@pytest.fixture
def key(database_url):
    return add_key(database_url)


def _check_common(resp):
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert resp.headers["X-Frame-Options"] == "DENY"
    assert resp.headers["Referrer-Policy"] == "no-referrer"
    assert "frame-ancestors 'none'" in resp.headers["Content-Security-Policy"]


def test_every_answer_carries_the_security_headers(client, key):
    auth = {"Authorization": f"Bearer {key}"}
    answers = {
        "public": client.get("/healthz"),
        "authenticated": client.get("/v1/me", headers=auth),
        "401": client.get("/v1/me"),
        "404": client.get("/nowhere", headers=auth),
        "422": client.post("/v1/verify", json={"codes": []}, headers=auth),
        "openapi": client.get("/openapi.json"),
    }
    for name, resp in answers.items():
        _check_common(resp)
        if name != "openapi" and name != "public":
            assert resp.status_code != 500, name
    assert answers["authenticated"].status_code == 200
    assert answers["authenticated"].headers["Cache-Control"] == "no-store"
    assert answers["422"].headers["Cache-Control"] == "no-store"
    assert answers["authenticated"].headers["Content-Security-Policy"] == "default-src 'none'; frame-ancestors 'none'"


def test_docs_render_from_local_assets_under_a_csp_that_allows_them(client):
    page = client.get("/docs")
    assert page.status_code == 200
    html = page.get_data()
    assert b"cdn.jsdelivr" not in html and b"https://" not in html.split(b"<script>")[0]
    csp = page.headers["Content-Security-Policy"]
    _check_common(page)
    for name in re.findall(rb'(?:src|href)="(/docs/assets/[^"]+)"', html):
        asset = client.get(name.decode())
        assert asset.status_code == 200, name
        assert len(asset.get_data()) > 1000
        _check_common(asset)
        asset.close()
    assert len(re.findall(rb'(?:src|href)="/docs/assets/', html)) == 3  # css, preset, bundle
    (inline,) = re.findall(rb"<script>(.*?)</script>", html, re.DOTALL)
    digest = base64.b64encode(hashlib.sha256(inline).digest()).decode()
    assert f"'sha256-{digest}'" in csp  # the page's one inline script runs; no other inline script would
    assert "script-src 'self' 'sha256-" in csp and "'unsafe-inline'" not in csp.split("style-src")[0]
    assert "connect-src 'self'" in csp  # the OpenAPI document and "try it out"
    assert client.get("/docs/assets/package.json").status_code == 404  # only the UI's files are served


def test_cors_is_off_by_default_and_a_preflight_is_not_401(client):
    preflight = client.options(
        "/v1/verify",
        headers={"Origin": "https://pharmacy.example", "Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "authorization, content-type"},
    )  # fmt: skip
    assert preflight.status_code == 204
    assert not [h for h in preflight.headers if h[0].startswith("Access-Control-")]
    resp = client.get("/healthz", headers={"Origin": "https://pharmacy.example"})
    assert "Access-Control-Allow-Origin" not in resp.headers


def test_cors_allows_the_configured_origins_only(settings, key):
    app = create_app(settings.replace(cors_origins=("https://pharmacy.example",)))
    client = app.test_client()
    headers = {"Origin": "https://pharmacy.example", "Access-Control-Request-Method": "POST"}
    preflight = client.options("/v1/verify", headers=headers)
    assert preflight.status_code == 204
    assert preflight.headers["Access-Control-Allow-Origin"] == "https://pharmacy.example"
    assert "POST" in preflight.headers["Access-Control-Allow-Methods"]
    assert "Authorization" in preflight.headers["Access-Control-Allow-Headers"]
    assert "Origin" in preflight.headers["Vary"]
    assert "Access-Control-Allow-Credentials" not in preflight.headers
    other = client.options("/v1/verify", headers={**headers, "Origin": "https://evil.example"})
    assert other.status_code == 204 and "Access-Control-Allow-Origin" not in other.headers
    real = client.get("/v1/me", headers={"Origin": "https://pharmacy.example", "Authorization": f"Bearer {key}"})
    assert real.status_code == 200
    assert real.headers["Access-Control-Allow-Origin"] == "https://pharmacy.example"
    assert "Retry-After" in real.headers["Access-Control-Expose-Headers"]
    refused = client.get("/v1/me", headers={"Origin": "https://evil.example"})
    assert refused.status_code == 401 and "Access-Control-Allow-Origin" not in refused.headers
    app.extensions["pharmatrack"].db.close()


def test_cors_origins_setting_is_checked():
    from app.config import Settings
    from app.errors import ConfigError

    assert Settings.from_env({"CORS_ORIGINS": "https://a.example, http://b.example:8080/"}).cors_origins == (
        "https://a.example",
        "http://b.example:8080",
    )
    with pytest.raises(ConfigError, match="CORS_ORIGINS"):
        Settings.from_env({"CORS_ORIGINS": "a.example"})
