import pytest

from app.db import Database
from app.errors import ServiceUnavailable


def test_a_pool_closed_under_a_waiting_thread_is_a_503_and_frees_the_slot(empty_database_url):
    """close() may run (at shutdown, or a test's teardown) between a thread taking the pool and
    asking it for a connection: that thread gets ServiceUnavailable, which background loops (the
    rate-limit flusher, the verification log) handle, not psycopg2's PoolError, which killed one."""
    db = Database(empty_database_url, maxconn=1)
    with db.connection() as conn, conn.cursor() as cur:
        cur.execute("SELECT 1")
    db._get_pool().closeall()  # closed as if by another thread, after this one took the pool
    with pytest.raises(ServiceUnavailable, match="pool is closed"), db.connection():
        pass
    assert db._slots.acquire(timeout=0)  # the one slot was given back
    db._slots.release()
    db.close()
