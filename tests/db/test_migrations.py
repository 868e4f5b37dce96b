import re

import psycopg2

from app.db import migrate

NAME = re.compile(r"^\d{4}\.[a-z0-9]+(-[a-z0-9]+)*\.sql$")


def test_migration_files_are_numbered_plain_sql_in_order():
    files = sorted(p.name for p in migrate.MIGRATIONS_DIR.iterdir() if p.suffix == ".sql")
    assert files, "no migrations"
    assert all(NAME.match(f) for f in files), files
    numbers = [int(f[:4]) for f in files]
    assert numbers == list(range(1, len(files) + 1)), "numbers must be 0001.. without gaps or repeats"


def test_migrations_apply_from_empty_and_only_once(empty_database_url, capfd):
    applied = migrate.apply(empty_database_url)
    printed = capfd.readouterr()
    assert printed.out == "", printed.out  # yoyo prints any rows a migration returns: `up` showed them
    assert len(applied) == len(list(migrate.MIGRATIONS_DIR.glob("*.sql")))
    assert migrate.apply(empty_database_url) == []
    conn = psycopg2.connect(empty_database_url)
    with conn, conn.cursor() as cur:
        cur.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'")
        tables = {r[0] for r in cur.fetchall()}
    conn.close()
    assert {"indexer_cursor", "blocks", "ev_lot_commissioned", "ev_shipped", "ev_dispensed"} <= tables
