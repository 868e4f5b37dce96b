"""Shared by the indexer tests: a comparable snapshot of the mirror, and a fresh full index."""

from __future__ import annotations

import psycopg2
from psycopg2 import sql

from app.chain.client import ChainClient
from app.db import Database
from app.indexer import writer
from app.indexer.core import Indexer
from app.indexer.registry import specs_for


def mirror(url: str, tables: list[str]) -> dict[str, list[tuple]]:
    """Every mirrored row, sorted, per table (blocks: those that carry events)."""
    conn = psycopg2.connect(url)
    out = {}
    with conn, conn.cursor() as cur:
        for table in tables:
            cur.execute(sql.SQL("SELECT * FROM {} ORDER BY 1, 2, 3, 4").format(sql.Identifier(table)))
            out[table] = [tuple(bytes(v) if isinstance(v, memoryview) else v for v in row) for row in cur.fetchall()]
        cur.execute("SELECT number, hash, parent_hash, timestamp FROM blocks WHERE has_events ORDER BY number")
        out["blocks"] = [tuple(bytes(v) if isinstance(v, memoryview) else v for v in row) for row in cur.fetchall()]
    conn.close()
    return out


def index_all(url: str, rpc_url: str, deployment, **options) -> dict[str, list[tuple]]:
    db = Database(url, maxconn=1)
    indexer = Indexer.for_deployment(db, ChainClient(rpc_url), deployment, **options)
    indexer.run_until_caught_up()
    db.close()
    return mirror(url, indexer.tables)


def tables_for(deployment) -> list[str]:
    return writer.mirror_tables(specs_for(deployment))


def glns(url: str) -> list[int]:
    """GLNs of the organisations in the mirror, in chain order (the tests' recognisable events)."""
    rows = mirror(url, ["ev_organisation_registered"])["ev_organisation_registered"]
    return [int(row[5]) for row in rows]


def reorg(w3, pharmatrack, depth: int, new_glns: list[int]) -> None:
    """anvil_reorg: replace the last `depth` blocks; register one organisation per GLN in the new blocks."""
    from eth_account import Account

    role = pharmatrack.functions.DISPENSER_ROLE().call()
    txs = [
        [
            {
                "from": w3.eth.accounts[0],
                "to": pharmatrack.address,
                "data": pharmatrack.encode_abi("registerOrganisation", [Account.create().address, gln, [role]]),
            },
            i,
        ]
        for i, gln in enumerate(new_glns)
    ]
    response = w3.provider.make_request("anvil_reorg", [depth, txs])
    assert "error" not in response, response
