"""People who sign in to the pages: accounts, passwords, the login throttle, sessions' validity, and the
audit trail of what they do (no Flask here; SQL in app/db/people.py and app/db/audit.py).

- Passwords are hashed with argon2id (argon2-cffi's defaults, RFC 9106's low-memory profile); a hash made
  with older parameters is replaced at the next successful sign-in.
- The throttle counts failed sign-ins per account (the email typed) and per client address in fixed windows;
  over either limit, sign-in is refused without the password being checked, until the window ends.
- A session names the person and its session generation: it is valid while the person is enabled, its
  organisation is not suspended and the generation is unchanged (sign out everywhere bumps it).
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from dataclasses import dataclass

import psycopg2
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from app.db import audit as audit_db
from app.db import people as people_db
from app.errors import PharmatrackError
from app.services import access
from app.services.orgs import OrgError, Principal, organisation_by_gln

EMAIL_RE = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")
MIN_PASSWORD = 12
MAX_PASSWORD = 1024  # argon2 hashes anything; a megabyte "password" is only a way to burn CPU
AUDIT_PAGE = 50
INVITE_DAYS = 7

_hasher = PasswordHasher()  # argon2id
# checked against when the email is unknown, so an unknown account costs the same time as a wrong password
_DUMMY_HASH = _hasher.hash("not a password of anyone's")


class PersonError(OrgError):
    """A field of a person that breaks a rule (the CLI and the pages name the field)."""


class Throttled(PharmatrackError):
    def __init__(self, retry_after: int):
        super().__init__(f"too many failed sign-ins: try again in {retry_after} s")
        self.retry_after = retry_after


@dataclass(frozen=True)
class Person:
    """A signed-in person, and the organisation it acts for."""

    id: int
    email: str
    name: str
    role: str
    generation: int
    organisation_id: int
    organisation: str
    gln: str
    account: str
    organisation_roles: tuple[str, ...]

    @classmethod
    def of(cls, row: dict) -> Person:
        return cls(row["id"], row["email"], row["name"], row["role"], row["session_generation"],
                   row["organisation_id"], row["organisation"], row["gln"], "0x" + bytes(row["account"]).hex(),
                   tuple(row["organisation_roles"]))  # fmt: skip

    def principal(self) -> Principal:
        """The organisation as the services know a caller (as behind an API key): the person acts for it."""
        return Principal(self.organisation_id, self.organisation, self.gln, self.account, self.organisation_roles,
                         f"person-{self.id}")  # fmt: skip

    def may(self, action: str) -> bool:
        return access.may_act(self.role, action)


@dataclass(frozen=True)
class Throttle:
    window_seconds: int
    per_account: int
    per_address: int


def _email(email: str) -> str:
    email = (email or "").strip().lower()
    if not EMAIL_RE.fullmatch(email) or len(email) > 254:
        raise PersonError("email", "must be an email address (name@domain), at most 254 characters")
    return email


def check_password(password: str) -> None:
    if not MIN_PASSWORD <= len(password or "") <= MAX_PASSWORD:
        raise PersonError("password", f"must be {MIN_PASSWORD} to {MAX_PASSWORD} characters")


def _checked(email: str, name: str, role: str, org_name: str, org_roles) -> tuple[str, str]:
    """The email and name as stored, once the person's fields and its role under the organisation are valid."""
    email = _email(email)
    name = (name or "").strip()
    if not 1 <= len(name) <= 200:
        raise PersonError("name", "must be 1 to 200 characters")
    if role not in access.PERSON_ROLES:
        raise PersonError("role", f"must be one of {', '.join(access.PERSON_ROLES)}")
    needs = access.PERSON_ROLE_NEEDS[role]
    if not set(needs) & set(org_roles):
        raise PersonError("role", f"{role} is a role in an organisation with the role {' or '.join(needs)}; "
                          f"{org_name} has {', '.join(org_roles)}")  # fmt: skip
    return email, name


def add_person(conn, gln: str, email: str, name: str, role: str, password: str) -> int:
    """Add a person to the organisation with this GLN; returns the id."""
    check_password(password)
    org = organisation_by_gln(conn, gln)
    if org is None:
        raise PersonError("organisation", "no organisation has this GLN; add it first")
    email, name = _checked(email, name, role, org["name"], org["roles"])
    try:
        return people_db.insert_person(conn, org["id"], email, name, role, _hasher.hash(password))
    except psycopg2.errors.UniqueViolation:
        raise PersonError("email", "is already registered") from None


def invite(conn, admin: Person, email: str, name: str, role: str) -> str:
    """An organisation admin invites a person to its organisation; returns the one-time token of the link
    (shown once to the admin, who hands it over; only its SHA-256 is stored) valid for INVITE_DAYS."""
    if not admin.may("admin_people"):
        raise PersonError("role", "only an organisation's admin invites people")
    email, name = _checked(email, name, role, admin.organisation, admin.organisation_roles)
    token = secrets.token_urlsafe(32)
    try:
        people_db.insert_invited(conn, admin.organisation_id, email, name, role, _hasher.hash(secrets.token_urlsafe(32)),
                                 hashlib.sha256(token.encode()).digest(), INVITE_DAYS * 86400)  # fmt: skip
    except psycopg2.errors.UniqueViolation:
        raise PersonError("email", "is already registered") from None
    return token


