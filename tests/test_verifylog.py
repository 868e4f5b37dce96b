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


def _month(conn_db: Database, months_from_now: int) -> tuple[str, float]:
    """The monthly table's name and a unix time in the middle of that month (UTC)."""
    with conn_db.connection() as conn:
        found = fetch_all(conn, "SELECT 'verifications_' || to_char(m, 'YYYY_MM') AS name, "
                                "extract(epoch FROM m + interval '14 days')::float8 AS mid "
                                "FROM (SELECT date_trunc('month', now() AT TIME ZONE 'UTC') "
                                "+ %s * interval '1 month' AS m) x", (months_from_now,))[0]  # fmt: skip
    return found["name"], found["mid"]


def _where(db: Database, serial: str) -> str | None:
    with db.connection() as conn:
        rows = fetch_all(
            conn, "SELECT tableoid::regclass::text AS month FROM verifications WHERE serial = %s", (serial,)
        )
    return rows[0]["month"] if rows else None


def _exists(db: Database, table: str) -> bool:
    with db.connection() as conn:
        return fetch_all(conn, "SELECT to_regclass(%s) IS NOT NULL AS found", (table,))[0]["found"]


def test_the_log_is_by_month_and_the_writer_makes_the_coming_months(database_url):
    db = Database(database_url, maxconn=2)
    log = VerificationLog(db, flush_seconds=3600)
    now_table, now_mid = _month(db, 0)
    later_table, later_mid = _month(db, 2)
    with db.connection() as conn, conn.cursor() as cur:
        cur.execute(f'DROP TABLE "{later_table}"')  # a month nobody made yet
    assert log.maintain() == (1, 0) and _exists(db, later_table)
    assert log.maintain() == (0, 0)  # made once
    log.append(row(1) | {"at": now_mid})
    log.append(row(2) | {"at": later_mid})
    log.flush()
    assert _where(db, "S1") == now_table and _where(db, "S2") == later_table
    db.close()


def test_a_row_for_a_month_without_its_table_waits_in_the_writer_and_is_not_lost(database_url):
    db = Database(database_url, maxconn=2)
    log = VerificationLog(db, flush_seconds=3600)
    far_table, far_mid = _month(db, 7)  # beyond the months made ahead
    assert not _exists(db, far_table)
    log.append(row(7) | {"at": far_mid})
    with pytest.raises(Exception, match="no partition"):
        log.flush()
    assert log.pending() == 1
    with db.connection() as conn, conn.cursor() as cur:
        cur.execute("SELECT verification_months(to_timestamp(%s), to_timestamp(%s))", (far_mid, far_mid))
    assert log.flush() == 1 and _where(db, "S7") == far_table
    db.close()


def test_months_past_the_retention_are_dropped_and_the_rest_kept(database_url):
    db = Database(database_url, maxconn=2)
    with db.connection() as conn, conn.cursor() as cur:
        cur.execute("SELECT verification_months('2019-01-15Z', '2019-02-15Z')")
    keep_all = VerificationLog(db, flush_seconds=3600)
    keep_all.append(row(19) | {"at": 1_548_000_000})  # 2019-01-20
    keep_all.flush()
    assert keep_all.maintain() == (0, 0) and _where(db, "S19") == "verifications_2019_01"
    kept_table, kept_mid = _month(db, -12)  # the oldest month a 12-month retention keeps
    with db.connection() as conn, conn.cursor() as cur:
        cur.execute("SELECT verification_months(to_timestamp(%s), to_timestamp(%s))", (kept_mid, kept_mid))
    yearly = VerificationLog(db, flush_seconds=3600, retention_months=12)
    assert yearly.maintain() == (0, 2)
    assert not _exists(db, "verifications_2019_01") and not _exists(db, "verifications_2019_02")
    assert _exists(db, kept_table) and _exists(db, _month(db, 0)[0])
    db.close()


def test_the_migration_keeps_the_rows_logged_before_it(empty_database_url, tmp_path):
    """0008 turns the existing log into monthly tables: rows, ids and the id sequence survive."""
    from app.db import connect, migrate

    for path in sorted(migrate.MIGRATIONS_DIR.glob("*.sql")):
        if int(path.name[:4]) < 8:
            (tmp_path / path.name).write_text(path.read_text())
    migrate.apply(empty_database_url, tmp_path)
    conn = connect(empty_database_url)
    with conn, conn.cursor() as cur:
        cur.execute("INSERT INTO verifications (at, channel, code, serial, verdict) VALUES "
                    "('2021-03-04Z', 'api', 'c1', 'OLD1', 'verified'), (now(), 'lvm', 'c2', 'OLD2', 'unknown') "
                    "RETURNING id")  # fmt: skip
        ids = [r[0] for r in cur.fetchall()]
    conn.close()
    later = sorted(p.stem for p in migrate.MIGRATIONS_DIR.glob("*.sql") if int(p.name[:4]) >= 8)
    assert migrate.apply(empty_database_url) == later and later[0] == "0008.verifications-by-month"
    db = Database(empty_database_url, maxconn=2)
    with db.connection() as c:
        rows = fetch_all(c, "SELECT id, serial, tableoid::regclass::text AS month FROM verifications ORDER BY id")
    assert [r["id"] for r in rows] == ids and rows[0]["month"] == "verifications_2021_03"
    log = VerificationLog(db, flush_seconds=3600)
    log.append(row(3))
    log.flush()
    with db.connection() as c:
        assert fetch_all(c, "SELECT max(id) AS top FROM verifications")[0]["top"] > max(ids)
    db.close()
