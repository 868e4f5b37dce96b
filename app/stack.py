"""Process plumbing shared by the CLI commands: the database scope, child processes, and the
`up` supervisor that starts everything and stops everything it started."""

from __future__ import annotations

import contextlib
import ctypes
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from app.config import Settings
from app.db import check_url
from app.db.embedded import EmbeddedPostgres, ensure_database
from app.detector import hooks as detector_hooks
from app.errors import ConfigError, PharmatrackError
from app.relayer import hooks as relayer_hooks
from app.services.epcis import subscriptions

log = logging.getLogger(__name__)
EMBEDDED_DB_NAME = "pharmatrack"


def indexer_hooks() -> dict[str, list]:
    """What follows the chain mirror, for every Indexer a starter builds (`Indexer(..., **indexer_hooks())`):
    on a rollback (reorg) the relayer's confirmations in the removed blocks are reopened, and the
    detector's cursor and the EPCIS subscriptions' scans move back; on a reset (a new chain) the
    detector's cursor and the subscriptions' scans start over (the relayer voids its own transactions
    when it adopts the new chain). The indexer never writes those tables itself, and cannot import the
    relayer, the detector or the services: the wiring is here."""
    return {
        "on_rollback": [
            relayer_hooks.on_mirror_rollback,
            detector_hooks.on_mirror_rollback,
            subscriptions.on_mirror_rollback,
        ],
        "on_reset": [detector_hooks.on_mirror_reset, subscriptions.on_mirror_reset],
    }


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
        ensure_database(embedded.url("postgres"), EMBEDDED_DB_NAME)
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
        if self.event.is_set():
            return  # already stopping: a second Ctrl-C must not cut the orderly stop short
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


# ---------------------------------------------------------------------------------- supervisor

BACKOFF_FIRST = 0.5  # seconds before the first restart; doubled for each further failure in the window
BACKOFF_MAX = 15.0


class ChildFailing(PharmatrackError):
    """A child kept dying: the supervisor gives up and stops the stack (exit status 1)."""


def describe_exit(returncode: int | None) -> str:
    """'exit code 3' or 'signal SIGKILL', as a log line and the status file say it."""
    if returncode is None:
        return "running"
    if returncode < 0:
        try:
            return f"signal {signal.Signals(-returncode).name}"
        except ValueError:
            return f"signal {-returncode}"
    return f"exit code {returncode}"


@dataclass
class Child:
    """One supervised process: `start` spawns it (and returns it), `stop` ends it."""

    name: str
    start: Callable[[], subprocess.Popen]
    stop: Callable[[subprocess.Popen], None] = stop_process
    proc: subprocess.Popen | None = None
    restarts: int = 0
    failures: deque = field(default_factory=deque)  # monotonic times of recent failures
    restart_at: float | None = None  # when a dead child is due to start again
    last_exit: str | None = None
    started_at: float = 0.0