def invited(conn, token: str) -> dict | None:
    """The pending invitation of this token: {email, name, role, organisation}; None if unknown or expired."""
    row = people_db.by_invite(conn, hashlib.sha256((token or "").encode()).digest())
    return None if row is None or row["disabled_at"] is not None else row


def accept_invite(conn, token: str, password: str) -> Person | None:
    """Set the invited person's password; the link is spent. None if the invitation is unknown or expired."""
    check_password(password)
    row = invited(conn, token)
    if row is None or not people_db.accept_invite(conn, row["id"], _hasher.hash(password)):
        return None
    return Person.of(row)


def disable_colleague(conn, admin: Person, person_id: int) -> str | None:
    """An admin disables one of its organisation's people (never itself); the email, None if none was."""
    if not admin.may("admin_people") or person_id == admin.id:
        return None
    return people_db.disable_in_organisation(conn, person_id, admin.organisation_id)


def list_people(conn, gln: str | None = None) -> list[dict]:
    organisation_id = None
    if gln is not None:
        org = organisation_by_gln(conn, gln)
        if org is None:
            raise PersonError("organisation", "no organisation has this GLN")
        organisation_id = org["id"]
    return people_db.list_people(conn, organisation_id)


def disable(conn, email: str) -> bool:
    """Disable the person: its sessions end on their next request, it cannot sign in again."""
    return people_db.disable(conn, _email(email)) is not None


def sign_out_everywhere(conn, person: Person) -> None:
    people_db.next_generation(conn, person.id)


def current(conn, person_id: int, generation: int) -> Person | None:
    """The person a session names, or None when the session no longer holds (disabled, signed out
    everywhere, the organisation suspended, the person gone)."""
    row = people_db.by_id(conn, person_id)
    if row is None or row["disabled_at"] is not None or row["organisation_suspended_at"] is not None:
        return None
    if row["session_generation"] != generation:
        return None
    return Person.of(row)


def _buckets(email: str, address: str) -> tuple[str, str]:
    return f"email:{email}", f"ip:{address}"


def sign_in(
    conn, email: str, password: str, address: str, throttle: Throttle, now: float | None = None
) -> Person | None:
    """The person whose email and password these are, or None (unknown, wrong, disabled, suspended).
    Throttled when the account or the address has failed too often in the current window. The caller
    commits (the failure count is written either way)."""
    now = time.time() if now is None else now
    email = (email or "").strip().lower()[:254]
    window = int(now) // throttle.window_seconds * throttle.window_seconds
    account_bucket, address_bucket = _buckets(email, address)
    counts = people_db.failures(conn, window, [account_bucket, address_bucket])
    if counts.get(account_bucket, 0) >= throttle.per_account or counts.get(address_bucket, 0) >= throttle.per_address:
        raise Throttled(window + throttle.window_seconds - int(now))
    row = people_db.by_email(conn, email) if EMAIL_RE.fullmatch(email) else None
    ok = _password_matches(conn, row, password)
    if not ok or row["disabled_at"] is not None or row["organisation_suspended_at"] is not None:
        people_db.expire_failures(conn, window)
        people_db.add_failures(conn, window, [account_bucket, address_bucket])
        return None
    people_db.forget_failures(conn, account_bucket)
    return Person.of(row)


def _password_matches(conn, row: dict | None, password: str) -> bool:
    if not 1 <= len(password or "") <= MAX_PASSWORD:
        return False
    try:
        _hasher.verify(row["password_hash"] if row else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return False
    if row is None:
        return False
    if _hasher.check_needs_rehash(row["password_hash"]):
        people_db.set_password_hash(conn, row["id"], _hasher.hash(password))
    return True


# -- the audit trail ---------------------------------------------------------------------------------------


def record(conn, person: Person | None, action: str, subject: str, address: str, outcome: str,
           email: str | None = None) -> int:  # fmt: skip
    """Append what a person did (or a sign-in attempt: `person` None, `email` as typed)."""
    return audit_db.append(conn, person.id if person else None, person.email if person else (email or "")[:254],
                           person.organisation_id if person else None, action, subject, address, outcome)  # fmt: skip


def audit_page(conn, person: Person, before: int | None = None, limit: int = AUDIT_PAGE) -> list[dict] | None:
    """The audit entries the person may read (app/services/access.py), newest first; None: none at all."""
    scope = access.audit_scope(person.role, person.organisation_id, person.organisation_roles)
    if scope is None:
        return None
    return audit_db.page(conn, None if scope == access.ALL_ORGANISATIONS else scope, before, limit)
