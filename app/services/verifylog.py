"""The verification log's writer: rows are buffered in the API process and written in batches
(COPY) by a background thread, every VERIFY_LOG_FLUSH_SECONDS or every 1,000 rows.

Why not one INSERT per verification: measured with `make bench-verify`, the per-request INSERT and
its commit cost about as much as the verification itself (1,067 verifications/s with it, 1,630/s
without). A batch costs a few microseconds per row.

What that trades: a row waits in memory for at most the flush interval. A worker stopped normally
(SIGTERM, a gunicorn reload) flushes first; a worker killed outright (SIGKILL, OOM) loses the rows
of its last interval. If the database cannot take the rows, they are kept and retried; once
VERIFY_LOG_BACKLOG rows are waiting, verifications are refused (503) rather than left unlogged.

The log is partitioned by month (migration 0008). The writer makes sure the next MONTHS_AHEAD
months' tables exist, hourly and whenever a row found no month to go to (such a row stays queued),
and, with VERIFY_LOG_RETENTION_MONTHS set, drops the months older than that.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time

import psycopg2
import psycopg2.errors

from app.db import Database
from app.db import verifications as verifications_db
from app.errors import ServiceUnavailable

log = logging.getLogger(__name__)

COLUMNS = verifications_db.COLUMNS
BATCH = 1000
MONTHS_AHEAD = 3
MAINTAIN_SECONDS = 3600.0
MAINTAIN_RETRY_SECONDS = 60.0


class VerificationLog:
    def __init__(self, db: Database, flush_seconds: float = 0.05, backlog: int = 100_000, retention_months: int = 0):
        self.db = db
        self.flush_seconds = flush_seconds
        self.backlog = backlog
        self.retention_months = retention_months  # 0: keep every month
        self._maintain_at = 0.0  # monotonic time of the next month check
        self._rows: list[tuple] = []
        self._lock = threading.Lock()  # guards _rows
        self._flushing = threading.Lock()  # one writer at a time keeps the log in order
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._failures = 0
        self._inflight = 0  # rows taken by the writer, not yet committed

    def append(self, row: dict) -> None:
        """Queue one verification (a dict with the COLUMNS; `at` is filled in when missing)."""
        values = tuple(row.get(c) for c in COLUMNS)
        if values[0] is None:
            values = (time.time(), *values[1:])
        with self._lock:
            if len(self._rows) + self._inflight >= self.backlog:
                raise ServiceUnavailable("database", "the verification log cannot be written")
            self._rows.append(values)
            pending = len(self._rows)
        self._start()
        if pending >= BATCH:
            self._wake.set()

    def pending(self) -> int:
        """Rows not yet committed to the database."""
        with self._lock:
            return len(self._rows) + self._inflight

    def flush(self) -> int:
        """Write every row queued when called; returns how many. Raises what the database raised (the rows
        stay queued). Rows queued meanwhile wait for the next flush: taking them too kept the writer in a loop
        of COPYs of a few rows each under load (each with its own transaction, 4x the CPU per row)."""
        written = 0
        with self._flushing:
            if self._rows and time.monotonic() >= self._maintain_at:  # nothing to write: nothing to check
                self._maintain_when_due()
            with self._lock:
                left = len(self._rows)
            while True:
                with self._lock:
                    batch, self._rows = self._rows[: min(BATCH, left)], self._rows[min(BATCH, left) :]
                    self._inflight = len(batch)
                    left -= len(batch)
                if not batch:
                    return written
                try:
                    with self.db.connection() as conn:
                        verifications_db.copy_verifications(conn, [_stamped(r) for r in batch])
                except psycopg2.DataError:
                    written += self._one_by_one(batch)  # a row Postgres refuses must not block the rest
                    continue
                except Exception as exc:
                    if isinstance(exc, psycopg2.errors.CheckViolation):
                        self._maintain_at = 0.0  # no month for a row: make the months before the retry
                    with self._lock:
                        self._rows[:0] = batch  # back in front, in order
                        self._inflight = 0
                    raise
                with self._lock:
                    self._inflight = 0
                written += len(batch)

    def maintain(self) -> tuple[int, int]:
        """Create the monthly tables up to MONTHS_AHEAD months from now, and drop those past the
        retention; returns (made, dropped). Workers serialise on an advisory lock."""
        with self.db.connection() as conn:
            made, dropped = verifications_db.maintain_months(conn, MONTHS_AHEAD, self.retention_months)
        if made or dropped:
            log.info("verification log: %d month table(s) made, %d dropped (retention %d months)", made, dropped,
                     self.retention_months)  # fmt: skip
        return made, dropped

    def _maintain_when_due(self) -> None:
        try:
            self.maintain()
            self._maintain_at = time.monotonic() + MAINTAIN_SECONDS
        except Exception as exc:  # the database is down: the rows wait anyway; try again soon
            log.warning("verification log: month tables not checked (%s)", type(exc).__name__)
            self._maintain_at = time.monotonic() + MAINTAIN_RETRY_SECONDS

    def _one_by_one(self, batch: list[tuple]) -> int:
        """Write a batch Postgres refused row by row; a row it refuses on its own is reported and
        dropped (it can never be written). If the database goes away meanwhile, the rest go back."""
        written = 0
        for i, values in enumerate(batch):
            try:
                with self.db.connection() as conn:
                    verifications_db.copy_verifications(conn, [_stamped(values)])
                written += 1
            except psycopg2.DataError as exc:
                kept = {c: v for c, v in zip(COLUMNS, values, strict=True) if c in ("channel", "organisation_id")}
                log.error("verification log row refused by the database, dropped: %s (%s)",
                          str(exc).splitlines()[0], kept)  # fmt: skip
            except Exception:
                with self._lock:
                    self._rows[:0] = batch[i:]
                    self._inflight = 0
                raise
        with self._lock:
            self._inflight = 0
        return written

    def _start(self) -> None:
        if self._thread is not None and self._pid == os.getpid():
            return
        with self._lock:
            if self._thread is not None and self._pid == os.getpid():
                return
            self._pid = os.getpid()  # after a fork the parent's thread does not exist here
            self._thread = threading.Thread(target=self._run, name="verification-log", daemon=True)
            self._thread.start()
            atexit.register(self.close)

    def _run(self) -> None:
        while True:
            self._wake.wait(self.flush_seconds if not self._failures else min(5.0, 0.1 * 2**self._failures))
            self._wake.clear()
            try:
                self.flush()
                self._failures = 0
            except Exception as exc:  # the database is down or refuses: keep the rows, retry with backoff
                self._failures += 1
                log.warning("verification log not written yet (%s); %d rows waiting", type(exc).__name__,
                            self.pending())  # fmt: skip

    def close(self) -> None:
        """Flush what is queued (at exit): a normal stop loses nothing."""
        if self._pid != os.getpid():
            return
        try:
            self.flush()
        except Exception as exc:
            log.error("verification log: %d rows could not be written at exit (%s)", self.pending(), exc)


def _stamped(row: tuple) -> tuple:
    from datetime import UTC, datetime

    return (datetime.fromtimestamp(row[0], UTC).isoformat(), *row[1:])
