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


def test_many_operations_in_one_statement_keep_idempotency(conn):
    """outbox.accept_many: new keys stored; a key used before, or twice in the batch, answers its first operation
    when the request is the same one, and an IdempotencyConflict when it is not."""
    org_id = orgs.add_organisation(conn, "Riverside Pharmacy", "9506000000039", "0x" + "ab" * 20, ["dispenser"])
    d0, d1, d2, other_digest = (bytes([n]) * 32 for n in range(4))  # request digests: SHA-256 wide
    earlier, _ = outbox.accept(conn, org_id, "ship", {"n": 0}, "k0", digest=d0)
    results = outbox.accept_many(conn, org_id, [("ship", {"n": 1}, "k1", d1), ("ship", {"n": 0}, "k0", d0),
                                                ("ship", {"n": 1}, "k1", d1), ("ship", {"n": 9}, "k0", other_digest),
                                                ("receive", {"n": 2}, "k2", d2)])  # fmt: skip
    new, old, twice, conflict, other = results
    assert old == str(earlier["id"]) and twice == new and new != old
    assert isinstance(conflict, outbox.IdempotencyConflict) and conflict.operation_id == str(earlier["id"])
    assert outbox.by_key(conn, org_id, "k1")["payload"] == {"n": 1}
    assert str(outbox.by_key(conn, org_id, "k2")["id"]) == other
    groups = {(g["action"], g["n"]) for g in operations.pending_groups(conn)}
    assert groups == {("ship", 2), ("receive", 1)}


def test_a_capture_job_reads_its_operations_in_one_statement(conn):
    """outbox.rows_of: the rows of the ids that exist, of the caller's organisation only."""
    mine = orgs.add_organisation(conn, "Riverside Pharmacy", "9506000000039", "0x" + "ab" * 20, ["dispenser"])
    theirs = orgs.add_organisation(conn, "Northside Wholesale", "9506000000046", "0x" + "cd" * 20, ["distributor"])
    own, _ = outbox.accept(conn, mine, "ship", {"n": 1}, "k1")
    other, _ = outbox.accept(conn, theirs, "ship", {"n": 2}, "k1")
    missing = "00000000-0000-4000-8000-000000000000"
    found = outbox.rows_of(conn, [str(own["id"]), str(other["id"]), missing], mine)
    assert list(found) == [str(own["id"])] and found[str(own["id"])]["payload"] == {"n": 1}
    assert set(operations.by_ids(conn, [str(own["id"]), str(other["id"]), missing])) == {
        str(own["id"]),
        str(other["id"]),
    }
    assert operations.by_ids(conn, []) == {}
