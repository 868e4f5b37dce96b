"""app/db/serials.py's writers that the lot commissioning, the relayer and the demo use."""

from __future__ import annotations

import uuid
from datetime import date

import pytest

from app.db import fetch_all
from app.db import organisations as organisations_db
from app.db import serials as serials_db
from app.ids import lgtin_id, sgtin_id
from app.services import serials

GTIN = "09506000134352"


@pytest.fixture
def maker(conn) -> int:
    return organisations_db.insert_organisation(conn, "Acme", "9506000000053", b"\x01" * 20, ["manufacturer"])


def _commission(conn, maker: int, lot: str, serial_list: list[str], operation_id: str | None = None) -> bool:
    root = serials.root_of(serials.tree_nodes(serials.sgtin_ids(GTIN, serial_list)))
    return serials_db.insert_lot_commission(conn, lgtin_id(GTIN, lot), int(GTIN), lot, date(2030, 1, 31),
                                            len(serial_list), root, maker, operation_id)  # fmt: skip


def _pairs(serial_list: list[str]) -> list[tuple[str, bytes]]:
    return [(s, sgtin_id(GTIN, s)) for s in serial_list]


def _count(conn) -> int:
    return fetch_all(conn, "SELECT count(*) AS n FROM lot_serials")[0]["n"]


def test_a_lot_is_commissioned_once_and_a_serial_is_in_one_lot(conn, maker):
    assert _commission(conn, maker, "L1", ["A", "B"]) is True
    assert _commission(conn, maker, "L1", ["A", "B"]) is False  # a second commissioning writes nothing
    assert serials_db.insert_lot_serials(conn, lgtin_id(GTIN, "L1"), _pairs(["A", "B"])) is None
    assert _count(conn) == 2
    # the demo re-seeding: no error, nothing added
    assert serials_db.insert_lot_serials(conn, lgtin_id(GTIN, "L1"), _pairs(["A", "B"]), skip_existing=True) is None
    assert _count(conn) == 2
    # another lot with a serial taken: that serial is named, nothing is written, the transaction goes on
    assert _commission(conn, maker, "L9", ["X", "B"]) is True
    assert serials_db.insert_lot_serials(conn, lgtin_id(GTIN, "L9"), _pairs(["X", "B"])) == "B"
    assert _count(conn) == 2


def test_releasing_an_operation_forgets_its_commission_and_serials(conn, maker):
    operation = str(uuid.uuid4())
    with conn.cursor() as cur:  # an operation row for the foreign key, as the outbox writes it
        cur.execute("INSERT INTO operations (id, organisation_id, action, payload, idempotency_key, request_sha256) "
                    "VALUES (%s, %s, 'commission_lot', '{}', 'k1', %s)", (operation, maker, b"\0" * 32))  # fmt: skip
    assert _commission(conn, maker, "L2", ["C"], operation) is True
    assert serials_db.insert_lot_serials(conn, lgtin_id(GTIN, "L2"), _pairs(["C"])) is None
    assert serials_db.delete_commission_of(conn, operation) == 1
    assert _count(conn) == 0
    assert serials_db.delete_commission_of(conn, operation) == 0
