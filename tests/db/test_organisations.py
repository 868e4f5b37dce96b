"""app/db/organisations.py: the organisation lookups and the API key rows, against a real database."""

from __future__ import annotations

import hashlib

import psycopg2
import pytest

from app.db import organisations as organisations_db


def test_an_organisation_is_found_by_gln_id_and_account(conn):
    account = bytes(range(20))
    org = organisations_db.insert_organisation(conn, "Riverside Pharmacy", "9506000000039", account, ["dispenser"])
    by_gln = organisations_db.by_gln(conn, "9506000000039")
    assert by_gln["id"] == org and by_gln["name"] == "Riverside Pharmacy" and by_gln["roles"] == ["dispenser"]
    assert organisations_db.by_id(conn, org) == by_gln == organisations_db.by_account(conn, account)
    assert organisations_db.by_gln(conn, "9506000000046") is None
    assert organisations_db.by_id(conn, org + 1) is None
    assert organisations_db.by_account(conn, bytes(20)) is None
    assert organisations_db.names(conn, [org, None, org + 1]) == {org: {"id": org, "name": "Riverside Pharmacy",
                                                                       "gln": "9506000000039"}}  # fmt: skip
    assert organisations_db.names(conn, [None]) == {}
    assert organisations_db.has_role(conn, org, "dispenser") and not organisations_db.has_role(conn, org, "regulator")
    assert not organisations_db.has_role(conn, org + 1, "dispenser")
    with pytest.raises(psycopg2.errors.UniqueViolation):
        organisations_db.insert_organisation(conn, "Again", "9506000000039", bytes(20), ["dispenser"])


def test_a_key_row_carries_its_organisation_and_is_revoked_once(conn):
    org = organisations_db.insert_organisation(conn, "Acme Pharma", "9506000000053", b"\x01" * 20, ["manufacturer"])
    digest = hashlib.sha256(b"secret").digest()
    organisations_db.insert_key(conn, org, "abcdefghij", digest, "scanner")
    key = organisations_db.key_by_prefix(conn, "abcdefghij")
    assert (key.organisation_id, key.name, key.gln, key.account) == (org, "Acme Pharma", "9506000000053", b"\x01" * 20)
    assert key.secret_sha256 == digest and key.roles == ("manufacturer",)
    assert not key.revoked and not key.suspended
    organisations_db.touch_key(conn, key.key_id)
    assert organisations_db.revoke_key(conn, "abcdefghij") is True
    assert organisations_db.revoke_key(conn, "abcdefghij") is False
    assert organisations_db.key_by_prefix(conn, "abcdefghij").revoked
    assert organisations_db.key_by_prefix(conn, "zzzzzzzzzz") is None
