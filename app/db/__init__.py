"""Database access: connections, a per-process pool, and small helpers.

SQL stays visible and parameterised; modules that need the database take a connection
as their first argument.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import socket
import threading
import time
from collections.abc import Iterator

import psycopg2
import psycopg2.extensions
import psycopg2.pool

from app.errors import ConfigError, ServiceUnavailable

log = logging.getLogger(__name__)


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


def fetch_rows_prepared(conn, name: str, sql: str, params: tuple) -> list[tuple]:
    """fetch_all_prepared's rows as plain tuples, in the statement's column order (for a NamedTuple built
    positionally: the hottest read, verification, skips the dict per row)."""
    with conn.cursor() as cur:
        cur.execute(*_prepared(conn, name, sql, params))
        return cur.fetchall()


SATURATED_SECONDS = 0.5  # every connection held longer than this: waiters give up at once (503)
POOL_WAIT_SECONDS = 10.0  # default wait for a pooled connection, then 503 (the API passes DB_POOL_WAIT)


class Watchdog:
    """Bounds, on the client side, how long a thread may hold a pooled connection.

    With the server stopped (SIGSTOP, a hung host) nothing server-side fires: statement_timeout
    is enforced by the stopped server, and the kernel keeps the socket alive. A thread blocked in
    libpq would wait for ever. One thread per process watches the checked-out connections; one
    held past its deadline has its socket shut down, which wakes the blocked libpq call with
    "server closed the connection" (the pool then discards it). Unlike a psycopg2 wait callback
    (green mode) this keeps COPY working and costs the hot path two dict operations."""

    TICK = 0.1

    def __init__(self):
        self._lock = threading.Lock()
        self._held: dict[int, tuple[psycopg2.extensions.connection, float, list]] = {}
        self._next = 0
        self._pid = 0

    def _ensure_thread(self) -> None:
        if self._pid != os.getpid():  # first use, or a forked child (threads do not survive fork)
            with self._lock:
                if self._pid != os.getpid():
                    self._held.clear()
                    threading.Thread(target=self._run, name="db-watchdog", daemon=True).start()
                    self._pid = os.getpid()

    def hold(self, conn, seconds: float) -> tuple[int, list]:
        self._ensure_thread()
        fired: list = []
        with self._lock:
            self._next += 1
            token = self._next
            self._held[token] = (conn, time.monotonic() + seconds, fired)
        return token, fired

    def release(self, token: int) -> None:
        with self._lock:
            self._held.pop(token, None)

    def _run(self) -> None:
        while True:
            time.sleep(self.TICK)
            now = time.monotonic()
            with self._lock:
                expired = [token for token, (_, deadline, _) in self._held.items() if deadline <= now]
                for token in expired:
                    conn, _, fired = self._held.pop(token)
                    fired.append(now)
                    self._cut(conn)

    @staticmethod
    def _cut(conn) -> None:
        try:
            fd = conn.fileno()
        except (psycopg2.InterfaceError, psycopg2.OperationalError):
            return  # already closed
        try:
            sock = socket.socket(fileno=os.dup(fd))
        except OSError as exc:
            log.warning("database watchdog could not take the socket", extra={"problem": str(exc)})
            return
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError as exc:
            log.warning("database watchdog could not shut the socket down", extra={"problem": str(exc)})
        finally:
            sock.close()


WATCHDOG = Watchdog()


class Breaker:
    """Once the database is known hung (a connection held past its deadline, or a connect that
    failed), requests that need it are refused at once for `seconds` instead of each waiting.
    Then one request probes; the others are refused until it succeeds or fails."""

    def __init__(self, seconds: float, probe_seconds: float = 30.0):
        self.seconds = seconds
        self.probe_seconds = probe_seconds  # a probe that neither succeeded nor failed by then is void
        self._open_until = 0.0
        self._probe_until = 0.0
        self._lock = threading.Lock()
        self.reason = ""

    def check(self) -> None:
        if self.seconds <= 0 or self._open_until == 0.0:
            return  # closed: the hot path reads one float
        with self._lock:
            now = time.monotonic()
            if now < self._open_until or now < self._probe_until:
                retry = max(1, round(self._open_until - now)) if now < self._open_until else 1
                raise ServiceUnavailable("database", f"known unavailable ({self.reason})", retry_after=retry)
            self._probe_until = now + self.probe_seconds  # half-open: this request probes

    def trip(self, reason: str) -> None:
        if self.seconds <= 0:
            return
        with self._lock:
            if self._open_until == 0.0:
                log.warning("database circuit opened", extra={"problem": reason, "seconds": self.seconds})
            self._open_until = time.monotonic() + self.seconds
            self._probe_until = 0.0
            self.reason = reason

    def succeeded(self) -> None:
        if self._open_until == 0.0:
            return
        with self._lock:
            if self._open_until and time.monotonic() >= self._open_until:
                log.warning("database circuit closed: the database answers again")
                self._open_until = 0.0
                self._probe_until = 0.0

    @property
    def is_open(self) -> bool:
        return self._open_until != 0.0 and time.monotonic() < self._open_until


class Database:
    """A thread-safe pool that is recreated after fork (gunicorn workers fork after import).

    Bounds, all optional: connect_timeout (libpq), statement_timeout (seconds, set on each session
    by the server), hold_timeout (client side: the longest a thread may hold a connection, see
    Watchdog), pool_wait (the longest a thread waits for a free connection) and breaker_seconds
    (see Breaker). Each breach is a ServiceUnavailable (503 with Retry-After in the API)."""

    def __init__(
        self,
        url: str,
        maxconn: int = 8,
        *,
        connect_timeout: float = 5,
        statement_timeout: float | None = None,
        hold_timeout: float | None = None,
        pool_wait: float = POOL_WAIT_SECONDS,
        breaker_seconds: float = 0.0,
        **connect_kwargs,
    ):
        self.url = url
        self.maxconn = maxconn
        self.connect_timeout = max(2, round(connect_timeout))  # libpq's minimum is 2 s
        self.hold_timeout = hold_timeout
        self.pool_wait = pool_wait
        self.breaker = Breaker(breaker_seconds, (hold_timeout or 30.0) + pool_wait + connect_timeout)
        if statement_timeout:
            option = f"-c statement_timeout={round(statement_timeout * 1000)}"
            connect_kwargs["options"] = (
                f"{connect_kwargs['options']} {option}" if "options" in connect_kwargs else option
            )
        self.connect_kwargs = connect_kwargs
        self._pool: psycopg2.pool.ThreadedConnectionPool | None = None
        self._held: dict[int, float] = {}  # watchdog token -> when the connection was taken
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
                            connect_timeout=self.connect_timeout,
                            connection_factory=PreparingConnection,
                            **self.connect_kwargs,
                        )
                    except psycopg2.OperationalError as exc:
                        self.breaker.trip(first_line(exc))
                        raise ServiceUnavailable("database", first_line(exc)) from exc
                    # a thread waits for a free connection instead of psycopg2's "pool exhausted"
                    self._slots = threading.BoundedSemaphore(self.maxconn)
                    self._pid = os.getpid()
        return self._pool

    def _acquire_slot(self, slots: threading.BoundedSemaphore) -> None:
        if slots.acquire(blocking=False):
            return
        deadline = time.monotonic() + self.pool_wait
        while True:  # in slices, so that waiters leave as soon as the breaker opens
            self.breaker.check()
            now = time.monotonic()
            remaining = deadline - now
            if remaining <= 0:
                raise ServiceUnavailable("database", f"all {self.maxconn} connections stayed busy")
            if self.hold_timeout and self._held and now - max(self._held.values()) > SATURATED_SECONDS:
                # every connection has been held for a while (a healthy pool turns over in
                # milliseconds): a hung or overloaded database. Waiting would only tie this
                # thread up too, and the worker's last free thread is what /healthz needs.
                raise ServiceUnavailable("database", f"all {self.maxconn} connections held over {SATURATED_SECONDS}s")
            if slots.acquire(timeout=min(remaining, 0.1)):
                return

    @contextlib.contextmanager
    def connection(
        self, autocommit: bool = False, timeout: float | None = None
    ) -> Iterator[psycopg2.extensions.connection]:
        """A pooled connection inside a transaction: committed on success, rolled back on error.
        autocommit=True: each statement is its own transaction (no BEGIN/COMMIT round trips), for
        a hot path of reads that need not share one snapshot. timeout: a longer bound than
        hold_timeout (and statement_timeout) for this transaction only, for known bulk work."""
        self.breaker.check()
        pool = self._get_pool()
        slots = self._slots
        self._acquire_slot(slots)
        try:
            conn = pool.getconn()
        except psycopg2.OperationalError as exc:
            slots.release()
            self.breaker.trip(first_line(exc))
            raise ServiceUnavailable("database", first_line(exc)) from exc
        except psycopg2.pool.PoolError as exc:  # closed by close() since _get_pool (shutting down)
            slots.release()
            raise ServiceUnavailable("database", "the connection pool is closed") from exc
        broken = False
        hold = timeout or self.hold_timeout
        token, fired = WATCHDOG.hold(conn, hold) if hold else (0, None)
        if token:
            self._held[token] = time.monotonic()
        try:
            conn.autocommit = autocommit
            with conn:
                if timeout and not autocommit:
                    with conn.cursor() as cur:
                        cur.execute("SET LOCAL statement_timeout = %s", (round(timeout * 1000),))
                yield conn
        except (psycopg2.OperationalError, psycopg2.InterfaceError) as exc:
            broken = conn.closed != 0 or not isinstance(exc, psycopg2.errors.QueryCanceled)
            if fired:
                self.breaker.trip(f"no answer within {hold:g}s")
                raise ServiceUnavailable(
                    "database", f"no answer within {hold:g}s", retry_after=self.breaker.seconds or 5
                ) from exc
            raise ServiceUnavailable("database", first_line(exc)) from exc
        else:
            self.breaker.succeeded()
        finally:
            if token:
                WATCHDOG.release(token)
                self._held.pop(token, None)
                broken = broken or bool(fired)  # cut just after the work was done: not reusable
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

    @classmethod
    def for_worker(cls, settings, url: str, maxconn: int) -> Database:
        """The relayer's, indexer's and detector's pool: a hung database makes their round fail
        with ServiceUnavailable after DB_WORKER_TIMEOUT (they log it and retry), never hang."""
        return cls(
            url,
            maxconn=maxconn,
            connect_timeout=settings.db_connect_timeout,
            hold_timeout=settings.db_worker_timeout,
            pool_wait=max(settings.db_pool_wait, 10.0),
        )

    def close(self) -> None:
        if self._pool is not None and self._pid == os.getpid() and not self._pool.closed:
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
