"""`pharmatrack index --verify`: a full re-index into a scratch schema equals the live mirror;
a tampered mirror is caught and the command exits non-zero naming the difference."""

import os
import subprocess
import sys

import psycopg2
import pytest

from tests.conftest import register_org


@pytest.fixture
def indexed(w3, anvil, deployment, pharmatrack, database_url):
    for i in range(4):
        register_org(w3, pharmatrack, 500 + i)
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "RPC_URL": anvil.rpc_url,
        "DEPLOYMENT_FILE": str(deployment.path),
        "INDEXER_WINDOW": "2",
        "LOG_LEVEL": "WARNING",
    }
    done = _cli(env, "index", "--once")
    assert done.returncode == 0, done.stderr
    return env


def _cli(env, *args):
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args], check=False, env=env, capture_output=True, text=True, timeout=120
    )


def _schemas(url):
    conn = psycopg2.connect(url)
    with conn, conn.cursor() as cur:
        cur.execute("SELECT nspname FROM pg_namespace WHERE nspname LIKE 'verify_%'")
        names = [r[0] for r in cur.fetchall()]
    conn.close()
    return names


def test_verify_passes_on_an_honest_mirror(indexed):
    proc = _cli(indexed, "index", "--verify")
    assert proc.returncode == 0, proc.stderr
    assert "verify: OK" in proc.stdout
    assert "identical" in proc.stdout
    assert _schemas(indexed["DATABASE_URL"]) == []  # the scratch schema is dropped


def test_verify_fails_on_a_tampered_mirror(indexed):
    conn = psycopg2.connect(indexed["DATABASE_URL"])
    with conn, conn.cursor() as cur:
        cur.execute("UPDATE ev_organisation_registered SET gln = 9999999999994 WHERE gln = 4000000005025")
        cur.execute(
            "DELETE FROM ev_organisation_registered WHERE gln = (SELECT min(gln) FROM ev_organisation_registered)"
        )
    conn.close()
    proc = _cli(indexed, "index", "--verify")
    assert proc.returncode == 1
    assert "verify: FAILED" in proc.stderr
    assert "only in the live mirror" in proc.stdout and "9999999999994" in proc.stdout
    assert "only in the re-index" in proc.stdout
    assert _schemas(indexed["DATABASE_URL"]) == []
