"""`make bench-index`: generate ≥200,000 custody events on anvil through the real contract, then
index them from scratch into an empty database; compare with the usual web3.py way on a subset.

Events: the manufacturer commissions a lot and packs 1,000 cases (CasePacked), then the cases go
back and forth between the manufacturer and a distributor, 1,000 units per `ship` and
`receiveShipment` transaction (one Shipped or Received event per case), until the total passes
200,000. Everything is batched the way the relayer batches: one transaction per party and action.

N: events/s of `Indexer.run_until_caught_up()` over the whole range into empty tables (eth_getLogs
in adaptive windows, eth-abi decoding, COPY, cursor in the same transaction).
B: the same fetch-and-store done the usual way on the first SUBSET events: web3.py's get_logs and
each event's `process_log`, then one INSERT per row, committed per window — measured in the same run.

Run: `.venv/bin/python -m bench.index` (DATABASE_URL or TEST_DATABASE_URL to use a server;
otherwise an embedded Postgres in a temporary folder).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psycopg2
from psycopg2 import sql
from web3 import Web3

from app.chain.anvil import AnvilNode, free_port
from app.chain.client import ChainClient
from app.chain.compiler import load_artifacts
from app.chain.deploy import Signer, deploy_all
from app.chain.web3factory import make_web3
from app.db import Database, migrate
from app.db.embedded import EmbeddedPostgres
from app.ids import lgtin_id, sgtin_id, sscc_id
from app.indexer.core import Indexer
from app.indexer.registry import specs_for
from app.merkle import LotTree

TARGET_EVENTS = 200_000
CASES = 1_000
PACKS_PER_CASE = 10
CASES_PER_PACK_TX = 100
SUBSET = 20_000
GTIN = "09506000134352"
LOT = "BENCH-L1"
CASE_SSCC_BASE = 109506000000000000


def send(w3: Web3, call, sender: str) -> dict:
    receipt = w3.eth.wait_for_transaction_receipt(call.transact({"from": sender, "gas": 29_000_000}), timeout=300)
    if receipt.status != 1:
        raise RuntimeError(f"bench transaction reverted: {receipt.transactionHash.to_0x_hex()}")
    return receipt


def generate(w3: Web3, pt) -> int:
    """Put at least TARGET_EVENTS events on chain; return how many the contract emitted."""
    admin, maker, distributor = w3.eth.accounts[:3]
    events = 0
    for account, role, gln in (
        (maker, "MANUFACTURER_ROLE", 9506000000015),
        (distributor, "DISTRIBUTOR_ROLE", 9506000000022),
    ):
        role_id = getattr(pt.functions, role)().call()
        events += len(send(w3, pt.functions.registerOrganisation(account, gln, [role_id]), admin).logs)
    events += len(send(w3, pt.functions.registerProduct(int(GTIN), 200, 800), maker).logs)
    packs = CASES * PACKS_PER_CASE
    tree = LotTree([sgtin_id(GTIN, f"B{i:08d}") for i in range(packs)])
    expiry = w3.eth.get_block("latest")["timestamp"] + 365 * 86400
    events += len(send(w3, pt.functions.commissionLot(int(GTIN), LOT, expiry, packs, tree.root), maker).logs)
    lot_id = lgtin_id(GTIN, LOT)
    for first in range(0, CASES, CASES_PER_PACK_TX):
        calls = [
            pt.encode_abi("packCase", [CASE_SSCC_BASE + c, lot_id, c * PACKS_PER_CASE, PACKS_PER_CASE])
            for c in range(first, first + CASES_PER_PACK_TX)
        ]
        events += len(send(w3, pt.functions.multicall(calls), maker).logs)
    cases = [sscc_id(CASE_SSCC_BASE + c) for c in range(CASES)]
    holder, other = maker, distributor
    while events < TARGET_EVENTS:
        events += len(send(w3, pt.functions.ship(cases, other), holder).logs)
        events += len(send(w3, pt.functions.receiveShipment(cases), other).logs)
        holder, other = other, holder
        if events // 40_000 != (events - 2 * CASES) // 40_000:
            print(f"generating events: {events:,}", file=sys.stderr, flush=True)
    return events


def fresh_database(admin_url: str) -> str:
    name = f"bench_index_{uuid.uuid4().hex[:8]}"
    conn = psycopg2.connect(admin_url)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    conn.close()
    url = (
        admin_url.rsplit("/", 1)[0] + "/" + name
        if "?" not in admin_url
        else admin_url.replace("/postgres?", f"/{name}?")
    )
    migrate.apply(url)
    return url


def baseline(w3: Web3, pt, url: str, deployment, subset: int) -> tuple[int, float]:
    """web3.py's usual path: get_logs, process_log per event, one INSERT per row."""
    by_topic = {}
    for spec in specs_for(deployment).values():
        by_topic[spec.topic0] = (spec, getattr(pt.events, spec.name)())
    conn = psycopg2.connect(url)
    done = 0
    block = deployment.start_block
    head = w3.eth.block_number
    started = time.perf_counter()
    while done < subset and block <= head:
        logs = w3.eth.get_logs({"fromBlock": block, "toBlock": block, "address": pt.address})
        with conn, conn.cursor() as cur:
            for log in logs:
                spec, event = by_topic[bytes(log["topics"][0])]
                decoded = event.process_log(log)
                values = [decoded["blockNumber"], decoded["logIndex"], bytes(decoded["transactionHash"])]
                for column, abi_type in zip(spec.columns, spec.types, strict=True):
                    value = decoded["args"][_param(spec, column)]
                    values.append(_as_db(abi_type, value))
                placeholders = ", ".join(["%s"] * len(values))
                cur.execute(
                    sql.SQL("INSERT INTO {} ({}) VALUES (" + placeholders + ")").format(
                        sql.Identifier(spec.table), sql.SQL(", ").join(map(sql.Identifier, spec.all_columns))
                    ),
                    values,
                )
        done += len(logs)
        block += 1
    elapsed = time.perf_counter() - started
    conn.close()
    return done, elapsed


