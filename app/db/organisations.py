"""The service's organisations and their API keys: the one writer of `organisations` and `api_keys`,
and the lookups of an organisation by GLN, by id and by chain account.

These are the service's own records (who holds an API key, under which name and roles), not the
chain's registrations: the read side's account -> party rule (GLN as registered on chain, name
from here) is ``app.db.mirror.parties``. The lookups here answer "which of our organisations is
this": by GLN (the CLI, the LVM responder, the demo), by id (names of alert parties, roles) and by
chain account.
"""

from __future__ import annotations

from typing import NamedTuple

from app.db import fetch_all, fetch_one

INSERT_ORGANISATION = "INSERT INTO organisations (name, gln, account, roles) VALUES (%s, %s, %s, %s) RETURNING id"
INSERT_KEY = "INSERT INTO api_keys (organisation_id, prefix, secret_sha256, label) VALUES (%s, %s, %s, %s)"
_ORGANISATION_COLUMNS = "id, name, gln, account, roles, suspended_at"
BY_GLN = f"SELECT {_ORGANISATION_COLUMNS} FROM organisations WHERE gln = %s"
BY_ID = f"SELECT {_ORGANISATION_COLUMNS} FROM organisations WHERE id = %s"
LIST = f"SELECT {_ORGANISATION_COLUMNS} FROM organisations ORDER BY name"
NAMES = "SELECT id, name, gln FROM organisations WHERE id = ANY(%s)"
BY_ACCOUNT = f"SELECT {_ORGANISATION_COLUMNS} FROM organisations WHERE account = %s"
KEY = """
SELECT k.id, k.secret_sha256, k.revoked_at, o.id AS organisation_id, o.name, o.gln, o.account, o.roles,
       o.suspended_at
FROM api_keys k JOIN organisations o ON o.id = k.organisation_id
WHERE k.prefix = %s
"""
# at most one write a minute per key: authentication is on every request
TOUCH_KEY = """
UPDATE api_keys SET last_used_at = now()
WHERE id = %s AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')
"""
REVOKE_KEY = "UPDATE api_keys SET revoked_at = now() WHERE prefix = %s AND revoked_at IS NULL"


class KeyRow(NamedTuple):
    """An API key with its organisation, as authentication needs it."""

    key_id: int
    secret_sha256: bytes
    revoked: bool
    organisation_id: int
    name: str
    gln: str
    account: bytes
    roles: tuple[str, ...]
    suspended: bool


def insert_organisation(conn, name: str, gln: str, account: bytes, roles: list[str]) -> int:
    """Add an organisation; returns its id. A GLN or account already registered raises
    psycopg2.errors.UniqueViolation (naming the constraint)."""
    with conn.cursor() as cur:
        cur.execute(INSERT_ORGANISATION, (name, gln, account, roles))
        return cur.fetchone()[0]


def by_gln(conn, gln: str) -> dict | None:
    """{id, name, gln, account, roles, suspended_at} of the organisation with this GLN-13 (text)."""
    return fetch_one(conn, BY_GLN, (gln,))


def by_id(conn, organisation_id: int) -> dict | None:
    """{id, name, gln, account, roles, suspended_at} of the organisation with this id."""
    return fetch_one(conn, BY_ID, (organisation_id,))


def list_organisations(conn) -> list[dict]:
    """Every organisation, {id, name, gln, account, roles, suspended_at}, by name."""
    return fetch_all(conn, LIST)


def names(conn, ids) -> dict[int, dict]:
    """organisation id -> {id, name, gln} for the ids given (None entries and unknown ids skipped)."""
    wanted = sorted({int(i) for i in ids if i is not None})
    if not wanted:
        return {}
    return {r["id"]: r for r in fetch_all(conn, NAMES, (wanted,))}


def by_account(conn, account: bytes) -> dict | None:
    """{id, name, gln, account, roles, suspended_at} of our organisation with this chain account (20
    bytes), None if it is none of ours. To name an account as the answers do (GLN from the chain,
    name from here, for several at once) use app.db.mirror.parties."""
    return fetch_one(conn, BY_ACCOUNT, (bytes(account),))


def has_role(conn, organisation_id: int, role: str) -> bool:
    """Whether the organisation holds `role` (False for an unknown id)."""
    row = by_id(conn, organisation_id)
    return row is not None and role in row["roles"]


def insert_key(conn, organisation_id: int, prefix: str, secret_sha256: bytes, label: str) -> None:
    with conn.cursor() as cur:
        cur.execute(INSERT_KEY, (organisation_id, prefix, secret_sha256, label))


def key_by_prefix(conn, prefix: str) -> KeyRow | None:
    """The key with this public prefix and its organisation, None if there is none."""
    row = fetch_one(conn, KEY, (prefix,))
    if row is None:
        return None
    return KeyRow(
        key_id=row["id"],
        secret_sha256=bytes(row["secret_sha256"]),
        revoked=row["revoked_at"] is not None,
        organisation_id=row["organisation_id"],
        name=row["name"],
        gln=row["gln"],
        account=bytes(row["account"]),
        roles=tuple(row["roles"]),
        suspended=row["suspended_at"] is not None,
    )


def touch_key(conn, key_id: int) -> None:
    """Record that the key was used (at most once a minute)."""
    with conn.cursor() as cur:
        cur.execute(TOUCH_KEY, (key_id,))


def revoke_key(conn, prefix: str) -> bool:
    """Revoke the key with this prefix; False when there is no such key or it is revoked already."""
    with conn.cursor() as cur:
        cur.execute(REVOKE_KEY, (prefix,))
        return cur.rowcount == 1
