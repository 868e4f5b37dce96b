"""`pharmatrack index --verify`: re-index from the deployment block into a scratch schema and
compare it with the live mirror row by row, up to the live cursor. The tables are those the indexer
writes (writer.mirror_tables(), the one list the writer, rollback and reset use too), every one
compared, and the block headers of the blocks that carry events."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from psycopg2 import sql

from app.chain.client import ChainClient
from app.chain.deploy import Deployment
from app.db import Database, fetch_all
from app.indexer import store, writer
from app.indexer.core import Indexer
from app.indexer.events import EventSpec

SHOW = 5  # differences shown per table and direction


@dataclass
class Report:
    block: int
    rows: dict[str, int] = field(default_factory=dict)
    differences: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.differences


def _show(value):
    if isinstance(value, memoryview | bytes):
        return "0x" + bytes(value).hex()
    if isinstance(value, list):
        return [_show(v) for v in value]
    return str(value) if not isinstance(value, int | str | None) else value


def _compare(conn, schema: str, table: str, key_filter: sql.Composable, block: int) -> tuple[int, list[str]]:
    live = sql.SQL("SELECT * FROM public.{t} WHERE {f}").format(t=sql.Identifier(table), f=key_filter)
    fresh = sql.SQL("SELECT * FROM {s}.{t} WHERE {f}").format(
        s=sql.Identifier(schema), t=sql.Identifier(table), f=key_filter
    )
    diffs = []
    for label, left, right in (("only in the live mirror", live, fresh), ("only in the re-index", fresh, live)):
        query = sql.SQL("({}) EXCEPT ALL ({}) LIMIT {}").format(left, right, sql.Literal(SHOW))
        for row in fetch_all(conn, query, {"block": block}):
            shown = {k: _show(v) for k, v in row.items()}
            diffs.append(f"{table}: {label}: {shown}")
    count = fetch_all(conn, sql.SQL("SELECT count(*) AS n FROM ({}) q").format(live), {"block": block})[0]["n"]
    return count, diffs


def verify(
    url: str, chain: ChainClient, deployment: Deployment, specs: dict[bytes, EventSpec], progress=None, stop=None
) -> Report:
    db = Database(url, maxconn=1)
    with db.connection() as conn:
        cursor = store.read_cursor(conn)
    if cursor is None:
        return Report(block=-1, differences=["the live mirror is empty: nothing to verify"])
    schema = f"verify_{uuid.uuid4().hex[:12]}"
    tables = writer.mirror_tables(specs)
    with db.connection() as conn, conn.cursor() as cur:
        cur.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
        for table in [*tables, *store.BOOKKEEPING]:
            cur.execute(
                sql.SQL("CREATE TABLE {}.{} (LIKE public.{} INCLUDING ALL)").format(
                    sql.Identifier(schema), sql.Identifier(table), sql.Identifier(table)
                )
            )
    scratch = Database(url, maxconn=1, options=f"-c search_path={schema}")
    try:
        indexer = Indexer(scratch, chain, deployment, specs, until_block=cursor["block_number"], scratch=True)
        while (step := indexer.run_once()).blocks or step.rolled_back_to is not None:
            if progress:
                progress(step)
            if stop is not None and stop.is_set():
                return Report(block=cursor["block_number"], differences=["interrupted before the re-index finished"])
        report = Report(block=cursor["block_number"])
        below = sql.SQL("block_number <= %(block)s")
        with db.connection() as conn:
            for table in tables:
                report.rows[table], diffs = _compare(conn, schema, table, below, cursor["block_number"])
                report.differences += diffs
            blocks_filter = sql.SQL("number <= %(block)s AND has_events")
            report.rows["blocks"], diffs = _compare(conn, schema, "blocks", blocks_filter, cursor["block_number"])
            report.differences += diffs
        return report
    finally:
        scratch.close()
        with db.connection() as conn, conn.cursor() as cur:
            cur.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))
        db.close()
