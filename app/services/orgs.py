"""Organisations and their API keys: the rules (no Flask here); their SQL is app/db/organisations.py.

Keys look like ``pt_<prefix>_<secret>``: the 10-character prefix is public (it names the key in
listings and logs), the secret is 43 url-safe characters from `secrets`. Only SHA-256 of the
whole key is stored; a key is shown once, when created.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

import psycopg2

from app.db import organisations as organisations_db
from app.errors import PharmatrackError

ROLES = ("manufacturer", "distributor", "dispenser", "regulator")
KEY_RE = re.compile(r"^pt_([a-z0-9]{10})_([A-Za-z0-9_-]{43})$")
_PREFIX_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"


class OrgError(PharmatrackError):
    def __init__(self, field: str, problem: str):
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


@dataclass(frozen=True)
class Principal:
    """Who is calling: the organisation behind a valid API key."""

    organisation_id: int
    name: str
    gln: str
    account: str
    roles: tuple[str, ...]
    key_prefix: str

    def has_role(self, *roles: str) -> bool:
        return any(r in self.roles for r in roles)


def _gln(gln: str) -> str:
    from app.gs1 import GS1Error, parse_gln

    try:
        return parse_gln(gln)
    except GS1Error as exc:
        raise OrgError("gln", exc.message) from None


def _account(account: str) -> bytes:
    if not re.fullmatch(r"0x[0-9a-fA-F]{40}", account or ""):
        raise OrgError("account", "must be a 0x-prefixed 20-byte hex address")
    return bytes.fromhex(account[2:])


def add_organisation(conn, name: str, gln: str, account: str, roles: list[str]) -> int:
    name = (name or "").strip()
    if not 1 <= len(name) <= 200:
        raise OrgError("name", "must be 1 to 200 characters")
    unknown = sorted(set(roles) - set(ROLES))
    if not roles or unknown:
        raise OrgError(
            "roles", f"must be one or more of {', '.join(ROLES)}" + (f"; unknown: {unknown}" if unknown else "")
        )
    try:
        return organisations_db.insert_organisation(conn, name, _gln(gln), _account(account), sorted(set(roles)))
    except psycopg2.errors.UniqueViolation as exc:
        field = "gln" if "gln" in str(exc) else "account"
        raise OrgError(field, "is already registered to another organisation") from None


def organisation_by_gln(conn, gln: str) -> dict | None:
    """{id, name, gln, account, roles, suspended_at}; OrgError for a malformed GLN."""
    return organisations_db.by_gln(conn, _gln(gln))


def list_organisations(conn) -> list[dict]:
    return organisations_db.list_organisations(conn)


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


def create_key(conn, gln: str, label: str) -> str:
    """Create an API key for the organisation; returns the key (the only time it is visible)."""
    org = organisation_by_gln(conn, gln)
    if org is None:
        raise OrgError("gln", "no organisation has this GLN; add it first")
    label = (label or "").strip()
    if not 1 <= len(label) <= 200:
        raise OrgError("label", "must be 1 to 200 characters")
    prefix = "".join(secrets.choice(_PREFIX_ALPHABET) for _ in range(10))
    key = f"pt_{prefix}_{secrets.token_urlsafe(32)}"
    organisations_db.insert_key(conn, org["id"], prefix, _digest(key), label)
    return key


def revoke_key(conn, prefix: str) -> bool:
    return organisations_db.revoke_key(conn, prefix)


def authenticate(conn, key: str) -> Principal | None:
    """The principal behind a key, or None when the key is malformed, unknown, revoked or its
    organisation suspended. Comparison is constant-time."""
    match = KEY_RE.fullmatch(key or "")
    if match is None:
        return None
    row = organisations_db.key_by_prefix(conn, match.group(1))
    if row is None or not hmac.compare_digest(row.secret_sha256, _digest(key)):
        return None
    if row.revoked or row.suspended:
        return None
    organisations_db.touch_key(conn, row.key_id)
    return Principal(
        organisation_id=row.organisation_id,
        name=row.name,
        gln=row.gln,
        account="0x" + row.account.hex(),
        roles=row.roles,
        key_prefix=match.group(1),
    )
