"""Personal accounts and sessions of the pages, against a real Postgres: sign-in, cookies, CSRF, the login
throttle, disabling and signing out everywhere, sessions vs API keys, the CLI, and the audit trail."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import psycopg2
import pytest

from app.db import connect, fetch_all
from app.services import orgs, people
from tests.web.helpers import PASSWORD, add_org, add_person, sign_in, token


def run_cli(*args, env: dict, input: str = ""):
    """The CLI in a subprocess, its standard input not a terminal (the password is read from it)."""
    full = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "RPC_URL", "DEPLOYMENT_FILE"}}
    return subprocess.run([sys.executable, "-m", "app.cli", *args], check=False, env={**full, **env}, input=input,
                          capture_output=True, text=True, timeout=60)  # fmt: skip


@pytest.fixture
def pharmacy(database_url):
    gln = add_org(database_url, "Riverside Pharmacy", ["dispenser"])
    return gln, add_person(database_url, gln, "pharmacist")


def _audit(database_url) -> list[dict]:
    conn = connect(database_url)
    try:
        return fetch_all(conn, "SELECT email, action, outcome, address FROM audit_trail ORDER BY id")
    finally:
        conn.close()


def test_sign_in_gives_a_locked_down_cookie_and_opens_the_pages(web_app, database_url, pharmacy):
    client = web_app.test_client()
    assert client.get("/pharmacy").headers["Location"] == "/login"  # no session: to the sign-in page
    resp = sign_in(client, pharmacy[1].upper())  # emails are matched without case
    assert resp.status_code == 303 and resp.headers["Location"] == "/"
    cookie = resp.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "pharmatrack_session=" in cookie
    assert "Secure" not in cookie  # SESSION_COOKIE_SECURE=0 in this test
    page = client.get("/pharmacy")
    assert page.status_code == 200 and 'label for="code"' in page.get_data(as_text=True)
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    assert page.headers["Cache-Control"] == "no-store"
    assert client.get("/").headers["Location"] == "/pharmacy"
    assert _audit(database_url)[-1] == {"email": pharmacy[1], "action": "sign_in", "outcome": "ok",
                                        "address": "127.0.0.1"}  # fmt: skip


def test_the_cookie_is_secure_by_default(settings, database_url, pharmacy):
    from app import create_app

    app = create_app(settings)  # SESSION_COOKIE_SECURE's default: 1
    try:
        resp = sign_in(app.test_client(), pharmacy[1], base_url="https://localhost")
        assert resp.status_code == 303 and "Secure" in resp.headers["Set-Cookie"]
    finally:
        app.extensions["pharmatrack"].db.close()
        app.extensions["pharmatrack"].verifications.close()


def test_wrong_password_and_unknown_email_are_refused_alike(web_app, pharmacy):
    client = web_app.test_client()
    wrong = sign_in(client, pharmacy[1], "not the password!")
    unknown = sign_in(client, "nobody@example.org")
    for resp in (wrong, unknown):
        assert resp.status_code == 401 and "Email or password is wrong." in resp.get_data(as_text=True)
    assert client.get("/pharmacy").status_code == 303


def test_a_form_without_its_csrf_token_is_refused(web_app, pharmacy, database_url):
    client = web_app.test_client()
    refused = client.post("/login", data={"email": pharmacy[1], "password": PASSWORD})
    assert refused.status_code == 400 and "Form refused" in refused.get_data(as_text=True)
    assert client.get("/pharmacy").status_code == 303  # not signed in
    assert sign_in(client, pharmacy[1]).status_code == 303
    code = "(01)09506000134352(21)X1"
    assert client.post("/pharmacy/check", data={"code": code}).status_code == 400
    assert client.post("/pharmacy/check", data={"code": code, "csrf_token": "forged"}).status_code == 400
    assert client.post("/logout").status_code == 400  # sign-out too: no one signs you out from another site
    assert client.get("/pharmacy").status_code == 200
    # with the page's token it goes through (and the pack is unknown here)
    ok = client.post("/pharmacy/check", data={"code": code, "csrf_token": token(client, "/pharmacy")})
    assert ok.status_code == 200 and "Do not dispense" in ok.get_data(as_text=True)
    # another session's token is not this session's
    other = web_app.test_client()
    assert sign_in(other, pharmacy[1]).status_code == 303
    assert (
        client.post("/pharmacy/check", data={"code": code, "csrf_token": token(other, "/pharmacy")}).status_code == 400
    )


def test_sign_in_is_throttled_per_account_and_per_address(web_app, database_url, pharmacy):
    gln, email = pharmacy
    client = web_app.test_client()
    for _ in range(3):  # LOGIN_THROTTLE_ACCOUNT=3 in this test
        assert sign_in(client, email, "wrong password!").status_code == 401
    throttled = sign_in(client, email)  # the right password, too late
    assert throttled.status_code == 429 and 0 < int(throttled.headers["Retry-After"]) <= 900
    assert "Too many failed sign-ins" in throttled.get_data(as_text=True)
    # from another address the account is still locked (the account's own count)
    assert sign_in(client, email, environ_base={"REMOTE_ADDR": "10.0.0.9"}).status_code == 429
    # the address: 6 failures over any accounts; then a good sign-in of another person is refused from it
    other = add_person(database_url, gln, "pharmacist")
    for n in range(3):
        assert sign_in(client, f"guess{n}@example.org", "wrong password!").status_code == 401
    assert sign_in(client, other).status_code == 429
    assert sign_in(client, other, environ_base={"REMOTE_ADDR": "10.0.0.9"}).status_code == 303
    outcomes = [row["outcome"] for row in _audit(database_url) if row["email"] == email]
    assert outcomes[:3] == ["refused: wrong email or password"] * 3 and outcomes[3].startswith("throttled")


def test_a_disabled_person_is_signed_out_on_the_next_request(web_app, database_url, pharmacy):
    client = web_app.test_client()
    assert sign_in(client, pharmacy[1]).status_code == 303
    assert client.get("/pharmacy").status_code == 200
    conn = connect(database_url)
    with conn:
        assert people.disable(conn, pharmacy[1])
    conn.close()
    resp = client.get("/pharmacy")
    assert resp.status_code == 303 and resp.headers["Location"] == "/login"
    htmx = client.post("/pharmacy/check", data={"code": "x"}, headers={"HX-Request": "true"})
    assert htmx.status_code in (400, 401)  # the session is gone: its CSRF token with it
    assert sign_in(client, pharmacy[1]).status_code == 401


def test_sign_out_everywhere_ends_every_session(web_app, pharmacy):
    laptop, phone = web_app.test_client(), web_app.test_client()
    for c in (laptop, phone):
        assert sign_in(c, pharmacy[1]).status_code == 303
    stale_cookie = phone.get_cookie("pharmatrack_session").value
    resp = laptop.post("/logout-everywhere", data={"csrf_token": token(laptop, "/pharmacy")})
    assert resp.status_code == 303
    assert phone.get("/pharmacy").status_code == 303 and laptop.get("/pharmacy").status_code == 303
    replay = web_app.test_client()
    replay.set_cookie("pharmatrack_session", stale_cookie)
    assert replay.get("/pharmacy").status_code == 303  # the old cookie is worth nothing now
    assert sign_in(phone, pharmacy[1]).status_code == 303 and phone.get("/pharmacy").status_code == 200


def test_sign_out_ends_this_session(web_app, pharmacy, database_url):
    client = web_app.test_client()
    assert sign_in(client, pharmacy[1]).status_code == 303
    assert client.post("/logout", data={"csrf_token": token(client, "/pharmacy")}).status_code == 303
    assert client.get("/pharmacy").status_code == 303
    assert [r["action"] for r in _audit(database_url)][-2:] == ["sign_in", "sign_out"]


def test_pages_take_sessions_and_the_api_takes_keys(web_app, database_url, pharmacy):
    gln, email = pharmacy
    conn = connect(database_url)
    with conn:
        key = orgs.create_key(conn, gln, "till 1")
    conn.close()
    client = web_app.test_client()
    # an API key opens no page
    resp = client.get("/pharmacy", headers={"Authorization": f"Bearer {key}"})
    assert resp.status_code == 303 and resp.headers["Location"] == "/login"
    assert client.get("/v1/me", headers={"Authorization": f"Bearer {key}"}).status_code == 200
    # a session opens no API route
    assert sign_in(client, email).status_code == 303
    api = client.get("/v1/me")
    assert api.status_code == 401 and api.get_json()["errors"] == {"headers": {"Authorization": ["required"]}}
    assert client.get("/v1/verify", query_string={"code": "(01)09506000134352(21)X1"}).status_code == 401


def test_roles_must_fit_the_organisation_and_passwords_the_rules(database_url):
    gln = add_org(database_url, "Northwind Distribution", ["distributor"])
    conn = connect(database_url)
    try:
        with pytest.raises(people.PersonError) as bad_role:
            people.add_person(conn, gln, "a@example.org", "A", "pharmacist", PASSWORD)
        assert bad_role.value.field == "role" and "dispenser" in bad_role.value.problem
        with pytest.raises(people.PersonError) as short:
            people.add_person(conn, gln, "a@example.org", "A", "warehouse", "short")
        assert short.value.field == "password"
        with pytest.raises(people.PersonError) as email:
            people.add_person(conn, gln, "not an email", "A", "warehouse", PASSWORD)
        assert email.value.field == "email"
        people.add_person(conn, gln, "a@example.org", "A", "warehouse", PASSWORD)
        stored = fetch_all(conn, "SELECT password_hash FROM people")[0]["password_hash"]
        assert stored.startswith("$argon2id$") and PASSWORD not in stored
        with pytest.raises(people.PersonError) as twice:
            people.add_person(conn, gln, "A@example.org", "A", "warehouse", PASSWORD)
        assert twice.value.field == "email"
    finally:
        conn.rollback()
        conn.close()


def test_user_cli_adds_lists_and_disables_people(database_url):
    gln = add_org(database_url, "Hilltop Pharmacy", ["dispenser"])
    env = {"DATABASE_URL": database_url}
    secret = "a long enough password"
    added = run_cli("user", "add", "--gln", gln, "--email", "Ana@Example.org", "--name", "Ana Lopez",
                    "--role", "pharmacist", env=env, input=secret + "\n")  # fmt: skip
    assert added.returncode == 0, added.stderr
    assert "ana@example.org" in added.stdout and secret not in added.stdout + added.stderr
    listed = run_cli("user", "list", "--gln", gln, env=env)
    assert listed.returncode == 0 and "ana@example.org" in listed.stdout and "pharmacist" in listed.stdout
    short = run_cli("user", "add", "--gln", gln, "--email", "b@example.org", "--name", "B", "--role", "pharmacist",
                    env=env, input="short\n")  # fmt: skip
    assert short.returncode != 0 and "--password" in short.stderr and "short" not in short.stdout
    disabled = run_cli("user", "disable", "ana@example.org", env=env)
    assert disabled.returncode == 0 and "disabled" in disabled.stdout
    assert "(disabled)" in run_cli("user", "list", env=env).stdout
    again = run_cli("user", "disable", "ana@example.org", env=env)
    assert again.returncode != 0 and "no enabled person" in again.stderr


def test_the_audit_trail_is_append_only(database_url, pharmacy):
    conn = connect(database_url)
    with conn:
        people.record(conn, None, "sign_in", "", "10.1.2.3", "refused", email="x@example.org")
    for statement in ("UPDATE audit_trail SET outcome = 'ok'", "DELETE FROM audit_trail", "TRUNCATE audit_trail"):
        with pytest.raises(psycopg2.errors.InsufficientPrivilege, match="append-only"), conn:
            conn.cursor().execute(statement)
    assert [r["outcome"] for r in fetch_all(conn, "SELECT outcome FROM audit_trail")] == ["refused"]
    conn.close()


def test_who_reads_the_audit_trail(web_app, database_url, pharmacy):
    gln, pharmacist = pharmacy
    other_gln = add_org(database_url, "Hilltop Pharmacy", ["dispenser"])
    regulator = add_org(database_url, "Medicines Agency", ["regulator"])
    quality = add_person(database_url, gln, "quality")
    inspector = add_person(database_url, regulator, "inspector")
    stranger = add_person(database_url, other_gln, "pharmacist")
    for email in (pharmacist, stranger):
        assert sign_in(web_app.test_client(), email).status_code == 303

    def read(email: str, path: str = "/audit"):
        client = web_app.test_client()
        assert sign_in(client, email).status_code == 303
        return client.get(path)

    assert read(pharmacist).status_code == 403
    own = read(quality).get_data(as_text=True)
    assert pharmacist in own and stranger not in own  # the organisation's entries only
    everyone = read(inspector).get_data(as_text=True)
    assert pharmacist in everyone and stranger in everyone and "Hilltop Pharmacy" in everyone
    export = read(inspector, "/audit.csv")
    assert export.status_code == 200 and export.mimetype == "text/csv"
    lines = export.get_data(as_text=True).splitlines()
    assert lines[0] == "id,at,email,organisation,action,subject,address,outcome"
    assert any(stranger in line and ",sign_in," in line for line in lines[1:])
    assert read(pharmacist, "/audit.csv").status_code == 403
    assert _audit(database_url)[-1]["action"] == "refused"  # the refusal is on the record too


def test_an_admin_invites_and_disables_people(web_app, database_url, pharmacy):
    gln, pharmacist = pharmacy
    admin = add_person(database_url, gln, "admin")
    other_admin = add_person(database_url, add_org(database_url, "Hilltop Pharmacy", ["dispenser"]), "admin")
    client = web_app.test_client()
    assert sign_in(client, admin).status_code == 303
    page = client.get("/admin/people")
    assert page.status_code == 200 and pharmacist in page.get_data(as_text=True)
    assert 'value="inspector"' not in page.get_data(as_text=True)  # only roles that fit a dispenser are offered
    form = {
        "email": "New@Example.org",
        "name": "Nia New",
        "role": "pharmacist",
        "csrf_token": token(client, "/admin/people"),
    }
    unfit = client.post("/admin/people", data={**form, "role": "inspector"})
    assert (
        unfit.status_code == 422
        and "role: inspector is a role in an organisation with the role regulator" in unfit.get_data(as_text=True)
    )
    made = client.post("/admin/people", data=form)
    assert made.status_code == 200
    link = re.search(r'<code id="invite-link">http://localhost/(invite/[^<]+)</code>', made.get_data(as_text=True))
    assert link, made.get_data(as_text=True)[:2000]
    path = "/" + link.group(1)
    assert client.post("/admin/people", data=form).status_code == 422  # the email is taken now

    newcomer = web_app.test_client()
    assert sign_in(newcomer, "new@example.org").status_code == 401  # no password of its own yet
    opened = newcomer.get(path)
    assert opened.status_code == 200 and "Nia New" in opened.get_data(as_text=True)
    csrf = token(newcomer, path)
    differ = newcomer.post(path, data={"password": PASSWORD, "confirm": PASSWORD + "!", "csrf_token": csrf})
    assert differ.status_code == 422
    short = newcomer.post(path, data={"password": "short", "confirm": "short", "csrf_token": csrf})
    assert short.status_code == 422
    assert newcomer.post(path, data={"password": PASSWORD, "confirm": PASSWORD, "csrf_token": csrf}).status_code == 303
    assert newcomer.get("/pharmacy").status_code == 200  # signed in as the new pharmacist
    assert web_app.test_client().get(path).status_code == 404  # the link is spent
    assert sign_in(web_app.test_client(), "new@example.org").status_code == 303

    conn = connect(database_url)
    new_id = fetch_all(conn, "SELECT id FROM people WHERE email = 'new@example.org'")[0]["id"]
    conn.close()
    stranger = web_app.test_client()  # another organisation's admin cannot touch this one's people
    assert sign_in(stranger, other_admin).status_code == 303
    stranger.post(f"/admin/people/{new_id}/disable", data={"csrf_token": token(stranger, "/admin/people")})
    assert newcomer.get("/pharmacy").status_code == 200
    disabled = client.post(f"/admin/people/{new_id}/disable", data={"csrf_token": token(client, "/admin/people")})
    assert disabled.status_code == 303
    assert newcomer.get("/pharmacy").status_code == 303  # signed out on its next request
    assert "disabled" in client.get("/admin/people").get_data(as_text=True)
    # a pharmacist manages no one
    mere = web_app.test_client()
    assert sign_in(mere, pharmacist).status_code == 303 and mere.get("/admin/people").status_code == 403
    actions = [(r["email"], r["action"], r["outcome"]) for r in _audit(database_url)]
    assert (admin, "invite", "ok: pharmacist") in actions and ("new@example.org", "accept_invite", "ok") in actions
    assert (other_admin, "disable_person", "refused: not an enabled colleague") in actions
    assert (admin, "disable_person", "ok") in actions


def test_the_alert_rules_decide_who_closes(web_app, database_url, pharmacy):
    from app.services import alerts

    gln, pharmacist = pharmacy
    quality = add_person(database_url, gln, "quality")
    conn = connect(database_url)
    with conn:
        org_id = fetch_all(conn, "SELECT id FROM organisations WHERE gln = %s", (gln,))[0]["id"]
        alert = alerts.raise_alert(conn, alerts.RULES[0], "x", "about the pharmacy", {}, [org_id])["id"]
    conn.close()
    client = web_app.test_client()
    assert sign_in(client, quality).status_code == 303
    csrf = token(client, "/alerts")
    refused = client.post(f"/alerts/{alert}/close", data={"text": "fine", "csrf_token": csrf})
    assert refused.status_code == 403 and "acknowledge it" in refused.get_data(as_text=True)  # a dispenser
    assert client.post(f"/alerts/{alert}/acknowledge", data={"csrf_token": csrf}).status_code == 303
    again = client.post(f"/alerts/{alert}/acknowledge", data={"csrf_token": csrf})
    assert again.status_code == 409 and "is acknowledged and cannot become acknowledged" in again.get_data(as_text=True)
    assert client.post("/alerts/999999/acknowledge", data={"csrf_token": csrf}).status_code == 404
    assert client.get("/alerts?status=bogus").status_code == 400
    assert 'data-status="acknowledged"' in client.get("/alerts?status=acknowledged").get_data(as_text=True)
    mere = web_app.test_client()
    assert sign_in(mere, pharmacist).status_code == 303 and mere.get("/alerts").status_code == 403
    outcomes = [(r["action"], r["outcome"]) for r in _audit(database_url) if r["email"] == quality]
    assert ("alert_close", "refused: ClosureRefused") in outcomes and ("alert_acknowledge", "ok") in outcomes


def test_only_a_manufacturer_or_a_regulator_recalls_from_the_page(web_app, database_url, pharmacy):
    gln, pharmacist = pharmacy
    quality = add_person(database_url, gln, "quality")
    client = web_app.test_client()
    assert sign_in(client, quality).status_code == 303
    page = client.get("/recalls")
    assert page.status_code == 200 and "recall-code" not in page.get_data(as_text=True)  # a dispenser's quality lead
    code = {"code": "(01)09506000134352(10)L1", "csrf_token": token(client, "/recalls")}
    assert client.post("/recalls", data=code).status_code == 403
    maker = add_person(database_url, add_org(database_url, "Acme Pharma", ["manufacturer"]), "quality")
    client = web_app.test_client()
    assert sign_in(client, maker).status_code == 303
    csrf = token(client, "/recalls")
    assert client.post("/recalls", data={"code": "(01)09506000134352(21)S1", "csrf_token": csrf}).status_code == 422
    review = client.post("/recalls", data={"code": "(01)09506000134352(10)L1", "csrf_token": csrf})
    assert review.status_code == 200 and "Recall this lot?" in review.get_data(as_text=True)
    unknown = client.post("/recalls", data={"code": "(01)09506000134352(10)L1", "confirmed": "yes", "csrf_token": csrf})
    assert unknown.status_code in (409, 422) and "Not recalled" in unknown.get_data(as_text=True)  # no such lot
    mere = web_app.test_client()
    assert sign_in(mere, pharmacist).status_code == 303 and mere.get("/recalls").status_code == 403


def test_a_nul_in_any_field_of_a_page_is_refused_naming_the_field(web_app, pharmacy):
    """Postgres text cannot hold NUL and no scanner sends one: a 400 naming the field, never a 500 (found by probing
    the pages with the API's bad-input cases)."""
    client = web_app.test_client()
    resp = client.post("/login", data={"email": "a\x00b@example.org", "password": "x", "csrf_token": token(client)})
    assert resp.status_code == 400 and "email: no_nul" in resp.get_data(as_text=True)
    sign_in(client, pharmacy[1])
    csrf = token(client, "/pharmacy")
    for code in ("\x00\x00", "(01)09506000134352(21)ABC\x00(10)L"):
        resp = client.post("/pharmacy/check", data={"code": code, "csrf_token": csrf})
        assert resp.status_code == 400 and "code: no_nul" in resp.get_data(as_text=True)
    resp = client.get("/investigate?code=%00")
    assert resp.status_code == 400 and "code: no_nul" in resp.get_data(as_text=True)
    resp = client.post("/pharmacy/check", data={"code": "0" * 100_000, "csrf_token": csrf})
    assert resp.status_code == 422  # far too long: refused by the code's own rules
