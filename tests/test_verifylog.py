"""The buffered verification log against a real Postgres."""

from __future__ import annotations

import time

import pytest

from app.db import Database, fetch_all
from app.errors import ServiceUnavailable
from app.services.verifylog import VerificationLog


def row(n: int) -> dict:
    return {"requester_gln": 9506000000039, "channel": "api", "code": f"(01)09506000134352(21)S{n}",
            "gtin": 9506000134352, "serial": f"S{n}", "expiry": "2030-12-31", "sgtin_id": bytes([n % 256]) * 32,
            "verdict": "counterfeit", "reasons": ["unknown_serial", "not_received_by_requester"]}  # fmt: skip


def logged(db: Database) -> list[dict]:
    with db.connection() as conn:
        return fetch_all(conn, "SELECT code, serial, expiry::text, sgtin_id, verdict, reasons, at FROM verifications "
                               "ORDER BY id")  # fmt: skip


def test_rows_are_written_in_order_by_the_background_writer(database_url):
    db = Database(database_url, maxconn=2)
    log = VerificationLog(db, flush_seconds=0.02)
    for n in range(2500):  # more than one COPY batch
        log.append(row(n))
    deadline = time.monotonic() + 10
    while log.pending() and time.monotonic() < deadline:
        time.sleep(0.02)
    rows = logged(db)
    assert [r["serial"] for r in rows] == [f"S{n}" for n in range(2500)]
    assert rows[7]["reasons"] == ["unknown_serial", "not_received_by_requester"]
    assert bytes(rows[7]["sgtin_id"]) == bytes([7]) * 32 and rows[7]["expiry"] == "2030-12-31"
    assert rows[0]["at"] <= rows[-1]["at"]
    db.close()


def test_rows_wait_while_the_database_is_down_and_a_full_backlog_refuses(database_url, pg_server):
    dead = Database("postgresql://postgres@127.0.0.1:1/nothing", maxconn=1)
    log = VerificationLog(dead, flush_seconds=3600, backlog=3)
    for n in range(3):
        log.append(row(n))
    with pytest.raises(ServiceUnavailable):
        log.flush()
    assert log.pending() == 3  # nothing lost
    with pytest.raises(ServiceUnavailable):
        log.append(row(3))  # refused rather than kept unlogged
    db = Database(database_url, maxconn=1)
    log.db = db  # the database is back
    log.close()  # what happens at exit
    assert [r["serial"] for r in logged(db)] == ["S0", "S1", "S2"] and log.pending() == 0
    db.close()


def test_a_row_postgres_refuses_is_set_aside_and_the_rest_written(database_url):
    db = Database(database_url, maxconn=1)
    log = VerificationLog(db, flush_seconds=3600)
    log.append(row(1))
    log.append({**row(2), "code": "bad\x00code"})  # Postgres text cannot hold NUL
    log.append(row(3))
    assert log.flush() == 2 and log.pending() == 0
    assert [r["serial"] for r in logged(db)] == ["S1", "S3"]
    db.close()
