"""Rate limits: failed authentications per client address, and requests per API key.

Fixed windows of RATE_LIMIT_WINDOW_SECONDS, counted in Postgres (``rate_limit_counters``, an
UNLOGGED table, migration 0011), so every gunicorn worker and every API process shares them with
nothing more than the database the project always has (no Redis). Over the limit: 429 problem
document with ``Retry-After`` (seconds to the window's end).

Cost, chosen so that the verify hot path pays no database round trip:

- Failed authentications (RATE_LIMIT_AUTH_FAILURES per address): each failure is counted in the
  database at once (an attacker's requests pay the round trip, which they cost anyway: the key
  lookup). A process that sees an address over the limit remembers it until the window ends and
  refuses it before any key lookup. Other processes learn it on that address's next failure, so
  at most one extra failure per process gets through. Requests with a key still in the key cache
  (API_KEY_CACHE_SECONDS) are not refused by the address block: a valid key holder behind the
  same NAT keeps working.
- Requests per key (RATE_LIMIT_KEY_REQUESTS): counted in memory per process; a background thread
  adds the counts to the shared table once a second (one statement for all keys) and reads back
  every key's total. A request is refused when the last shared total plus this process's count
  since exceeds the limit, so the limit holds across processes to within one second of traffic.
  If the database is down those counts are dropped (logged): the limit fails open, and requests
  are never refused because the counters cannot be written.

The client address is the peer's (``request.remote_addr``); behind a reverse proxy, configure
werkzeug's ProxyFix so that it is the client's.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from collections import Counter

import psycopg2
from flask import Response

from app.db import Database, first_line, ratelimits
from app.errors import ServiceUnavailable

log = logging.getLogger(__name__)

MAX_BLOCKED = 100_000  # remembered addresses per process (a flood of addresses clears the memory)


class RateLimiter:
    def __init__(self, db: Database, window: int, auth_failures: int, key_requests: int, flush_seconds: float = 1.0):
        self.db = db
        self.window = window
        self.auth_failures = auth_failures
        self.key_requests = key_requests
        self.flush_seconds = flush_seconds
        self._lock = threading.Lock()
        self._blocked: dict[str, float] = {}  # address -> end of the window it is blocked in
        self._window_start = 0
        self._local: Counter[str] = Counter()  # key hits not yet added to the shared table
        self._shared: dict[str, int] = {}  # every key's shared total at the last flush
        self._pid = 0
        self._last_expiry = 0.0

    # ------------------------------------------------------------------ windows

    def _window_of(self, now: float) -> int:
        return int(now // self.window) * self.window

    def _retry_after(self, now: float) -> int:
        return max(1, math.ceil(self._window_of(now) + self.window - now))

    # ------------------------------------------------------------------ failed authentication

    def address_blocked(self, address: str | None) -> int | None:
        """Retry-After seconds when this address is known to be over its failure limit."""
        if not self.auth_failures or not self._blocked:
            return None
        until = self._blocked.get(address or "")
        now = time.time()
        if until is None or until <= now:
            return None
        return max(1, math.ceil(until - now))

    def failed(self, address: str | None) -> int | None:
        """Count a failed authentication; Retry-After seconds when the address is now over the limit."""
        if not self.auth_failures:
            return None
        now = time.time()
        start = self._window_of(now)
        bucket = f"auth:{address or ''}"
        with self.db.connection() as conn:
            hits = ratelimits.add_hits(conn, start, {bucket: 1})[bucket]
        if hits <= self.auth_failures:
            return None
        with self._lock:
            if len(self._blocked) >= MAX_BLOCKED:
                self._blocked.clear()
            self._blocked[address or ""] = start + self.window
        return self._retry_after(now)

    # ------------------------------------------------------------------ per key

    def hit(self, key_prefix: str) -> int | None:
        """Count a request by this key; Retry-After seconds when the key is over its limit."""
        if not self.key_requests:
            return None
        if self._pid != os.getpid():
            self._start_flusher()
        now = time.time()
        start = self._window_of(now)
        with self._lock:
            if start != self._window_start:
                self._window_start = start
                self._local.clear()
                self._shared = {}
            self._local[key_prefix] += 1
            total = self._shared.get(key_prefix, 0) + self._local[key_prefix]
        if total > self.key_requests:
            return self._retry_after(now)
        return None

    def _start_flusher(self) -> None:
        with self._lock:
            if self._pid == os.getpid():
                return
            self._pid = os.getpid()  # threads do not survive fork: one flusher per process
            self._local.clear()
            threading.Thread(target=self._flush_forever, name="rate-limit-flush", daemon=True).start()

    def _flush_forever(self) -> None:
        while True:
            time.sleep(self.flush_seconds)
            try:
                self.flush()
            except ServiceUnavailable as exc:  # fail open: this second's counts are dropped
                log.warning("rate limit counts not shared", extra={"problem": exc.problem})
            except psycopg2.Error as exc:  # e.g. the table not migrated yet: the thread must live on
                log.warning("rate limit counts not shared", extra={"problem": first_line(exc)})

    def flush(self) -> None:
        """Add this process's key counts to the shared table and read back the totals."""
        with self._lock:
            start, counts = self._window_start, dict(self._local)
            self._local.clear()
        if not counts:
            return
        with self.db.connection() as conn:
            added = ratelimits.add_hits(conn, start, {f"key:{k}": n for k, n in counts.items()})
            totals = {bucket[4:]: hits for bucket, hits in added.items()}
            if time.time() - self._last_expiry > self.window:
                ratelimits.expire_windows(conn, start - self.window)
                self._last_expiry = time.time()
        with self._lock:
            if self._window_start == start:
                self._shared.update(totals)


def too_many(retry_after: int, what: str, header: str = "Authorization") -> Response:
    from app.api.problems import problem

    resp = problem(
        429,
        "Too Many Requests",
        f"{what}; retry in {retry_after} s",
        errors={"headers": {header: [f"rate_limited: {what}"]}},
    )
    resp.headers["Retry-After"] = str(retry_after)
    return resp
