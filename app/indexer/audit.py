"""`pharmatrack index --verify`: re-index from the deployment block into a scratch schema and
compare it with the live mirror row by row, up to the live cursor. The tables are those the indexer
writes (writer.mirror_tables(), the one list the writer, rollback and reset use too), every one
compared, and the block headers of the blocks that carry events."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from app.chain.client import ChainClient
from app.chain.deploy import Deployment
from app.db import Database
from app.db import indexer as db_indexer
from app.indexer import writer
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


def _shown(row: dict) -> dict:
    return {k: _show(v) for k, v in row.items()}


def verify(
    url: str, chain: ChainClient, deployment: Deployment, specs: dict[bytes, EventSpec], progress=None, stop=None
) -> Report:
    db = Database(url, maxconn=1)
    with db.connection() as conn:
        cursor = db_indexer.read_cursor(conn)
    if cursor is None:
        return Report(block=-1, differences=["the live mirror is empty: nothing to verify"])
    schema = f"verify_{uuid.uuid4().hex[:12]}"
    tables = writer.mirror_tables(specs)
    with db.connection() as conn:
        db_indexer.create_scratch_schema(conn, schema, tables)
    scratch = Database(url, maxconn=1, options=f"-c search_path={schema}")
    try:
        # no rollback hooks: the scratch schema holds only the mirror, nothing follows it
        indexer = Indexer(scratch, chain, deployment, specs, until_block=cursor.block_number)
        while (step := indexer.run_once()).blocks or step.rolled_back_to is not None:
            if progress:
                progress(step)
            if stop is not None and stop.is_set():
                return Report(block=cursor.block_number, differences=["interrupted before the re-index finished"])
        report = Report(block=cursor.block_number)
        with db.connection() as conn:
            for table in [*tables, "blocks"]:  # blocks: the headers of the blocks that carry events
                report.rows[table], diffs = db_indexer.compare_with_scratch(conn, schema, table, report.block, SHOW)
                report.differences += [f"{table}: {side}: {_shown(row)}" for side, row in diffs]
        return report
    finally:
        scratch.close()
        with db.connection() as conn:
            db_indexer.drop_scratch_schema(conn, schema)
        db.close()
