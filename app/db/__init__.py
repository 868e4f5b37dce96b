"""Database access: connections, a per-process pool, and small helpers.

SQL stays visible and parameterised; modules that need the database take a connection
as their first argument.
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
from collections.abc import Iterator

import psycopg2
import psycopg2.extensions
import psycopg2.pool

from app.errors import ConfigError, ServiceUnavailable


def connect(url: str, connect_timeout: int = 5, **kwargs) -> psycopg2.extensions.connection:
    try:
        return psycopg2.connect(url, connect_timeout=connect_timeout, **kwargs)
    except psycopg2.OperationalError as exc:
        raise ServiceUnavailable("database", first_line(exc)) from exc
    except psycopg2.ProgrammingError as exc:  # malformed DSN
        raise ConfigError("DATABASE_URL", first_line(exc)) from exc


def check_url(url: str) -> None:
    """Raise ConfigError naming DATABASE_URL when the server cannot be reached or refuses us."""
    try:
        conn = connect(url)
    except ServiceUnavailable as exc:
        raise ConfigError("DATABASE_URL", f"cannot connect ({exc.problem})") from exc
    conn.close()


def first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class PreparingConnection(psycopg2.extensions.connection):
    """A connection that remembers which statements it has PREPAREd (see fetch_all_prepared)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.prepared: set[str] = set()


def _prepared(conn, name: str, sql: str, params: tuple) -> tuple[str, tuple | dict]:
    """The statement and parameters that run `sql` as a prepared statement on this session."""
    prepared = getattr(conn, "prepared", None)
    if prepared is None:
        named = {f"p{i}": value for i, value in enumerate(params, start=1)}
        return re.sub(r"\$(\d+)", r"%(p\1)s", sql), named
    if name not in prepared:
        with conn.cursor() as cur:
            cur.execute(f"PREPARE {name} AS {sql}")  # name: a constant of the caller's, never input
        prepared.add(name)
    return f"EXECUTE {name}({', '.join(['%s'] * len(params))})", params


def fetch_all_prepared(conn, name: str, sql: str, params: tuple) -> list[dict]:
    """fetch_all for a hot query, planned once per session: `sql` uses $1, $2 … placeholders.
    On a connection that cannot remember (not a PreparingConnection) it is executed plainly."""
    return fetch_all(conn, *_prepared(conn, name, sql, params))


POOL_WAIT_SECONDS = 10.0  # a request waits this long for a pooled connection, then 503


class Database:
    """A thread-safe pool that is recreated after fork (gunicorn workers fork after import)."""

    def __init__(self, url: str, maxconn: int = 8, **connect_kwargs):
        self.url = url
        self.maxconn = maxconn
        self.connect_kwargs = connect_kwargs
        self._pool: psycopg2.pool.ThreadedConnectionPool | None = None
        self._slots = threading.BoundedSemaphore(maxconn)
        self._pid = 0
        self._lock = threading.Lock()

    def _get_pool(self) -> psycopg2.pool.ThreadedConnectionPool:
        if self._pool is None or self._pid != os.getpid():
            with self._lock:
                if self._pool is None or self._pid != os.getpid():
                    try:
                        # minconn = maxconn: psycopg2's pool closes every returned connection beyond
                        # minconn, so a smaller minconn opened a new Postgres session per request.
                        self._pool = psycopg2.pool.ThreadedConnectionPool(
                            self.maxconn,
                            self.maxconn,
                            self.url,
                            connect_timeout=5,
                            connection_factory=PreparingConnection,
                            **self.connect_kwargs,
                        )
                    except psycopg2.OperationalError as exc:
                        raise ServiceUnavailable("database", first_line(exc)) from exc
                    # a thread waits for a free connection instead of psycopg2's "pool exhausted"
                    self._slots = threading.BoundedSemaphore(self.maxconn)
                    self._pid = os.getpid()
        return self._pool

    @contextlib.contextmanager
    def connection(self, autocommit: bool = False) -> Iterator[psycopg2.extensions.connection]:
        """A pooled connection inside a transaction: committed on success, rolled back on error.
        autocommit=True: each statement is its own transaction (no BEGIN/COMMIT round trips), for
        a hot path of reads that need not share one snapshot."""
        pool = self._get_pool()
        slots = self._slots
        if not slots.acquire(timeout=POOL_WAIT_SECONDS):
            raise ServiceUnavailable("database", f"all {self.maxconn} connections stayed busy")
        try:
            conn = pool.getconn()
        except psycopg2.OperationalError as exc:
            slots.release()
            raise ServiceUnavailable("database", first_line(exc)) from exc
        broken = False
        try:
            conn.autocommit = autocommit
            with conn:
                yield conn
        except (psycopg2.OperationalError, psycopg2.InterfaceError) as exc:
            broken = True
            raise ServiceUnavailable("database", first_line(exc)) from exc
        finally:
            try:
                if autocommit and not broken and conn.closed == 0:
                    conn.autocommit = False
                pool.putconn(conn, close=broken or conn.closed != 0)
            finally:
                slots.release()
            if broken:
                self._discard_idle(pool)

    @staticmethod
    def _discard_idle(pool: psycopg2.pool.ThreadedConnectionPool) -> None:
        """After a lost connection the idle ones are likely dead too (a restart, a network cut):
        close them so the next requests connect afresh instead of failing one by one."""
        with pool._lock:
            for idle in pool._pool:
                idle.close()
            pool._pool.clear()

    def close(self) -> None:
        if self._pool is not None and self._pid == os.getpid():
            self._pool.closeall()
        self._pool = None


def fetch_all(conn, sql: str, params: tuple | dict = ()) -> list[dict]:
    with conn.cursor() as cur:  # plain tuples zipped with the column names: cheaper than RealDictCursor
        cur.execute(sql, params)
        rows = cur.fetchall()
        if not rows:
            return []
        names = [column.name for column in cur.description]
        return [dict(zip(names, row, strict=True)) for row in rows]


def fetch_one(conn, sql: str, params: tuple | dict = ()) -> dict | None:
    with conn.cursor() as cur:
        cur.execute(sql, params)
        row = cur.fetchone()
        return None if row is None else dict(zip([column.name for column in cur.description], row, strict=True))
