"""Database access: connections, a per-process pool, and small helpers.

SQL stays visible and parameterised; modules that need the database take a connection
as their first argument.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator

import psycopg2
import psycopg2.extensions
import psycopg2.pool
from psycopg2.extras import RealDictCursor

from app.errors import ConfigError, ServiceUnavailable


def connect(url: str, connect_timeout: int = 5, **kwargs) -> psycopg2.extensions.connection:
    try:
        return psycopg2.connect(url, connect_timeout=connect_timeout, **kwargs)
    except psycopg2.OperationalError as exc:
        raise ServiceUnavailable("database", _first_line(exc)) from exc
    except psycopg2.ProgrammingError as exc:  # malformed DSN
        raise ConfigError("DATABASE_URL", _first_line(exc)) from exc


def check_url(url: str) -> None:
    """Raise ConfigError naming DATABASE_URL when the server cannot be reached or refuses us."""
    try:
        conn = connect(url)
    except ServiceUnavailable as exc:
        raise ConfigError("DATABASE_URL", f"cannot connect ({exc.problem})") from exc
    conn.close()


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class Database:
    """A thread-safe pool that is recreated after fork (gunicorn workers fork after import)."""

    def __init__(self, url: str, maxconn: int = 8, **connect_kwargs):
        self.url = url
        self.maxconn = maxconn
        self.connect_kwargs = connect_kwargs
        self._pool: psycopg2.pool.ThreadedConnectionPool | None = None
        self._pid = 0
        self._lock = threading.Lock()

    def _get_pool(self) -> psycopg2.pool.ThreadedConnectionPool:
        if self._pool is None or self._pid != os.getpid():
            with self._lock:
                if self._pool is None or self._pid != os.getpid():
                    try:
                        self._pool = psycopg2.pool.ThreadedConnectionPool(
                            0, self.maxconn, self.url, connect_timeout=5, **self.connect_kwargs
                        )
                    except psycopg2.OperationalError as exc:
                        raise ServiceUnavailable("database", _first_line(exc)) from exc
                    self._pid = os.getpid()
        return self._pool

    @contextlib.contextmanager
    def connection(self) -> Iterator[psycopg2.extensions.connection]:
        """A pooled connection inside a transaction: committed on success, rolled back on error."""
        pool = self._get_pool()
        try:
            conn = pool.getconn()
        except psycopg2.OperationalError as exc:
            raise ServiceUnavailable("database", _first_line(exc)) from exc
        broken = False
        try:
            with conn:
                yield conn
        except (psycopg2.OperationalError, psycopg2.InterfaceError) as exc:
            broken = True
            raise ServiceUnavailable("database", _first_line(exc)) from exc
        finally:
            pool.putconn(conn, close=broken or conn.closed != 0)

    def close(self) -> None:
        if self._pool is not None and self._pid == os.getpid():
            self._pool.closeall()
        self._pool = None


def fetch_all(conn, sql: str, params: tuple | dict = ()) -> list[dict]:
    with conn.cursor(cursor_factory=RealDictCursor) as cur:
        cur.execute(sql, params)
        return [dict(row) for row in cur.fetchall()]


def fetch_one(conn, sql: str, params: tuple | dict = ()) -> dict | None:
    with conn.cursor(cursor_factory=RealDictCursor) as cur:
        cur.execute(sql, params)
        row = cur.fetchone()
        return dict(row) if row is not None else None
