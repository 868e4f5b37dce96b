"""A real gunicorn (gthread) serving the app, for the tests of issue 12's bounds: a crash or a
hang must be seen as a worker dying or a thread held, which the Flask test client cannot show."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field

import psycopg2
import pytest

from app.chain.anvil import free_port
from app.services import orgs
from app.stack import stop_process

GLN = "9506000000039"


@dataclass
class Answer:
    status: int
    headers: dict
    body: bytes
    seconds: float

    def json(self):
        return json.loads(self.body)


@dataclass
class Server:
    base: str
    proc: subprocess.Popen
    key: str
    log_path: str
    env: dict = field(default_factory=dict)

    def request(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None,
                key: str | None = "default", timeout: float = 30) -> Answer:  # fmt: skip
        hdrs = {"Content-Type": "application/json"} if body is not None else {}
        if key:
            hdrs["Authorization"] = f"Bearer {self.key if key == 'default' else key}"
        hdrs.update(headers or {})
        req = urllib.request.Request(self.base + path, data=body, method=method, headers=hdrs)
        started = time.monotonic()
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                return Answer(resp.status, dict(resp.headers), resp.read(), time.monotonic() - started)
        except urllib.error.HTTPError as exc:
            return Answer(exc.code, dict(exc.headers), exc.read(), time.monotonic() - started)

    def worker_pids(self) -> set[int]:
        import psutil

        return {child.pid for child in psutil.Process(self.proc.pid).children()}

    def log(self) -> str:
        with open(self.log_path) as fh:
            return fh.read()


def add_key(url: str, gln: str = GLN, roles=("dispenser",)) -> str:
    conn = psycopg2.connect(url)
    with conn:
        orgs.add_organisation(conn, f"Org {gln}", gln, "0x" + gln.rjust(40, "a"), list(roles))
        key = orgs.create_key(conn, gln, "tests")
    conn.close()
    return key


def start_gunicorn(tmp_path, database_url: str, rpc_url: str, threads: int = 4, **env_extra) -> Server:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "RPC_URL"}}
    env.update(
        {
            "DATABASE_URL": database_url,
            "RPC_URL": rpc_url,
            "PHARMATRACK_DATA_DIR": str(tmp_path / "data"),
            "DEPLOYMENT_FILE": str(tmp_path / "deployment.json"),
            "LOG_LEVEL": "WARNING",
            "API_KEY_CACHE_SECONDS": "0",
            "WEB_THREADS": str(threads),  # as `pharmatrack up` does: the pool is sized from it
        }
    )
    env.update({k: str(v) for k, v in env_extra.items()})
    tmp_path.mkdir(parents=True, exist_ok=True)
    log_path = str(tmp_path / "gunicorn.log")
    args = [
        sys.executable, "-m", "gunicorn", "--workers", "1", "--worker-class", "gthread", "--threads", str(threads),
        "--bind", f"127.0.0.1:{port}", "--timeout", "60", "--graceful-timeout", "5", "app.wsgi:app",
    ]  # fmt: skip
    with open(log_path, "w") as out:
        proc = subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    server = Server(f"http://127.0.0.1:{port}", proc, add_key(database_url), log_path, env)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"gunicorn exited:\n{server.log()}"
        try:
            up = server.request("GET", "/healthz", key=None, timeout=2).status == 200
        except OSError:  # not listening yet
            up = False
        if up:
            return server
        time.sleep(0.2)
    stop_process(proc)
    raise AssertionError(f"gunicorn did not answer /healthz:\n{server.log()}")


@pytest.fixture
def gunicorn_factory(tmp_path):
    started: list[Server] = []

    def make(database_url: str, rpc_url: str, **env) -> Server:
        server = start_gunicorn(tmp_path / f"g{len(started)}", database_url, rpc_url, **env)
        started.append(server)
        return server

    yield make
    for server in started:
        stop_process(server.proc, timeout=10)
