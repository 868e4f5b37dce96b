"""app/db/operations.py against a real Postgres: the relayer's SKIP LOCKED claims per (organisation, action)."""

import psycopg2

from app.db import operations
from app.services import orgs, outbox


def test_claims_skip_rows_another_relayer_holds(database_url):
    conn = psycopg2.connect(database_url)
    with conn:
        org_id = orgs.add_organisation(conn, "Riverside Pharmacy", "9506000000039", "0x" + "ab" * 20, ["dispenser"])
    ids = []
    for i in range(6):  # one transaction each: claims are in order of acceptance
        with conn:
            ids.append(outbox.accept(conn, org_id, "ship", {"n": i}, f"k{i}")[0]["id"])
    with conn:
        outbox.accept(conn, org_id, "receive", {"n": 0}, "other-action")
    conn.close()
    first, second = psycopg2.connect(database_url), psycopg2.connect(database_url)
    try:
        with first, second:
            mine = operations.claim_pending(first, org_id, "ship", 4)
            theirs = operations.claim_pending(second, org_id, "ship", 4)
            assert [r["id"] for r in mine] == ids[:4]
            assert [r["id"] for r in theirs] == ids[4:]
    finally:
        first.close()
        second.close()
