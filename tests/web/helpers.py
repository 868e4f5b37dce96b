"""Helpers of the pages' tests: organisations and people in a test database, signing in with a test client."""

from __future__ import annotations

import re
import uuid

from eth_account import Account

from app.db import connect
from app.services import orgs, people
from tests.world import check_digit

PASSWORD = "correct horse battery"
TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def add_org(database_url: str, name: str, roles: list[str]) -> str:
    """A new organisation; returns its GLN."""
    gln = check_digit(f"97{uuid.uuid4().int % 10**10:010d}")
    conn = connect(database_url)
    with conn:
        orgs.add_organisation(conn, name, gln, Account.create().address, roles)
    conn.close()
    return gln


def add_person(database_url: str, gln: str, role: str, email: str | None = None) -> str:
    email = email or f"{role}-{uuid.uuid4().hex[:8]}@example.org"
    conn = connect(database_url)
    with conn:
        people.add_person(conn, gln, email, f"Test {role.title()}", role, PASSWORD)
    conn.close()
    return email


def token(client, path: str = "/login", **kwargs) -> str:
    resp = client.get(path, **kwargs)
    match = TOKEN.search(resp.get_data(as_text=True))
    assert match, (resp.status_code, resp.get_data(as_text=True)[:300])
    return match.group(1)


def sign_in(client, email: str, password: str = PASSWORD, **kwargs):
    base = {"base_url": kwargs["base_url"]} if "base_url" in kwargs else {}
    return client.post(
        "/login", data={"email": email, "password": password, "csrf_token": token(client, **base)}, **kwargs
    )
