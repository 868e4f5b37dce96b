"""Process plumbing shared by the CLI commands: the database scope, child processes, and the
`up` supervisor that starts everything and stops everything it started."""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import psycopg2
from psycopg2 import sql

from app.config import Settings
from app.db import check_url
from app.db.embedded import EmbeddedPostgres
from app.errors import ConfigError

log = logging.getLogger(__name__)
EMBEDDED_DB_NAME = "pharmatrack"


def _ensure_database(admin_url: str, name: str) -> None:
    conn = psycopg2.connect(admin_url)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            if cur.fetchone() is None:
                cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    finally:
        conn.close()


@contextlib.contextmanager
def database(settings: Settings) -> Iterator[str]:
    """DATABASE_URL when set (checked reachable); else the embedded server in the data folder,
    started if needed and stopped on exit when this scope started it."""
    if settings.database_url:
        check_url(settings.database_url)
        yield settings.database_url
        return
    embedded = EmbeddedPostgres(settings.data_dir / "postgres")
    embedded.start()
    try:
        _ensure_database(embedded.url("postgres"), EMBEDDED_DB_NAME)
        yield embedded.url(EMBEDDED_DB_NAME)
    finally:
        embedded.stop()


def _die_with_parent() -> None:
    """Runs in the child before exec: ask Linux to SIGTERM it if the parent dies, so a killed
    `up` leaves no orphans behind."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        return


def spawn(args: list[str], env: dict[str, str], name: str) -> subprocess.Popen:
    log.info("starting %s", name, extra={"argv": args[:4]})
    return subprocess.Popen(args, env=env, start_new_session=True, preexec_fn=_die_with_parent)  # noqa: PLW1509


def stop_process(proc: subprocess.Popen, timeout: float = 15.0) -> None:
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout)


def gunicorn_args(settings: Settings) -> list[str]:
    return [
        sys.executable, "-m", "gunicorn",
        "--workers", str(settings.web_concurrency),
        "--worker-class", "gthread",
        "--threads", str(settings.web_threads),
        "--bind", f"{settings.host}:{settings.port}",
        "--access-logfile", "-",
        "--graceful-timeout", "10",
        "--timeout", "60",
        "--limit-request-line", "8190",  # gunicorn's most: a 512-character code %-encoded as UTF-8 is up to 6 KB
        "app.wsgi:app",
    ]  # fmt: skip


def wait_ready(url: str, timeout: float, proc: subprocess.Popen | None = None) -> dict:
    """Poll /readyz until it answers 200; raise ConfigError on timeout or if proc exits."""
    import json

    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise ConfigError("PORT", f"the API exited with code {proc.returncode} while starting (is the port taken?)")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:  # noqa: S310 - our own http API URL
                return json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            last = f"HTTP {exc.code}: {exc.read()[:300].decode(errors='replace')}"
        except (urllib.error.URLError, OSError) as exc:
            last = str(exc)
        time.sleep(0.3)
    raise ConfigError("PORT", f"{url} not ready after {timeout:.0f}s ({last})")


class Interrupted(BaseException):
    """SIGINT/SIGTERM arrived while starting up: unwind and stop what was started. A
    BaseException, so no `except Exception` on the way out can swallow it."""


class StopSignal:
    """SIGINT/SIGTERM set an event, so a running loop shuts down in order. While `starting`,
    they raise Interrupted instead, so a long start-up (deploy, wait for readiness, demo) is
    abandoned at once and everything already started is stopped by the caller's unwinding."""

    def __init__(self, starting: bool = False):
        self.event = threading.Event()
        self.received: int | None = None
        self.starting = starting

    def _handler(self, signum, frame):
        self.received = signum
        self.event.set()
        if self.starting:
            raise Interrupted(signal.Signals(signum).name)

    def check(self) -> None:
        """Raise Interrupted if a signal came during start-up. The handler raises too, but an
        exception raised inside a callback the interpreter runs (a weakref callback, a __del__)
        is printed and dropped, so start-up checks again between its steps."""
        if self.starting and self.event.is_set():
            raise Interrupted(signal.Signals(self.received).name)

    def started(self) -> None:
        """Start-up is over: from now on a signal only sets the event."""
        self.check()
        self.starting = False

    def __enter__(self) -> StopSignal:
        self._old = {s: signal.signal(s, self._handler) for s in (signal.SIGINT, signal.SIGTERM)}
        return self

    def __exit__(self, *exc) -> None:
        for s, old in self._old.items():
            signal.signal(s, old)
