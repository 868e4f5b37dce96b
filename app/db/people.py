"""People who sign in to the pages, and the login throttle's record: the one writer of `people` and
`login_failures`.

A person belongs to one organisation (app/db/organisations.py) and has one role; only the argon2id hash of
the password is stored. `session_generation` is checked on every page request (app/web/session.py)."""

from __future__ import annotations

from app.db import fetch_all, fetch_one

_COLUMNS = """
p.id, p.organisation_id, p.email, p.name, p.role, p.password_hash, p.session_generation, p.created_at,
p.disabled_at, p.invite_expires_at, o.name AS organisation, o.gln, o.account, o.roles AS organisation_roles,
o.suspended_at AS organisation_suspended_at
"""
_FROM = "FROM people p JOIN organisations o ON o.id = p.organisation_id"
INSERT_PERSON = """
INSERT INTO people (organisation_id, email, name, role, password_hash) VALUES (%s, %s, %s, %s, %s) RETURNING id
"""
BY_EMAIL = f"SELECT {_COLUMNS} {_FROM} WHERE p.email = %s"
BY_ID = f"SELECT {_COLUMNS} {_FROM} WHERE p.id = %s"
LIST = (
    f"SELECT {_COLUMNS} {_FROM} WHERE (%s::bigint IS NULL OR p.organisation_id = %s::bigint) ORDER BY o.name, p.email"
)
DISABLE = """
UPDATE people SET disabled_at = now(), session_generation = session_generation + 1
WHERE email = %s AND disabled_at IS NULL RETURNING id
"""
INSERT_INVITED = """
INSERT INTO people (organisation_id, email, name, role, password_hash, invite_sha256, invite_expires_at)
VALUES (%s, %s, %s, %s, %s, %s, now() + make_interval(secs => %s)) RETURNING id
"""
BY_INVITE = f"SELECT {_COLUMNS} {_FROM} WHERE p.invite_sha256 = %s AND p.invite_expires_at > now()"
ACCEPT_INVITE = """
UPDATE people SET password_hash = %s, invite_sha256 = NULL, invite_expires_at = NULL
WHERE id = %s AND invite_sha256 IS NOT NULL
"""
DISABLE_IN_ORGANISATION = """
UPDATE people SET disabled_at = now(), session_generation = session_generation + 1
WHERE id = %s AND organisation_id = %s AND disabled_at IS NULL RETURNING email
"""
NEXT_GENERATION = "UPDATE people SET session_generation = session_generation + 1 WHERE id = %s"
REHASH = "UPDATE people SET password_hash = %s WHERE id = %s"

ADD_FAILURES = """
INSERT INTO login_failures (bucket, window_start, failures)
SELECT bucket, %s, 1 FROM unnest(%s::text[]) AS t(bucket)
ON CONFLICT (bucket, window_start) DO UPDATE SET failures = login_failures.failures + 1
"""
FAILURES = "SELECT bucket, failures FROM login_failures WHERE window_start = %s AND bucket = ANY(%s)"
FORGET_FAILURES = "DELETE FROM login_failures WHERE bucket = %s"
EXPIRE_FAILURES = "DELETE FROM login_failures WHERE window_start < %s"


def insert_person(conn, organisation_id: int, email: str, name: str, role: str, password_hash: str) -> int:
    """Add a person; returns the id. An email already registered raises UniqueViolation (people_email_key)."""
    with conn.cursor() as cur:
        cur.execute(INSERT_PERSON, (organisation_id, email, name, role, password_hash))
        return cur.fetchone()[0]


def by_email(conn, email: str) -> dict | None:
    """The person with this (lower-case) email, with the organisation's name, gln, account, roles and
    suspension; None if unknown."""
    return fetch_one(conn, BY_EMAIL, (email,))


def by_id(conn, person_id: int) -> dict | None:
    """As by_email, by id."""
    return fetch_one(conn, BY_ID, (person_id,))


def list_people(conn, organisation_id: int | None = None) -> list[dict]:
    """Everyone (or one organisation's people), by organisation name and email."""
    return fetch_all(conn, LIST, (organisation_id, organisation_id))


def insert_invited(conn, organisation_id: int, email: str, name: str, role: str, password_hash: str,
                   invite_sha256: bytes, valid_seconds: int) -> int:  # fmt: skip
    """Add an invited person (a random password until it accepts); UniqueViolation if the email is taken."""
    with conn.cursor() as cur:
        cur.execute(INSERT_INVITED, (organisation_id, email, name, role, password_hash, invite_sha256, valid_seconds))
        return cur.fetchone()[0]


def by_invite(conn, invite_sha256: bytes) -> dict | None:
    """The person with this pending, unexpired invitation."""
    return fetch_one(conn, BY_INVITE, (invite_sha256,))


def accept_invite(conn, person_id: int, password_hash: str) -> bool:
    with conn.cursor() as cur:
        cur.execute(ACCEPT_INVITE, (password_hash, person_id))
        return cur.rowcount == 1


def disable_in_organisation(conn, person_id: int, organisation_id: int) -> str | None:
    """Disable one of the organisation's people (ending its sessions); its email, None if none was disabled."""
    row = fetch_one(conn, DISABLE_IN_ORGANISATION, (person_id, organisation_id))
    return None if row is None else row["email"]


def disable(conn, email: str) -> int | None:
    """Disable the person (and end its sessions); returns its id, None if unknown or already disabled."""
    row = fetch_one(conn, DISABLE, (email,))
    return None if row is None else row["id"]


def next_generation(conn, person_id: int) -> None:
    """End every session of the person (sign out everywhere)."""
    with conn.cursor() as cur:
        cur.execute(NEXT_GENERATION, (person_id,))


def set_password_hash(conn, person_id: int, password_hash: str) -> None:
    """Replace the stored hash (argon2's parameters were raised since it was made)."""
    with conn.cursor() as cur:
        cur.execute(REHASH, (password_hash, person_id))


def add_failures(conn, window_start: int, buckets: list[str]) -> None:
    """One more failed sign-in in each bucket's window."""
    with conn.cursor() as cur:
        cur.execute(ADD_FAILURES, (window_start, buckets))


def failures(conn, window_start: int, buckets: list[str]) -> dict[str, int]:
    """bucket -> failed sign-ins in the window (buckets with none are left out)."""
    return {r["bucket"]: r["failures"] for r in fetch_all(conn, FAILURES, (window_start, buckets))}


def forget_failures(conn, bucket: str) -> None:
    """A successful sign-in clears its account's failures (not its address's)."""
    with conn.cursor() as cur:
        cur.execute(FORGET_FAILURES, (bucket,))


def expire_failures(conn, before: int) -> None:
    with conn.cursor() as cur:
        cur.execute(EXPIRE_FAILURES, (before,))
