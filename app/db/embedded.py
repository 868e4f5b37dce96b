"""An embedded PostgreSQL server for when DATABASE_URL is not set.

Uses the binaries shipped in the ``pgserver`` wheel, with its data folder inside the project
(``.data/postgres`` by default), so a newcomer installs no database server. It listens on a
Unix socket in that folder only; the returned URL points at it.
"""

from __future__ import annotations

import atexit
import logging
import os
import warnings
from pathlib import Path

import psycopg2
from psycopg2 import sql

from app.errors import ConfigError

log = logging.getLogger(__name__)


def _pgserver():
    # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI); that is expected here.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pgserver
    return pgserver


class EmbeddedPostgres:
    """Start (or attach to) the embedded server for a data folder; stop it with ``stop()``."""

    def __init__(self, data_dir: Path):
        self.data_dir = Path(data_dir).resolve()
        self._server = None
        self.started_here = False

    def running(self) -> bool:
        """Whether a server is already up on this data folder (started by another process)."""
        from pgserver.utils import PostmasterInfo

        info = PostmasterInfo.read_from_pgdata(self.data_dir)
        return info is not None and info.is_running()

    def start(self) -> str:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        pgserver = _pgserver()
        already = (self.data_dir / "PG_VERSION").exists() and self.running()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                # cleanup_mode=None: we stop it explicitly, never from an atexit hook of a child.
                self._server = pgserver.get_server(self.data_dir, cleanup_mode=None)
        except Exception as exc:  # initdb/pg_ctl failures surface as several exception types
            raise ConfigError(
                "PHARMATRACK_DATA_DIR", f"cannot start the embedded Postgres in {self.data_dir}: {exc}"
            ) from exc
        self.started_here = not already
        if self.started_here:
            self._tune()
        url = self._server.get_uri()
        log.info("embedded postgres ready", extra={"data_dir": str(self.data_dir)})
        return url

    def _tune(self) -> None:
        """Size the server for this machine (``tuning()``), restarting it once when a setting needs it
        (the first start of a new data folder, or after the machine's memory changed)."""
        settings = tuning()
        conn = psycopg2.connect(self._server.get_uri("postgres"))
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                for name, value in settings.items():
                    cur.execute(sql.SQL(ALTER_SYSTEM).format(name=sql.Identifier(name), value=sql.Literal(value)))
                cur.execute(RELOAD_CONF)  # the others apply without a restart
                cur.execute(SHARED_BUFFERS_DIFFER, (settings["shared_buffers"],))
                pending = cur.fetchone()[0]
        finally:
            conn.close()
        if pending:
            from pgserver._commands import pg_ctl

            # restart keeps the options it was started with (postmaster.opts: socket only, no TCP)
            pg_ctl(["-w", "-m", "fast", "restart"], pgdata=self.data_dir, user=self._server.system_user)

    def url(self, database: str = "postgres") -> str:
        if self._server is None:
            raise RuntimeError("embedded Postgres not started")
        return self._server.get_uri(database)

    def stop(self) -> None:
        """Stop the server if this handle started it; a server someone else started stays up."""
        server, self._server = self._server, None
        if server is None or not self.started_here:
            return
        from pgserver._commands import pg_ctl

        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=self.data_dir, user=server.system_user)
        # pgserver keeps a per-folder registry of live handles and an atexit hook per handle;
        # drop both so a later start in this process is clean and exit does not touch it again.
        atexit.unregister(server._cleanup)
        type(server)._instances.pop(self.data_dir, None)


def tuning(memory: int | None = None) -> dict[str, str]:
    """The embedded server's settings for a machine of `memory` bytes (this one's by default), as the
    PostgreSQL wiki's tuning guide has it: shared_buffers a quarter of the memory (at most 8 GB), so that a
    verification's serial, tree and event pages are Postgres' own buffers rather than the OS cache behind a
    read() each; the planner told how much the OS caches (half) and that pages are on SSD. Allocated as used,
    not up front."""
    if memory is None:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    mb = memory // 2**20
    return {
        "shared_buffers": f"{max(128, min(mb // 4, 8192))}MB",
        "effective_cache_size": f"{max(512, mb // 2)}MB",
        "random_page_cost": "1.1",
    }


ALTER_SYSTEM = "ALTER SYSTEM SET {name} = {value}"
RELOAD_CONF = "SELECT pg_reload_conf()"
SHARED_BUFFERS_DIFFER = "SELECT pg_size_bytes(current_setting('shared_buffers')) <> pg_size_bytes(%s)"

SERVER_HAS_DATABASE = "SELECT 1 FROM pg_database WHERE datname = %s"
CREATE_DATABASE = "CREATE DATABASE {name}"


def ensure_database(admin_url: str, name: str) -> None:
    """Create the database `name` on the server of `admin_url` unless it exists."""
    conn = psycopg2.connect(admin_url)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(SERVER_HAS_DATABASE, (name,))
            if cur.fetchone() is None:
                cur.execute(sql.SQL(CREATE_DATABASE).format(name=sql.Identifier(name)))
    finally:
        conn.close()
