"""Alerts: the one writer of `alerts` (the detector's upsert, the review transitions) and its reads.

The rules (which rules exist, severities, who sees and who may close an alert) are in
app/services/alerts.py; here is only what the table does.
"""

from __future__ import annotations

from app.db import access as access_db
from app.db import fetch_all, fetch_one

# A repeat: one more occurrence, the latest summary, the higher severity, the evidence appended (the
# last %(keep)s items kept), the parties merged; identifiers filled in where still missing.
UPSERT = """
INSERT INTO alerts AS a (rule, subject, severity, summary, evidence, parties, gtin, lot_id, sgtin_id, unit_id)
VALUES (%(rule)s, %(subject)s, %(severity)s, %(summary)s, jsonb_build_array(%(evidence)s::jsonb),
        ARRAY(SELECT DISTINCT p FROM unnest(%(parties)s::bigint[]) AS u (p) ORDER BY p),
        %(gtin)s, %(lot_id)s, %(sgtin_id)s, %(unit_id)s)
ON CONFLICT (rule, subject) WHERE status <> 'closed' DO UPDATE SET
    occurrences = a.occurrences + 1,
    last_seen = now(),
    summary = EXCLUDED.summary,
    severity = CASE WHEN array_position(%(severities)s::text[], EXCLUDED.severity)
                       > array_position(%(severities)s::text[], a.severity)
                    THEN EXCLUDED.severity ELSE a.severity END,
    evidence = (
        SELECT COALESCE(jsonb_agg(kept.item ORDER BY kept.n), '[]'::jsonb)
        FROM (SELECT item, n FROM jsonb_array_elements(a.evidence || EXCLUDED.evidence) WITH ORDINALITY AS x (item, n)
              ORDER BY n DESC LIMIT %(keep)s) kept
    ),
    parties = ARRAY(SELECT DISTINCT p FROM unnest(a.parties || EXCLUDED.parties) AS u (p) ORDER BY p),
    gtin = COALESCE(a.gtin, EXCLUDED.gtin),
    lot_id = COALESCE(a.lot_id, EXCLUDED.lot_id),
    sgtin_id = COALESCE(a.sgtin_id, EXCLUDED.sgtin_id),
    unit_id = COALESCE(a.unit_id, EXCLUDED.unit_id)
RETURNING a.id, a.occurrences
"""

_COLUMNS = """
a.id, a.rule, a.subject, a.status, a.severity, a.summary, a.evidence, a.parties, a.gtin, a.lot_id, a.sgtin_id,
a.unit_id, a.occurrences, a.first_seen, a.last_seen, a.acknowledged_by, a.acknowledged_at, a.closed_by, a.closed_at,
a.resolution, l.lot AS lot_number
"""
LIST = f"""
SELECT {_COLUMNS}
FROM alerts a LEFT JOIN lot_commissions l ON l.lot_id = a.lot_id
WHERE a.id < %(before)s
  AND (%(status)s::text IS NULL OR a.status = %(status)s::text)
  AND (%(rule)s::text IS NULL OR a.rule = %(rule)s::text)
  AND (%(org)s::bigint IS NULL OR a.parties @> ARRAY[%(org)s::bigint] OR {access_db.ALERT_MANUFACTURED_BY})
ORDER BY a.id DESC
LIMIT %(n)s
"""
GET = f"SELECT {_COLUMNS} FROM alerts a LEFT JOIN lot_commissions l ON l.lot_id = a.lot_id WHERE a.id = %s"
LOCK = "SELECT id, rule, status, parties, gtin, lot_id, sgtin_id, unit_id FROM alerts WHERE id = %s FOR UPDATE"
ACKNOWLEDGE = """
UPDATE alerts SET status = 'acknowledged', acknowledged_by = %(org)s, acknowledged_at = now(),
       evidence = CASE WHEN %(note)s::text IS NULL THEN evidence
                       ELSE evidence || jsonb_build_array(jsonb_build_object(
                            'acknowledgement', %(note)s::text, 'by', %(org)s::bigint, 'at', now()))
                  END
WHERE id = %(id)s
"""
CLOSE = """
UPDATE alerts SET status = 'closed', closed_by = %(org)s, closed_at = now(), resolution = %(resolution)s
WHERE id = %(id)s
"""


def upsert(
    conn,
    *,
    rule: str,
    subject: str,
    severity: str,
    summary: str,
    evidence_json: str,
    parties: list[int],
    gtin: int | None,
    lot_id: bytes | None,
    sgtin_id: bytes | None,
    unit_id: bytes | None,
    severities: list[str],
    keep: int,
) -> tuple[int, int]:
    """Open the live alert of (rule, subject), or add one occurrence to it; returns (id, occurrences).
    `severities` orders them lowest first (a repeat keeps the higher); `keep` evidence items are kept."""
    params = {
        "rule": rule,
        "subject": subject,
        "severity": severity,
        "summary": summary,
        "evidence": evidence_json,
        "parties": parties,
        "gtin": gtin,
        "lot_id": lot_id,
        "sgtin_id": sgtin_id,
        "unit_id": unit_id,
        "severities": severities,
        "keep": keep,
    }
    row = fetch_one(conn, UPSERT, params)
    return row["id"], row["occurrences"]


def list_alerts(
    conn,
    *,
    before: int,
    status: str | None,
    rule: str | None,
    organisation_id: int | None,
    limit: int,
    account: bytes | None = None,
) -> list[dict]:
    """Up to `limit` alerts with ids below `before`, newest first, optionally of one status, one rule,
    naming one organisation among their parties or about what `account` manufactured (the access
    policy's alert scope, app/services/access.py). Rows: the alert's columns and `lot_number`."""
    params = {"before": before, "status": status, "rule": rule, "org": organisation_id, "me": account, "n": limit}
    return fetch_all(conn, LIST, params)


def get(conn, alert_id: int) -> dict | None:
    """One alert's columns and `lot_number`, None if there is none."""
    return fetch_one(conn, GET, (alert_id,))


def lock(conn, alert_id: int) -> dict | None:
    """{id, rule, status, parties, gtin, lot_id, sgtin_id, unit_id} of the alert, locked for an update until the caller's transaction ends."""
    return fetch_one(conn, LOCK, (alert_id,))


def mark_acknowledged(conn, alert_id: int, organisation_id: int, note: str | None) -> None:
    """open -> acknowledged by the organisation; a note is appended to the evidence."""
    with conn.cursor() as cur:
        cur.execute(ACKNOWLEDGE, {"id": alert_id, "org": organisation_id, "note": note})


def mark_closed(conn, alert_id: int, organisation_id: int, resolution: str) -> None:
    with conn.cursor() as cur:
        cur.execute(CLOSE, {"id": alert_id, "org": organisation_id, "resolution": resolution})
