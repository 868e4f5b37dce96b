"""The audit trail of what people did through the pages: the one writer of `audit_trail`, which only ever
inserts (the database refuses UPDATE, DELETE and TRUNCATE on it: migrations/0023)."""

from __future__ import annotations

from app.db import fetch_all

INSERT = """
INSERT INTO audit_trail (person_id, email, organisation_id, action, subject, address, outcome)
VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING id
"""
# newest first, keyset-paged by id; %(org)s NULL: every organisation (a regulator's view)
PAGE = """
SELECT a.id, a.at, a.person_id, a.email, a.organisation_id, o.name AS organisation, a.action, a.subject,
       a.address, a.outcome
FROM audit_trail a LEFT JOIN organisations o ON o.id = a.organisation_id
WHERE (%(org)s::bigint IS NULL OR a.organisation_id = %(org)s::bigint)
  AND (%(before)s::bigint IS NULL OR a.id < %(before)s::bigint)
ORDER BY a.id DESC
LIMIT %(n)s
"""


def append(conn, person_id: int | None, email: str, organisation_id: int | None, action: str, subject: str,
           address: str, outcome: str) -> int:  # fmt: skip
    with conn.cursor() as cur:
        cur.execute(INSERT, (person_id, email, organisation_id, action, subject[:512], address, outcome[:512]))
        return cur.fetchone()[0]


def page(conn, organisation_id: int | None, before: int | None, limit: int) -> list[dict]:
    """Up to `limit` entries older than id `before` (None: the newest), of one organisation or all."""
    return fetch_all(conn, PAGE, {"org": organisation_id, "before": before, "n": limit})
