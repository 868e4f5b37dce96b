"""EPCIS capture jobs (`epcis_captures`), the events they applied (`epcis_captured_events`), and the events they
recorded without a custody effect on chain (`epcis_recorded_events`: TransactionEvent, AssociationEvent).

The ONLY module that writes those three tables (app/services/epcis/capture.py is its caller). The caller
holds the transaction; SAVEPOINT/RELEASE/ROLLBACK TO let a capture that proceeds past a refused event
drop that event's writes alone.
"""

from __future__ import annotations

from psycopg2.extras import Json, execute_values

from app.db import fetch_all, fetch_one

INSERT_CAPTURE = """
INSERT INTO epcis_captures (id, organisation_id, status, error_behaviour, event_count, events, errors, finished_at)
VALUES (%s, %s, %s, %s, %s, %s, %s, CASE WHEN %s = 'running' THEN NULL ELSE now() END)
RETURNING *
"""
CAPTURE_BY_ID = "SELECT * FROM epcis_captures WHERE id = %s"
INSERT_EVENTS = """
INSERT INTO epcis_captured_events (organisation_id, event_id, capture_id, event_index, operation_ids, content_sha256)
VALUES %s
ON CONFLICT (organisation_id, event_id) DO NOTHING
"""
EVENT_ROW = "(%s, %s, %s, %s, %s::uuid[], %s)"
EVENTS_BY_IDS = """
SELECT event_id, capture_id, event_index, operation_ids::text[] AS operation_ids, content_sha256
FROM epcis_captured_events WHERE organisation_id = %s AND event_id = ANY(%s)
"""
INSERT_RECORDED = """
INSERT INTO epcis_recorded_events (organisation_id, event_id, capture_id, event_index, event_type, epcs, event,
                                   head_block)
VALUES (%s, %s, %s, %s, %s, %s::text[], %s,
        coalesce((SELECT block_number FROM indexer_cursor WHERE name = 'main'), 0))
ON CONFLICT (organisation_id, event_id) DO NOTHING
"""
RECORDED_FOR = """
SELECT organisation_id, event_id, capture_id, event, head_block, recorded_at FROM epcis_recorded_events
WHERE epcs && %s::text[] ORDER BY head_block, recorded_at, event_id
"""
SAVEPOINT = "SAVEPOINT epcis_event"
RELEASE = "RELEASE SAVEPOINT epcis_event"
ROLLBACK_TO = "ROLLBACK TO SAVEPOINT epcis_event"


def insert_capture(conn, capture_id: str, organisation_id: int, status: str, error_behaviour: str,
                   event_count: int, events: list, errors: list) -> dict:  # fmt: skip
    return fetch_one(conn, INSERT_CAPTURE, (capture_id, organisation_id, status, error_behaviour, event_count,
                                            Json(events), Json(errors), status))  # fmt: skip


def capture_by_id(conn, capture_id: str) -> dict | None:
    return fetch_one(conn, CAPTURE_BY_ID, (capture_id,))


def insert_events(conn, organisation_id: int, capture_id: str, rows: list[tuple[str, int, list, bytes]]) -> None:
    """A document's applied events in one statement: rows of (event_id, index, operation_ids, content_sha256); an
    event the organisation captured before is left as it was."""
    if not rows:
        return
    values = [(organisation_id, event_id, capture_id, index, ops, content) for event_id, index, ops, content in rows]
    with conn.cursor() as cur:
        execute_values(cur, INSERT_EVENTS, values, template=EVENT_ROW, page_size=1000)


def insert_recorded(conn, organisation_id: int, event_id: str, capture_id: str, index: int, event_type: str,
                    epcs: list[str], event: dict) -> None:  # fmt: skip
    """A recorded event (no custody effect), sorted at the mirror's head when recorded."""
    with conn.cursor() as cur:
        cur.execute(INSERT_RECORDED, (organisation_id, event_id, capture_id, index, event_type, epcs, Json(event)))


def recorded_for(conn, epcs: list[str]) -> list[dict]:
    """The recorded events naming any of these EPC URIs, every organisation's (the caller applies the policy)."""
    return fetch_all(conn, RECORDED_FOR, (epcs,))


def events_by_ids(conn, organisation_id: int, event_ids: list[str]) -> dict[str, dict]:
    """event_id -> {capture_id, event_index, operation_ids, content_sha256} of those the organisation captured."""
    if not event_ids:
        return {}
    return {row["event_id"]: row for row in fetch_all(conn, EVENTS_BY_IDS, (organisation_id, list(event_ids)))}


def savepoint(conn) -> None:
    with conn.cursor() as cur:
        cur.execute(SAVEPOINT)


def release(conn) -> None:
    with conn.cursor() as cur:
        cur.execute(RELEASE)


def rollback_to(conn) -> None:
    with conn.cursor() as cur:
        cur.execute(ROLLBACK_TO)
