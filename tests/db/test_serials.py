"""app/db/serials.py's writers that the lot commissioning, the relayer and the demo use."""

from __future__ import annotations

import uuid
from datetime import date

import psycopg2
import pytest

from app.db import connect, fetch_all
from app.db import organisations as organisations_db
from app.db import serials as serials_db
from app.ids import lgtin_id, sgtin_id
from app.services import serials

GTIN = "09506000134352"


@pytest.fixture
def conn(database_url):
    c = connect(database_url)
    try:
        yield c
    finally:
        c.rollback()
        c.close()


def _commission(conn, lot: str, serial_list: list[str], operation_id: str | None = None) -> bool:
    org = organisations_db.by_gln(conn, "9506000000053") or {
        "id": organisations_db.insert_organisation(conn, "Acme", "9506000000053", b"\x01" * 20, ["manufacturer"])
    }
    ids = serials.sgtin_ids(GTIN, serial_list)
    return serials_db.insert_commission(conn, lgtin_id(GTIN, lot), int(GTIN), lot, date(2030, 1, 31),
                                        len(serial_list), serials.root_of(serials.tree_nodes(ids)), org["id"],
                                        operation_id)  # fmt: skip


def test_a_lot_is_commissioned_once_and_its_serials_are_unique(conn):
    lot_id = lgtin_id(GTIN, "L1")
    assert _commission(conn, "L1", ["A", "B"]) is True
    assert _commission(conn, "L1", ["A", "B"]) is False  # a second commissioning writes nothing
    rows = [(lot_id, i, s, sgtin_id(GTIN, s)) for i, s in enumerate(["A", "B"])]
    serials_db.insert_serials(conn, rows)
    serials_db.insert_serials(conn, rows, if_new=True)  # the demo's replay: no error, nothing added
    assert fetch_all(conn, "SELECT count(*) AS n FROM lot_serials")[0]["n"] == 2
    assert serials_db.first_taken_serial(conn, [sgtin_id(GTIN, "X"), sgtin_id(GTIN, "B")]) == "B"
    assert serials_db.first_taken_serial(conn, [sgtin_id(GTIN, "X")]) is None
    with conn.cursor() as cur:
        cur.execute("SAVEPOINT again")
    with pytest.raises(psycopg2.errors.UniqueViolation):
        serials_db.insert_serials(conn, rows[:1])
    with conn.cursor() as cur:
        cur.execute("ROLLBACK TO SAVEPOINT again")


def test_releasing_an_operation_forgets_its_commission_and_serials(conn):
    with conn.cursor() as cur:  # an operation row for the foreign key, as the outbox writes it
        org = organisations_db.insert_organisation(conn, "Acme", "9506000000053", b"\x01" * 20, ["manufacturer"])
        operation = str(uuid.uuid4())
        cur.execute("INSERT INTO operations (id, organisation_id, action, payload, idempotency_key, request_sha256) "
                    "VALUES (%s, %s, 'commission_lot', '{}', 'k1', %s)", (operation, org, b"\0" * 32))  # fmt: skip
    assert _commission(conn, "L2", ["C"], operation) is True
    serials_db.insert_serials(conn, [(lgtin_id(GTIN, "L2"), 0, "C", sgtin_id(GTIN, "C"))])
    assert serials_db.delete_commission_of(conn, operation) == 1
    assert fetch_all(conn, "SELECT count(*) AS n FROM lot_serials")[0]["n"] == 0
    assert serials_db.delete_commission_of(conn, operation) == 0
