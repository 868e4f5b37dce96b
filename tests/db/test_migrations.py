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


def test_0009_takes_the_relayers_chain_from_the_mirror_of_an_older_database(empty_database_url, tmp_path):
    """An outbox from before migration 0009 was sent to the chain the mirror was built from: that is the
    chain recorded for the relayer, so a first start on a new dev chain voids what is wedged."""
    import shutil

    for sql in sorted(migrate.MIGRATIONS_DIR.glob("*.sql")):
        if sql.name < "0009":
            shutil.copy(sql, tmp_path / sql.name)
    migrate.apply(empty_database_url, tmp_path)
    genesis = bytes(range(32))
    conn = psycopg2.connect(empty_database_url)
    with conn, conn.cursor() as cur:
        cur.execute(
            "INSERT INTO indexer_cursor (name, chain_id, genesis_hash, block_number, block_hash) "
            "VALUES ('main', 31337, %s, 7, %s)",
            (genesis, b"\1" * 32),
        )
    shutil.copy(next(migrate.MIGRATIONS_DIR.glob("0009.*.sql")), tmp_path)
    assert [m[:4] for m in migrate.apply(empty_database_url, tmp_path)] == ["0009"]
    with conn, conn.cursor() as cur:
        cur.execute("SELECT chain_id, genesis_hash FROM relay_chain")
        assert [(c, bytes(g)) for c, g in cur.fetchall()] == [(31337, genesis)]
    conn.close()
