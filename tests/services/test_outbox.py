"""The outbox against a real Postgres: idempotency and concurrent rescans (the relayer's SKIP LOCKED claims:
tests/db/test_operations.py)."""

import threading

import psycopg2
import pytest

from app.services import orgs, outbox


def _org(url, gln="9506000000039", account="0x" + "ab" * 20) -> int:
    conn = psycopg2.connect(url)
    with conn:
        org_id = orgs.add_organisation(conn, "Riverside Pharmacy", gln, account, ["dispenser"])
    conn.close()
    return org_id


def _accept(url, org_id, payload, key):
    conn = psycopg2.connect(url)
    try:
        with conn:
            return outbox.accept(conn, org_id, "ship", payload, key)
    finally:
        conn.close()


def test_the_same_key_and_request_gives_the_first_operation(database_url):
    org_id = _org(database_url)
    first, created = _accept(database_url, org_id, {"units": ["a"], "to": "x"}, "scan-1")
    again, created_again = _accept(
        database_url, org_id, {"to": "x", "units": ["a"]}, "scan-1"
    )  # key order is irrelevant
    assert created and not created_again
    assert again["id"] == first["id"]
    assert first["status"] == "pending"


def test_the_same_key_with_another_request_is_refused(database_url):
    org_id = _org(database_url)
    first, _ = _accept(database_url, org_id, {"units": ["a"]}, "scan-2")
    with pytest.raises(outbox.IdempotencyConflict) as info:
        _accept(database_url, org_id, {"units": ["b"]}, "scan-2")
    assert info.value.operation_id == str(first["id"])


def test_keys_are_per_organisation(database_url):
    a = _org(database_url)
    b = _org(database_url, gln="9506000000046", account="0x" + "cd" * 20)
    op_a, _ = _accept(database_url, a, {"units": ["a"]}, "same-key")
    op_b, created = _accept(database_url, b, {"units": ["a"]}, "same-key")
    assert created and op_a["id"] != op_b["id"]


def test_concurrent_rescans_make_one_operation(database_url):
    org_id = _org(database_url)
    results, errors = [], []

    def scan():
        try:
            results.append(_accept(database_url, org_id, {"units": ["a"]}, "burst"))
        except Exception as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=scan) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    assert len({r[0]["id"] for r in results}) == 1
    assert sum(created for _, created in results) == 1
