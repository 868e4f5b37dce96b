"""A hung database (the whole Postgres SIGSTOPped) gives 503 problem documents with Retry-After
within a few seconds, /healthz keeps answering, and the API recovers by itself after SIGCONT.

The Postgres stopped here is a dedicated embedded server started by the test, never the shared one."""

from __future__ import annotations

import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import psutil
import psycopg2
import pytest

from app.db import Database, migrate
from app.db.embedded import EmbeddedPostgres
from app.errors import ServiceUnavailable


@pytest.fixture
def own_postgres(tmp_path):
    server = EmbeddedPostgres(tmp_path / "pg")
    server.start()
    admin = psycopg2.connect(server.url("postgres"))
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute("CREATE DATABASE hung")
    admin.close()
    url = server.url("hung")
    migrate.apply(url)
    postmaster = int((tmp_path / "pg" / "postmaster.pid").read_text().splitlines()[0])
    stopped: list[psutil.Process] = []

    def stop():
        procs = [psutil.Process(postmaster), *psutil.Process(postmaster).children(recursive=True)]
        for proc in procs:
            proc.send_signal(signal.SIGSTOP)
            stopped.append(proc)

    def resume():
        while stopped:
            proc = stopped.pop()
            if proc.is_running():
                proc.send_signal(signal.SIGCONT)

    yield url, stop, resume
    resume()
    server.stop()


def test_a_hung_database_gives_503_with_retry_after_and_healthz_stays_up(own_postgres, anvil, gunicorn_factory):
    url, stop, resume = own_postgres
    server = gunicorn_factory(url, anvil.rpc_url, DB_REQUEST_TIMEOUT="2", DB_BREAKER_SECONDS="2", DB_POOL_WAIT="1")
    assert server.request("GET", "/v1/me").status == 200
    worker = server.worker_pids()
    stop()
    try:
        started = time.monotonic()
        with ThreadPoolExecutor(8) as pool:  # more requests than the worker has threads
            reads = [pool.submit(server.request, "GET", "/v1/me", timeout=30) for _ in range(6)]
            writes = [pool.submit(server.request, "POST", "/v1/dispensations", b'{"units": []}', timeout=30)
                      for _ in range(2)]  # fmt: skip
            time.sleep(0.5)  # the request threads are now held by the stopped database
            health = [server.request("GET", "/healthz", key=None, timeout=30) for _ in range(3)]
            answers = [f.result() for f in reads + writes]
        for answer in answers:
            assert answer.status == 503, answer
            assert answer.headers["Content-Type"] == "application/problem+json"
            assert int(answer.headers["Retry-After"]) >= 1
            assert answer.json()["detail"] == "the database is unavailable; retry later"
            assert answer.seconds < 10, answer  # the bound is 2 s held + 1 s pool wait; generous: no hang
        assert time.monotonic() - started < 15
        print(f"hung database: 503s after {min(a.seconds for a in answers):.2f}..{max(a.seconds for a in answers):.2f} s, "
              f"/healthz in {[round(a.seconds, 3) for a in health]} s; {sorted(round(a.seconds, 2) for a in answers)}")  # fmt: skip
        for answer in health:
            assert answer.status == 200 and answer.seconds < 5, answer
        # once known hung, the next request is refused at once (the breaker), not after the bound
        quick = server.request("GET", "/v1/me")
        assert quick.status == 503 and "Retry-After" in quick.headers
    finally:
        resume()
    resumed = time.monotonic()
    deadline = resumed + 30
    while (answer := server.request("GET", "/v1/me")).status != 200:
        assert time.monotonic() < deadline, f"the API did not recover after SIGCONT: {answer}"
        time.sleep(0.3)
    print(f"recovered {time.monotonic() - resumed:.2f} s after SIGCONT")
    assert server.worker_pids() == worker  # no worker was lost on the way
    assert server.proc.poll() is None


def test_a_connection_held_past_its_bound_is_cut_and_the_breaker_opens(database_url):
    db = Database(database_url, maxconn=2, hold_timeout=1.0, breaker_seconds=30)
    started = time.monotonic()
    with pytest.raises(ServiceUnavailable) as caught, db.connection() as conn, conn.cursor() as cur:
        cur.execute("SELECT pg_sleep(20)")
    assert time.monotonic() - started < 5
    assert caught.value.retry_after == 30
    assert "no answer within 1s" in caught.value.problem
    started = time.monotonic()
    with pytest.raises(ServiceUnavailable) as again, db.connection():
        raise AssertionError("the breaker should refuse before a connection is handed out")
    assert time.monotonic() - started < 0.5 and "known unavailable" in again.value.problem
    db.close()


def test_the_breaker_lets_one_probe_through_and_closes_on_success(database_url):
    db = Database(database_url, maxconn=2, hold_timeout=1.0, breaker_seconds=0.5)
    db.breaker.trip("test")
    with pytest.raises(ServiceUnavailable):
        db.breaker.check()
    time.sleep(0.6)
    probe = threading.Event()
    refused = []

    def other():
        probe.wait(5)
        try:
            db.breaker.check()
        except ServiceUnavailable as exc:
            refused.append(exc)

    t = threading.Thread(target=other)
    t.start()
    with db.connection() as conn:  # this thread is the probe
        probe.set()
        t.join(5)
        assert len(refused) == 1  # while the probe runs, the others are refused
        with conn.cursor() as cur:
            cur.execute("SELECT 1")
    assert not db.breaker.is_open
    with db.connection() as conn, conn.cursor() as cur:
        cur.execute("SELECT 1")
    db.close()


def test_the_background_services_bound_their_database_too(database_url, settings):
    db = Database.for_worker(settings.replace(db_worker_timeout=1.0), database_url, maxconn=1)
    started = time.monotonic()
    with pytest.raises(ServiceUnavailable), db.connection() as conn, conn.cursor() as cur:
        cur.execute("SELECT pg_sleep(20)")
    assert time.monotonic() - started < 5
    with db.connection() as conn, conn.cursor() as cur:  # no breaker for them: the next round retries
        cur.execute("SELECT 1")
        assert cur.fetchone() == (1,)
    db.close()


def test_a_probe_that_never_concludes_does_not_keep_the_breaker_open():
    from app.db import Breaker

    breaker = Breaker(0.2, probe_seconds=0.5)
    breaker.trip("test")
    time.sleep(0.3)
    breaker.check()  # this caller probes, and then (say) fails on something else than the database
    with pytest.raises(ServiceUnavailable):
        breaker.check()  # the others wait for the probe
    deadline = time.monotonic() + 10
    while True:  # after probe_seconds another caller may probe
        try:
            breaker.check()
            break
        except ServiceUnavailable:
            assert time.monotonic() < deadline, "the breaker stayed open for good"
            time.sleep(0.05)
    breaker.succeeded()
    assert not breaker.is_open
    breaker.check()
