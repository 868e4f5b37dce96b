"""Organisation API keys: created by the CLI, stored only hashed, required on every
non-public route, refused when malformed, unknown, revoked or the organisation is suspended."""

import hashlib
import time

import psycopg2
import pytest
from flask import Blueprint

from app.api.auth import requires_roles
from app.services import orgs
from tests.test_cli import run_cli

ACCOUNT = "0x" + "ab" * 20


def _sql(url, query, params=()):
    conn = psycopg2.connect(url)
    with conn, conn.cursor() as cur:
        cur.execute(query, params)
        rows = cur.fetchall() if cur.description else []
    conn.close()
    return rows


@pytest.fixture
def api_key(database_url):
    added = run_cli(
        "org", "add", "--name", "Riverside Pharmacy", "--gln", "9506000000039", "--account", ACCOUNT,
        "--role", "dispenser", env={"DATABASE_URL": database_url},
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    created = run_cli(
        "key", "create", "--gln", "9506000000039", "--label", "till 1", env={"DATABASE_URL": database_url}
    )
    assert created.returncode == 0, created.stderr
    assert "cannot be shown again" in created.stderr
    return created.stdout.strip()


def test_key_is_shown_once_and_stored_only_as_a_hash(api_key, database_url):
    assert orgs.KEY_RE.fullmatch(api_key)
    (prefix, digest, label), *_ = _sql(database_url, "SELECT prefix, secret_sha256, label FROM api_keys")
    assert api_key.startswith(f"pt_{prefix}_")
    assert bytes(digest) == hashlib.sha256(api_key.encode()).digest()
    dump = str(_sql(database_url, "SELECT * FROM api_keys")) + str(_sql(database_url, "SELECT * FROM organisations"))
    assert api_key.split("_")[-1] not in dump
    assert label == "till 1"


def test_me_answers_with_the_organisation_behind_the_key(client, api_key):
    resp = client.get("/v1/me", headers={"Authorization": f"Bearer {api_key}"})
    assert resp.status_code == 200
    assert resp.get_json() == {
        "organisation": "Riverside Pharmacy",
        "gln": "9506000000039",
        "account": ACCOUNT,
        "roles": ["dispenser"],
        "key_prefix": api_key.split("_")[1],
    }


@pytest.mark.parametrize(
    ("header", "rule"),
    [
        (None, "required"),
        ("Basic dXNlcjpwYXNz", "must be 'Bearer <API key>'"),
        ("Bearer ", "must be 'Bearer <API key>'"),
        ("Bearer not-a-key", "unknown, revoked or suspended API key"),
        ("Bearer pt_aaaaaaaaaa_" + "A" * 43, "unknown, revoked or suspended API key"),
    ],
)
def test_missing_or_bad_credentials_are_401_naming_the_header(client, api_key, header, rule):
    resp = client.get("/v1/me", headers={"Authorization": header} if header else {})
    assert resp.status_code == 401
    assert resp.content_type == "application/problem+json"
    assert resp.headers["WWW-Authenticate"].startswith("Bearer")
    assert resp.get_json()["errors"] == {"headers": {"Authorization": [rule]}}


def test_a_tampered_secret_with_a_real_prefix_is_refused(client, api_key):
    tampered = api_key[:-1] + ("A" if api_key[-1] != "A" else "B")
    assert client.get("/v1/me", headers={"Authorization": f"Bearer {tampered}"}).status_code == 401


def test_revoked_keys_and_suspended_organisations_are_refused(client, api_key, database_url):
    auth = {"Authorization": f"Bearer {api_key}"}
    assert client.get("/v1/me", headers=auth).status_code == 200
    _sql(database_url, "UPDATE organisations SET suspended_at = now()")
    assert client.get("/v1/me", headers=auth).status_code == 401
    _sql(database_url, "UPDATE organisations SET suspended_at = NULL")
    revoked = run_cli("key", "revoke", api_key.split("_")[1], env={"DATABASE_URL": database_url})
    assert revoked.returncode == 0, revoked.stderr
    assert client.get("/v1/me", headers=auth).status_code == 401
    again = run_cli("key", "revoke", api_key.split("_")[1], env={"DATABASE_URL": database_url})
    assert again.returncode == 2 and "no active key" in again.stderr


def test_roles_are_enforced_with_a_403_naming_the_role(app, api_key):
    bp = Blueprint("role_probe", __name__)
    bp.add_url_rule("/role-probe/dispense", "dispense", requires_roles("dispenser")(lambda: "ok"))
    bp.add_url_rule("/role-probe/recall", "recall", requires_roles("manufacturer", "regulator")(lambda: "ok"))
    app.register_blueprint(bp)
    client = app.test_client()
    auth = {"Authorization": f"Bearer {api_key}"}
    assert client.get("/role-probe/dispense", headers=auth).status_code == 200
    resp = client.get("/role-probe/recall", headers=auth)
    assert resp.status_code == 403
    assert "manufacturer or regulator" in resp.get_json()["detail"]


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--gln", "9506000000038"], "--gln: "),
        (["--gln", "9506000000039", "--account", "0x1234"], "--account: must be a 0x-prefixed 20-byte hex address"),
        (["--gln", "9506000000039", "--role", "wholesaler"], "--roles: must be one or more of"),
    ],
)
def test_org_add_rejects_bad_input_naming_the_option(database_url, args, fragment):
    base = {"--name": "X", "--gln": "9506000000039", "--account": ACCOUNT, "--role": "dispenser"}
    for flag, value in zip(args[::2], args[1::2], strict=True):
        base[flag] = value
    argv = [part for flag, value in base.items() for part in (flag, value)]
    proc = run_cli("org", "add", *argv, env={"DATABASE_URL": database_url})
    assert proc.returncode == 2
    assert fragment in proc.stderr


def test_the_same_gln_cannot_be_added_twice(api_key, database_url):
    proc = run_cli(
        "org", "add", "--name", "Impostor", "--gln", "9506000000039", "--account", "0x" + "cd" * 20,
        "--role", "manufacturer", env={"DATABASE_URL": database_url},
    )  # fmt: skip
    assert proc.returncode == 2
    assert "--gln: is already registered" in proc.stderr


def test_a_revoked_key_is_refused_once_the_key_cache_expires(settings, api_key, database_url):
    """API servers remember valid keys for API_KEY_CACHE_SECONDS; revocation takes effect within it."""
    from app import create_app

    app = create_app(settings.replace(api_key_cache_seconds=1.0))
    client = app.test_client()
    auth = {"Authorization": f"Bearer {api_key}"}
    assert client.get("/v1/me", headers=auth).status_code == 200
    _sql(database_url, "UPDATE api_keys SET revoked_at = now()")
    assert client.get("/v1/me", headers=auth).status_code == 200  # remembered
    time.sleep(1.1)
    assert client.get("/v1/me", headers=auth).status_code == 401
    app.extensions["pharmatrack"].db.close()