class Supervisor:
    """Keeps the stack's children running: a child that dies is started again after a backoff
    (0.5 s, doubling per further failure within the window, at most 15 s); one that fails
    `max_failures` times within `window` seconds makes `poll` raise ChildFailing, and the caller
    stops everything. Restart counts go to a small JSON file in the data folder, which the API's
    /metrics reads: the supervisor never waits on the database (whose outage it must ride out)."""

    def __init__(self, status_path: Path, max_failures: int = 10, window: float = 120.0, clock=time.monotonic):
        self.children: dict[str, Child] = {}
        self.status_path = status_path
        self.max_failures = max_failures
        self.window = window
        self.clock = clock
        self.started_wall = time.time()
        # Called with a child's name after it was started again (e.g. to check a restarted chain).
        self.after_restart: Callable[[str], None] | None = None

    def add(self, child: Child, start: bool = True) -> Child:
        self.children[child.name] = child
        if start:
            self._start(child)
        return child

    def _start(self, child: Child) -> None:
        child.proc = child.start()
        child.started_at = self.clock()
        child.restart_at = None
        self.write_status()

    def poll(self) -> None:
        """Restart what died (when its backoff is over); raise ChildFailing for one that keeps failing."""
        now = self.clock()
        for child in self.children.values():
            if child.proc is not None and child.proc.poll() is not None:
                self._died(child, now)
            if child.proc is None and child.restart_at is not None and now >= child.restart_at:
                child.restarts += 1
                log.warning("restarting %s (restart %d)", child.name, child.restarts)
                try:
                    self._start(child)
                except (ConfigError, OSError) as exc:  # it could not even start: a failure like any other
                    child.last_exit = f"failed to start: {exc}"
                    log.warning("%s failed to start: %s", child.name, exc)
                    self._failed(child, self.clock())
                    continue
                if self.after_restart is not None:
                    self._after_restart(child)

    def _after_restart(self, child: Child) -> None:
        """The caller's check of a restarted child (a chain: the same one, or deploy anew). If the check
        itself fails (the node died again, the deployment failed), the child counts as failed once more
        and is started again after its backoff, checked again."""
        try:
            self.after_restart(child.name)
        except ChildFailing:
            raise
        except Exception as exc:  # any failure of the check; the stack's other children are not at fault
            log.warning("%s restarted but its check failed: %s", child.name, exc)
            if child.proc is not None:
                child.stop(child.proc)
                child.proc = None
            child.last_exit = f"check after restart failed: {type(exc).__name__}"
            self._failed(child, self.clock())

    def _died(self, child: Child, now: float) -> None:
        proc, child.proc = child.proc, None
        child.last_exit = describe_exit(proc.returncode)
        # whatever it left behind in its process group (gunicorn's workers) goes with it
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        log.warning("%s exited unexpectedly (%s) after %.1fs", child.name, child.last_exit, now - child.started_at)
        self._failed(child, now)

    def _failed(self, child: Child, now: float) -> None:
        child.failures.append(now)
        while child.failures and child.failures[0] < now - self.window:
            child.failures.popleft()
        if len(child.failures) >= self.max_failures:
            self.write_status()
            raise ChildFailing(
                f"{child.name} failed {len(child.failures)} times within {self.window:.0f}s "
                f"(last: {child.last_exit}); stopping the stack"
            )
        delay = min(BACKOFF_FIRST * 2 ** (len(child.failures) - 1), BACKOFF_MAX)
        child.restart_at = now + delay
        log.warning("%s will be restarted in %.1fs", child.name, delay, extra={"exit": child.last_exit})
        self.write_status()

    def restart(self, name: str) -> None:
        """Stop and start a child on purpose (not a failure: the chain under it changed)."""
        child = self.children[name]
        if child.proc is not None:
            child.stop(child.proc)
            child.proc = None
        child.restarts += 1
        log.warning("restarting %s (restart %d, on purpose)", name, child.restarts)
        self._start(child)

    def stop_all(self) -> None:
        """Stop the children, the last added first."""
        for child in reversed(list(self.children.values())):
            child.restart_at = None
            if child.proc is not None:
                log.info("stopping %s", child.name)
                child.stop(child.proc)
                child.proc = None
        self.write_status()

    def status(self) -> dict:
        children = {}
        for child in self.children.values():
            running = child.proc is not None and child.proc.poll() is None
            children[child.name] = {
                "state": "running" if running else ("restarting" if child.restart_at is not None else "stopped"),
                "pid": child.proc.pid if running else None,
                "restarts": child.restarts,
                "last_exit": child.last_exit,
            }
        return {"pid": os.getpid(), "started_at": self.started_wall, "children": children}

    def write_status(self) -> None:
        """Atomically replace the status file (a reader never sees half of it)."""
        try:
            self.status_path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.status_path.with_suffix(".tmp")
            tmp.write_text(json.dumps(self.status(), indent=1))
            os.replace(tmp, self.status_path)
        except OSError as exc:  # a full disk must not stop the supervision itself
            log.warning("cannot write %s: %s", self.status_path, exc)