def _param(spec, column: str) -> str:
    from app.indexer.events import RENAMED, snake

    names = {v: k for k, v in RENAMED.items()}
    if column in names:
        return names[column]
    parts = column.split("_")
    camel = parts[0] + "".join(p.title() for p in parts[1:])
    return camel if snake(camel) == column else column


def _as_db(abi_type: str, value):
    if abi_type == "address":
        return bytes.fromhex(value[2:])
    if abi_type.endswith("[]"):
        return [bytes(v) if isinstance(v, bytes) else v for v in value]
    return value


def main() -> None:
    started = time.monotonic()
    tmp = Path(tempfile.mkdtemp(prefix="pharmatrack-bench-"))
    server_url = os.environ.get("TEST_DATABASE_URL") or os.environ.get("DATABASE_URL")
    embedded = None
    if not server_url:
        embedded = EmbeddedPostgres(tmp / "pg")
        embedded.start()
        server_url = embedded.url("postgres")
    try:
        with AnvilNode(port=free_port(), chain_id=31337, block_time=None) as node:
            w3 = make_web3(node.rpc_url, timeout=300)
            deployment = deploy_all(w3, Signer(w3), tmp / "deployment.json")
            pt = w3.eth.contract(address=deployment.address("PharmaTrack"), abi=load_artifacts()["PharmaTrack"].abi)
            t0 = time.perf_counter()
            deploy_tx = deployment.contracts["PharmaTrack"]["tx"]
            emitted = len(w3.eth.get_transaction_receipt(deploy_tx).logs) + generate(w3, pt)
            blocks = w3.eth.block_number - deployment.start_block + 1
            print(f"generated {emitted:,} events in {blocks:,} blocks in {time.perf_counter() - t0:.1f}s")

            url = fresh_database(server_url)
            db = Database(url, maxconn=1)
            indexer = Indexer.for_deployment(db, ChainClient(node.rpc_url, timeout=300), deployment)
            t0 = time.perf_counter()
            indexer.run_until_caught_up()
            seconds = time.perf_counter() - t0
            db.close()
            conn = psycopg2.connect(url)
            with conn, conn.cursor() as cur:
                stored = 0
                for table in indexer.event_tables:
                    cur.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table)))
                    stored += cur.fetchone()[0]
            conn.close()
            if stored != emitted:
                raise SystemExit(f"indexed {stored} rows but the contract emitted {emitted} events")
            rate = stored / seconds
            print(f"pharmatrack indexer: {stored:,} events from scratch in {seconds:.2f}s ({rate:,.0f} events/s)")

            base_url = fresh_database(server_url)
            base_events, base_seconds = baseline(w3, pt, base_url, deployment, SUBSET)
            base_rate = base_events / base_seconds
            print(
                f"web3 baseline (get_logs + process_log + row-by-row INSERT): {base_events:,} events "
                f"(first blocks, subset) in {base_seconds:.2f}s ({base_rate:,.0f} events/s)"
            )
            print(f"elapsed {time.monotonic() - started:.0f}s")
            print(f"events_per_s {rate:.0f} web3_baseline_events_per_s {base_rate:.0f} ratio {rate / base_rate:.1f}")
    finally:
        if embedded:
            embedded.stop()


if __name__ == "__main__":
    main()
