"""Meta-test: every event of every service contract has its mirror table, with one column per
event input of the mapped type (so a contract change without a migration fails here)."""

import psycopg2

from app.chain.compiler import load_artifacts
from app.chain.deploy import SERVICE_CONTRACTS
from app.db.indexer import create_table_sql
from app.indexer.events import BASE_COLUMNS, column_types, specs_from_abi, sql_type

# element type names of arrays in information_schema.columns.udt_name (without the leading "_")
UDT = {"int8": "bigint", "int4": "integer", "int2": "smallint", "bool": "boolean", "bytea": "bytea", "text": "text",
       "numeric": "numeric", "uuid": "uuid"}  # fmt: skip


def _columns(url):
    conn = psycopg2.connect(url)
    with conn, conn.cursor() as cur:
        cur.execute(
            """SELECT table_name, column_name, data_type, udt_name FROM information_schema.columns
               WHERE table_schema = 'public' ORDER BY table_name, ordinal_position"""
        )
        rows = cur.fetchall()
    conn.close()
    tables: dict[str, list[tuple[str, str]]] = {}
    for table, column, data_type, udt in rows:
        kind = UDT[udt.lstrip("_")] + "[]" if data_type == "ARRAY" else data_type
        tables.setdefault(table, []).append((column, kind))
    return tables


def test_every_event_has_a_matching_mirror_table(database_url):
    artifacts = load_artifacts()
    tables = _columns(database_url)
    for name in SERVICE_CONTRACTS:
        for spec in specs_from_abi(artifacts[name].abi).values():
            assert spec.table in tables, f"no table {spec.table} for {spec.signature}; add a migration"
            expected = [(c, "bigint" if c == "block_number" else "integer" if c == "log_index" else "bytea")
                        for c in BASE_COLUMNS]  # fmt: skip
            expected += [(c, sql_type(t)) for c, t in zip(spec.columns, spec.types, strict=True)]
            assert tables[spec.table][: len(expected)] == expected, spec.signature


def test_the_generated_ddl_builds_the_migrated_table(database_url):
    """app/db/indexer.create_table_sql (what a migration for a new event starts from) gives, for every
    event, the columns and key the migrations gave its table."""
    artifacts = load_artifacts()
    migrated = _columns(database_url)
    conn = psycopg2.connect(database_url)
    try:
        with conn, conn.cursor() as cur:
            cur.execute("CREATE SCHEMA generated")
            cur.execute("SET LOCAL search_path = generated")
            # one table per event, whichever contracts declare it (PharmaTrack and PharmaTrackListed share theirs)
            specs = list({s.table: s for name in SERVICE_CONTRACTS
                          for s in specs_from_abi(artifacts[name].abi).values()}.values())  # fmt: skip
            for spec in specs:
                cur.execute(create_table_sql(spec.table, spec.signature, column_types(spec)))
            cur.execute(
                """SELECT table_name, column_name, data_type, udt_name FROM information_schema.columns
                   WHERE table_schema = 'generated' ORDER BY table_name, ordinal_position"""
            )
            generated: dict[str, list[tuple[str, str]]] = {}
            for table, column, data_type, udt in cur.fetchall():
                kind = UDT[udt.lstrip("_")] + "[]" if data_type == "ARRAY" else data_type
                generated.setdefault(table, []).append((column, kind))
            cur.execute(
                """SELECT tc.table_name, string_agg(k.column_name, ',' ORDER BY k.ordinal_position)
                   FROM information_schema.table_constraints tc JOIN information_schema.key_column_usage k
                     ON k.constraint_name = tc.constraint_name AND k.table_schema = tc.table_schema
                   WHERE tc.table_schema = 'generated' AND tc.constraint_type = 'PRIMARY KEY' GROUP BY 1"""
            )
            keys = dict(cur.fetchall())
            cur.execute("DROP SCHEMA generated CASCADE")
    finally:
        conn.close()
    assert len(generated) == len(specs)
    for spec in specs:
        assert generated[spec.table] == migrated[spec.table][: len(generated[spec.table])], spec.signature
        assert keys[spec.table] == "block_number,log_index", spec.signature
