"""An embedded PostgreSQL server for when DATABASE_URL is not set.

Uses the binaries shipped in the ``pgserver`` wheel, with its data folder inside the project
(``.data/postgres`` by default), so a newcomer installs no database server. It listens on a
Unix socket in that folder only; the returned URL points at it.
"""

from __future__ import annotations

import atexit
import logging
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
        url = self._server.get_uri()
        log.info("embedded postgres ready", extra={"data_dir": str(self.data_dir)})
        return url

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
