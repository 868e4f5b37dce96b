"""The embedded server's sizing (app/db/embedded.py): what it asks for on a given machine, and that a fresh
data folder starts with it (a restart the first time), while a second start keeps it without one."""

from __future__ import annotations

import psycopg2

from app.db.embedded import EmbeddedPostgres, tuning

GIB = 2**30


def test_tuning_is_a_quarter_of_memory_capped_and_floored():
    assert tuning(24 * GIB)["shared_buffers"] == "6144MB"
    assert tuning(24 * GIB)["effective_cache_size"] == "12288MB"
    assert tuning(256 * GIB)["shared_buffers"] == "8192MB"  # capped
    assert tuning(256 * 2**20)["shared_buffers"] == "128MB"  # Postgres' own default as the floor
    assert tuning(256 * 2**20)["effective_cache_size"] == "512MB"


def _setting(url: str, name: str) -> int:
    conn = psycopg2.connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT pg_size_bytes(current_setting(%s))", (name,))
            return cur.fetchone()[0]
    finally:
        conn.close()


def test_a_fresh_server_runs_with_the_tuning_and_keeps_it(tmp_path):
    want = tuning()
    for _ in range(2):
        server = EmbeddedPostgres(tmp_path / "pg")
        server.start()
        try:
            url = server.url("postgres")
            assert _setting(url, "shared_buffers") == int(want["shared_buffers"].removesuffix("MB")) * 2**20
        finally:
            server.stop()
