"""app/db/captures.py against a real Postgres: a document's captured events looked up and stored in one statement."""

import uuid

from app.db import captures
from app.services import orgs


def test_events_are_stored_and_looked_up_by_document(conn):
    org = orgs.add_organisation(conn, "Northside Wholesale", "9506000000046", "0x" + "cd" * 20, ["distributor"])
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    op = str(uuid.uuid4())
    captures.insert_capture(conn, first, org, "success", "rollback", 2, [], [])
    captures.insert_events(
        conn, org, first, [("urn:uuid:a", 0, [op], b"\x01" * 32), ("urn:uuid:b", 1, [], b"\x02" * 32)]
    )
    # captured again by a later document: the first capture's row stays
    captures.insert_capture(conn, second, org, "success", "proceed", 1, [], [])
    captures.insert_events(conn, org, second, [("urn:uuid:a", 5, [], b"\x03" * 32)])
    found = captures.events_by_ids(conn, org, ["urn:uuid:a", "urn:uuid:b", "urn:uuid:never"])
    assert set(found) == {"urn:uuid:a", "urn:uuid:b"}
    assert str(found["urn:uuid:a"]["capture_id"]) == first and found["urn:uuid:a"]["event_index"] == 0
    assert found["urn:uuid:a"]["operation_ids"] == [op] and bytes(found["urn:uuid:a"]["content_sha256"]) == b"\x01" * 32
    other = orgs.add_organisation(conn, "Eastside Pharmacy", "9506000000053", "0x" + "ef" * 20, ["dispenser"])
    assert captures.events_by_ids(conn, other, ["urn:uuid:a"]) == {}
    assert captures.events_by_ids(conn, org, []) == {}
