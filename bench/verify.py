"""`make bench-verify`: pharmacists verify packs against 10 million serials, through gunicorn, driven by wrk.

Setup (not measured; progress on stderr): the real stack as ``pharmatrack up`` runs it, each part in its own
process: Postgres (TEST_DATABASE_URL or DATABASE_URL names a server, else an embedded one in a temporary folder;
either way a fresh database, dropped at the end), anvil (automine), the contracts, the migrations, the indexer,
and gunicorn (``app.stack.gunicorn_args``: ``--workers`` x ``--threads``, gthread) with LOG_LEVEL=WARNING.

- Parties (anvil dev accounts, registered on the contract and in the database): a manufacturer, a distributor and
  a pharmacy, each with an API key. ``--products`` products of the manufacturer.
- ``--lots`` lots of ``--per-lot`` serials (``S<lot:05><i:07>``; lot ``B<lot:05>``, expiries spread over a year),
  spread over the products. Each lot's pack ids and Merkle tree are computed by ``app.services.serials``
  (in a process pool), its root committed on chain with ``commissionLot`` (``--batch`` lots per ``multicall``),
  and its serials and tree bulk-loaded (``serials.bulk_load``: COPY of lot_commissions, lot_serials, lot_trees,
  one transaction per batch). Then VACUUM ANALYZE and a CHECKPOINT, so the load's after-work (autovacuum, dirty
  pages) does not land in the windows.
- Custody for a sample: in each of the first ``--custody-lots`` lots the manufacturer packs ``--cases`` run cases
  of ``--per-case`` packs (leaves 0 …), ships them to the distributor, who receives them and ships every other
  case on to the pharmacy, which receives them; all straight on the contract. The indexer must have mirrored
  every block of the setup before the clock starts.

Codes (``--codes`` of them, a file of request paths): half valid, half invalid. Valid: a random serial of a
random lot with its lot and expiry (a fifth of them from the custody sample). Invalid, in equal parts: an unknown
serial of a known GTIN, a real serial printed with another lot, with another expiry, and a GTIN never registered.
Each code is written as a GS1 element string, a GS1 Digital Link URI or raw DataMatrix scan data (in turn),
URL-encoded in ``/v1/verify?code=…``. Every request carries the pharmacy's API key. Before the windows, a few codes
of each kind are verified once and their verdicts printed: what the load asks, by kind.

Load: wrk (``--connections``, by default two per gunicorn worker: one request running in each worker while the
next waits, which saturates the server: on 2 cores, 1M serials, 2 x 8 gthread, 15 s windows, verify answered
1,198/s at 4 connections (p99 10.3 ms), 1,100/s at 8 (p99 16.6) and 1,074/s at 16 (p99 40.2), the ceiling
2,251, 2,189 and 2,038/s: beyond 4 connections requests only queue longer, and contend for the GIL;
``--wrk-threads``; ``--latency``) with bench/verify.lua, which picks a random path per request. First a warm-up of
``--warmup`` seconds on each endpoint, then ``--seconds`` on ``/v1/verify`` and the same on the ceiling, in
``--rounds`` rounds that alternate between the two (3 by default: verify 10 s, ceiling 10 s, three times), so that
a drift of the machine's speed during the run (seen here: ±8% between runs) falls on both alike:
``GET /v1/products/{gtin}`` for a random registered GTIN, the same server answering a trivial route (the API key
gate, then one indexed SELECT, prepared). Both requests carry the same API key and both routes check it (product
data is public, but a key sent with it is checked all the same), so they differ only in the work after
authentication.

Figures (last line ``verify_rps V p99_ms P ceiling_rps C ratio R``): V and C are wrk's completed requests per
second of each endpoint over its rounds (any status; a status other than 200 is reported, and makes the run exit
non-zero), P is the 99th percentile latency of all the verify rounds' requests (from each round's latencies at
90.0%, 90.1% … 99.9%, rounded up to one of them; wrk measures from sending a request to its answer and does not
correct for coordinated omission), R = V / C. Also printed: wrk's own output, and CPU per component (gunicorn,
Postgres, wrk, the rest of the machine) in each window. Targets (issue): P ≤ 25 ms and R ≥ 0.6.

Run: ``.venv/bin/python -m bench.verify [--lots 1000] [--per-lot 10000] [--seconds 30]`` (wrk on PATH: ``make
bench-verify`` installs it), or ``make bench-verify BENCH_VERIFY_ARGS="--lots 20 --per-lot 1000 --seconds 5"``.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import psutil
import psycopg2
from psycopg2 import sql
from web3 import Web3

from app import gs1
from app.ids import lgtin_id, sscc_id
from app.services import orgs, serials
from app.services.writes import expiry_seconds
from bench.ingest import (
    CpuMeter,
    add_server_options,
    db_scalar,
    postmaster_pid,
    start_chain_and_database,
    start_services,
    tail,
    wait_for,
    with_check_digit,
)

LUA = Path(__file__).with_name("verify.lua")
PACK_CASES_PER_TX = 200  # ~34k gas per packCase
UNITS_PER_HANDOFF = 200
CUSTODY_SHARE = 5  # one valid code in five is a pack of the custody sample
INVALID_KINDS = ("unknown_serial", "wrong_lot", "wrong_expiry", "unknown_gtin")
FORMS = ("element string", "digital link", "scan data")
PREFLIGHT_PER_KIND = 8


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- what is loaded


@dataclass(frozen=True)
class Plan:
    """The deterministic shape of the data: lot numbers, serials, expiries, products."""

    lots: int
    per_lot: int
    products: list[str]
    first_expiry: date

    def gtin(self, lot_no: int) -> str:
        return self.products[lot_no % len(self.products)]

    @staticmethod
    def lot(lot_no: int) -> str:
        return f"B{lot_no:05d}"

    @staticmethod
    def serial(lot_no: int, index: int) -> str:
        return f"S{lot_no:05d}{index:07d}"

    def expiry(self, lot_no: int) -> date:
        return self.first_expiry + timedelta(days=lot_no % 365)


def make_products(count: int) -> list[str]:
    return [with_check_digit(f"0950601{p:06d}") for p in range(count)]


def build_lot(job: tuple[Plan, int, int]) -> serials.LotSerials:
    """A lot's serials, pack ids and tree (in a pool process)."""
    plan, lot_no, org_id = job
    names = [plan.serial(lot_no, i) for i in range(plan.per_lot)]
    return serials.LotSerials.build(plan.gtin(lot_no), plan.lot(lot_no), plan.expiry(lot_no), names, org_id)


# --------------------------------------------------------------------------- setup


@dataclass
class Party:
    name: str
    role: str
    chain_role: str
    gln: str
    account: str
    org_id: int = 0
    api_key: str = ""


def transact(w3: Web3, call, sender: str, what: str):
    receipt = w3.eth.wait_for_transaction_receipt(call.transact({"from": sender}), timeout=600)
    if receipt.status != 1:
        raise SystemExit(f"setup: {what} reverted (tx {receipt.transactionHash.hex()})")
    return receipt


def set_up_parties(w3: Web3, pt, db_url: str, plan: Plan) -> dict[str, Party]:
    accounts = w3.eth.accounts
    parties = {
        "maker": Party("Bench Maker", "manufacturer", "MANUFACTURER_ROLE", with_check_digit("950601000001"),
                       accounts[1]),
        "distributor": Party("Bench Distributor", "distributor", "DISTRIBUTOR_ROLE",
                             with_check_digit("950601000002"), accounts[2]),
        "pharmacy": Party("Bench Pharmacy", "dispenser", "DISPENSER_ROLE", with_check_digit("950601000003"),
                          accounts[3]),
    }  # fmt: skip
    admin = accounts[0]
    for p in parties.values():
        role = getattr(pt.functions, p.chain_role)().call()
        transact(w3, pt.functions.registerOrganisation(p.account, int(p.gln), [role]), admin, "registerOrganisation")
    maker = parties["maker"].account
    calls = [pt.encode_abi("registerProduct", [int(g), 200, 800]) for g in plan.products]
    transact(w3, pt.functions.multicall(calls), maker, "registerProduct")
    conn = psycopg2.connect(db_url)
    try:
        with conn:
            for p in parties.values():
                p.org_id = orgs.add_organisation(conn, p.name, p.gln, p.account, [p.role])
                p.api_key = orgs.create_key(conn, p.gln, "bench-verify")
    finally:
        conn.close()
    return parties


def load_lots(w3: Web3, pt, db_url: str, plan: Plan, maker: Party, batch: int, pool_size: int) -> dict[str, float]:
    """Commission every lot on chain and bulk-load its serials and tree, a batch at a time: the pool builds the next
    batch while this process sends the current one to the chain and COPYs it."""
    conn = psycopg2.connect(db_url)
    started = time.monotonic()
    spent = Counter()
    hashes = []
    jobs = [(plan, lot_no, maker.org_id) for lot_no in range(plan.lots)]
    batches = [jobs[i : i + batch] for i in range(0, len(jobs), batch)]
    try:
        with multiprocessing.get_context("spawn").Pool(pool_size) as pool:
            pending = pool.map_async(build_lot, batches[0])
            for k in range(len(batches)):
                t0 = time.monotonic()
                lots = pending.get()
                spent["waiting for the builders"] += time.monotonic() - t0
                if k + 1 < len(batches):
                    pending = pool.map_async(build_lot, batches[k + 1])
                t0 = time.monotonic()
                calls = [
                    pt.encode_abi(
                        "commissionLot",
                        [int(lot.gtin), lot.lot, expiry_seconds(lot.expiry), len(lot.serials), lot.root],
                    )
                    for lot in lots
                ]
                hashes.append(pt.functions.multicall(calls).transact({"from": maker.account}))
                spent["commissioning on chain"] += time.monotonic() - t0
                t0 = time.monotonic()
                with conn:
                    serials.bulk_load(conn, lots)
                spent["bulk load (COPY)"] += time.monotonic() - t0
                done = (k * batch + len(lots)) * plan.per_lot
                elapsed = time.monotonic() - started
                log(f"  {k * batch + len(lots):,}/{plan.lots:,} lots, {done:,} serials, {elapsed:.0f}s "
                    f"({done / elapsed:,.0f} serials/s)")  # fmt: skip
        t0 = time.monotonic()
        bad = [h for h in hashes if w3.eth.wait_for_transaction_receipt(h, timeout=600).status != 1]
        if bad:
            raise SystemExit(f"setup: {len(bad)} commissionLot multicall(s) reverted, e.g. {bad[0].hex()}")
        spent["commissioning on chain"] += time.monotonic() - t0
        t0 = time.monotonic()
        conn.autocommit = True
        with conn.cursor() as cur:
            # VACUUM too: after 10M inserts autovacuum would otherwise scan these tables during the
            # windows (seen: a 10M run whose first rounds stalled, p99 34 ms, while later ones had 11)
            cur.execute("VACUUM (ANALYZE) lot_commissions, lot_serials, lot_trees")
            try:
                cur.execute("CHECKPOINT")  # the load's dirty pages written out now, not during the windows
            except psycopg2.Error as exc:
                log(f"  (no CHECKPOINT: {exc.pgerror or exc})")
        spent["VACUUM ANALYZE + CHECKPOINT"] += time.monotonic() - t0
    finally:
        conn.close()
    spent["total"] = time.monotonic() - started
    return spent


def set_up_custody(w3: Web3, pt, plan: Plan, parties: dict[str, Party], lots: int, cases: int, per_case: int):
    """Pack, ship and receive a sample of cases (see the module docstring); returns the (lot, leaf) ranges of the
    packs that have a custody path."""
    maker, dist, pharmacy = (parties[k].account for k in ("maker", "distributor", "pharmacy"))
    ssccs = [(lot_no, c, with_check_digit(f"3950601{lot_no:05d}{c:05d}")) for lot_no in range(lots)
             for c in range(cases)]  # fmt: skip
    packing = [pt.encode_abi("packCase", [int(s), lgtin_id(plan.gtin(n), plan.lot(n)), c * per_case, per_case])
               for n, c, s in ssccs]  # fmt: skip
    for i in range(0, len(packing), PACK_CASES_PER_TX):
        transact(w3, pt.functions.multicall(packing[i : i + PACK_CASES_PER_TX]), maker, "packCase")
    units = [sscc_id(s) for _, _, s in ssccs]
    onward = units[::2]
    for i in range(0, len(units), UNITS_PER_HANDOFF):
        chunk = units[i : i + UNITS_PER_HANDOFF]
        transact(w3, pt.functions.ship(chunk, dist), maker, "ship to the distributor")
        transact(w3, pt.functions.receiveShipment(chunk), dist, "receive at the distributor")
    for i in range(0, len(onward), UNITS_PER_HANDOFF):
        chunk = onward[i : i + UNITS_PER_HANDOFF]
        transact(w3, pt.functions.ship(chunk, pharmacy), dist, "ship to the pharmacy")
        transact(w3, pt.functions.receiveShipment(chunk), pharmacy, "receive at the pharmacy")
    return len(ssccs)


# --------------------------------------------------------------------------- codes


def code_text(pack: gs1.Pack, form: str) -> str:
    if form == "digital link":
        return gs1.to_digital_link(pack)
    if form == "scan data":
        return gs1.to_scan_data(pack)
    return gs1.to_element_string(pack)


def make_codes(plan: Plan, count: int, custody: tuple[int, int], rng: random.Random) -> list[tuple[str, str]]:
    """(kind, code) pairs: half valid, half invalid (INVALID_KINDS in turn); forms in turn."""
    custody_lots, custody_packs = custody
    unknown_gtin = with_check_digit("0950602000000")  # never registered
    out = []
    for n in range(count):
        lot_no, index = rng.randrange(plan.lots), rng.randrange(plan.per_lot)
        kind = "valid" if n % 2 == 0 else INVALID_KINDS[(n // 2) % len(INVALID_KINDS)]
        if kind == "valid" and custody_lots and (n // 2) % CUSTODY_SHARE == 0:
            kind, lot_no, index = "valid (custody sample)", rng.randrange(custody_lots), rng.randrange(custody_packs)
        gtin, serial, lot, expiry = plan.gtin(lot_no), plan.serial(lot_no, index), plan.lot(lot_no), plan.expiry(lot_no)
        if kind == "unknown_serial":
            serial = f"X{rng.randrange(10**12):012d}"
        elif kind == "wrong_lot":
            lot = plan.lot((lot_no + 1 + rng.randrange(max(1, plan.lots - 1))) % max(plan.lots, 2))
        elif kind == "wrong_expiry":
            expiry = expiry + timedelta(days=rng.choice([-31, -1, 1, 30, 365]))
        elif kind == "unknown_gtin":
            gtin = unknown_gtin
        out.append((kind, code_text(gs1.Pack(gtin, serial, lot, expiry), FORMS[n % len(FORMS)])))
    return out


def verify_path(code: str) -> str:
    return "/v1/verify?code=" + quote(code, safe="")


def preflight(port: int, key: str, codes: list[tuple[str, str]]) -> None:
    """A few codes of each kind, verified once: the verdicts the load will ask for."""
    by_kind: dict[str, list[str]] = {}
    for kind, code in codes:
        if len(by_kind.setdefault(kind, [])) < PREFLIGHT_PER_KIND:
            by_kind[kind].append(code)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    print("verdicts by kind of code (a sample, verified once before the windows):")
    try:
        for kind, sample in by_kind.items():
            seen = Counter()
            for code in sample:
                conn.request("GET", verify_path(code), headers={"Authorization": f"Bearer {key}"})
                resp = conn.getresponse()
                body = resp.read()
                if resp.status != 200:
                    raise SystemExit(
                        f"preflight: {code!r} answered {resp.status}: {body[:400].decode(errors='replace')}"
                    )
                seen[json.loads(body).get("verdict", "?")] += 1
            print(f"  {kind:<24} " + ", ".join(f"{v} {n}" for v, n in seen.most_common()))
    finally:
        conn.close()


# --------------------------------------------------------------------------- wrk


@dataclass
class WrkResult:
    requests: int
    seconds: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    socket_errors: dict[str, int]
    statuses: dict[int, int]
    output: str
    tail_ms: list[float] = field(default_factory=list)  # latency at 90.0%, 90.1%, … 99.9%

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def non_200(self) -> int:
        return sum(n for s, n in self.statuses.items() if s != 200)


WRK_LINE = re.compile(
    r"^WRK requests (\d+) duration_us (\d+) p50_us (\d+) p90_us (\d+) p99_us (\d+) max_us (\d+) "
    r"connect (\d+) read (\d+) write (\d+) timeout (\d+) statuses (\S*)$",
    re.MULTILINE,
)


TAIL_LINE = re.compile(r"^WRK tail_us ([\d,]+)$", re.MULTILINE)


def parse_wrk(output: str) -> WrkResult:
    m, tail = WRK_LINE.search(output), TAIL_LINE.search(output)
    if m is None or tail is None:
        raise SystemExit(f"wrk: no result lines in its output:\n{output}")
    n, dur, p50, p90, p99, top, connect, read, write, timeout = (int(g) for g in m.groups()[:10])
    statuses = {int(s): int(c) for s, c in (part.split(":") for part in m.group(11).split(",") if part)}
    errors = {"connect": connect, "read": read, "write": write, "timeout": timeout}
    tail_ms = [int(v) / 1e3 for v in tail.group(1).split(",")]
    return WrkResult(n, dur / 1e6, p50 / 1e3, p90 / 1e3, p99 / 1e3, top / 1e3, errors, statuses, output, tail_ms)


def p99_of_rounds(results: list[WrkResult]) -> float:
    """The 99th percentile latency of all the rounds' requests together, from each round's tail (its latency
    at 90.0%, 90.1% … 99.9%): the lowest latency x above which at most 1% of all requests lie, counting in each
    round the share above its highest tenth-percentile point at or below x (never fewer than there are, so x
    is never too low by more than a tenth of a percent of a round)."""
    total = sum(r.requests for r in results)

    def above(x: float) -> float:
        count = 0.0
        for r in results:
            at_or_below = [90.0 + i / 10 for i, value in enumerate(r.tail_ms) if value <= x]
            count += r.requests * (100.0 - (max(at_or_below) if at_or_below else 90.0)) / 100.0
        return count

    candidates = sorted({v for r in results for v in r.tail_ms} | {r.max_ms for r in results})
    return next(x for x in candidates if above(x) <= total / 100.0)


def run_wrk(args, base: str, paths_file: Path, key: str, seconds: int, meter_groups: dict) -> tuple[WrkResult, tuple]:
    cmd = ["wrk", "-t", str(args.wrk_threads), "-c", str(args.connections), "-d", f"{seconds}s", "--latency",
           "--timeout", "10s", "-s", str(LUA), base, "--", str(paths_file), key]  # fmt: skip
    out_path = paths_file.with_suffix(".wrk.txt")
    meter = CpuMeter(meter_groups)
    with open(out_path, "w") as out:
        start = meter.sample()
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)  # wrk's own CPU, which psutil cannot read once it has exited
        end = meter.sample()
    proc.returncode = os.waitstatus_to_exitcode(status)
    output = out_path.read_text(errors="replace")
    if proc.returncode != 0:
        raise SystemExit(f"wrk exited with code {proc.returncode}:\n{output}")
    used, busy, span = CpuMeter.diff(start, end)
    used["wrk"] = usage.ru_utime + usage.ru_stime
    return parse_wrk(output), (used, busy, span)


def merge_rounds(results: list[tuple[WrkResult, tuple]]) -> tuple[WrkResult, tuple]:
    """One endpoint's rounds as one window: counts and seconds add up; p99 is that of all the rounds'
    requests (p99_of_rounds); p50 and p90 shown are the worst round's."""
    statuses: dict[int, int] = {}
    errors: dict[str, int] = {}
    used: dict[str, float] = {}
    busy = span = 0.0
    for result, (round_used, round_busy, round_span) in results:
        for code, n in result.statuses.items():
            statuses[code] = statuses.get(code, 0) + n
        for kind, n in result.socket_errors.items():
            errors[kind] = errors.get(kind, 0) + n
        for name, seconds in round_used.items():
            used[name] = used.get(name, 0.0) + seconds
        busy, span = busy + round_busy, span + round_span
    rs = [r for r, _ in results]
    merged = WrkResult(
        sum(r.requests for r in rs), sum(r.seconds for r in rs), max(r.p50_ms for r in rs), max(r.p90_ms for r in rs),
        p99_of_rounds(rs), max(r.max_ms for r in rs), errors, statuses,
        "\n".join(f"[round {i + 1}]\n{r.output.rstrip()}" for i, r in enumerate(rs)),
    )  # fmt: skip
    return merged, (used, busy, span)


def show_cpu(cpu) -> None:
    used, busy, span = cpu
    ours = sum(used.values())
    parts = [f"{name} {seconds / span:.0%}" for name, seconds in sorted(used.items(), key=lambda kv: -kv[1])]
    parts.append(f"other processes {max(0.0, busy - ours) / span:.0%}")
    print(f"  CPU (% of one core; {psutil.cpu_count()} cores, machine busy {busy / span:.0%}): " + ", ".join(parts))


def show_window(name: str, result: WrkResult, cpu) -> None:
    print(f"--- {name}: wrk output")
    print(result.output.rstrip())
    print(
        f"--- {name}: {result.requests:,} requests in {result.seconds:.1f}s = {result.rps:,.0f}/s; latency ms p50 "
        f"{result.p50_ms:.1f} p90 {result.p90_ms:.1f} p99 {result.p99_ms:.1f} max {result.max_ms:.1f}; statuses "
        + ", ".join(f"{s} {n:,}" for s, n in sorted(result.statuses.items()))
        + ("; socket errors " + str(result.socket_errors) if any(result.socket_errors.values()) else "")
    )
    show_cpu(cpu)


# --------------------------------------------------------------------------- the run


def drop_database(server_url: str, db_url: str) -> None:
    name = db_url.split("?", 1)[0].rsplit("/", 1)[1]
    conn = psycopg2.connect(server_url)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
    finally:
        conn.close()


def run(args: argparse.Namespace, tmp: Path) -> str:
    started = time.monotonic()
    cleanup: list = []
    try:
        chain = start_chain_and_database(tmp, cleanup, web3_timeout=600)
        if not args.keep:
            cleanup.append(lambda: drop_database(chain.server_url, chain.db_url))
        db_url, embedded, node, w3, pt = chain.db_url, chain.embedded, chain.node, chain.w3, chain.pt

        today = datetime.fromtimestamp(w3.eth.get_block("latest")["timestamp"], UTC).date()
        plan = Plan(args.lots, args.per_lot, make_products(args.products), today + timedelta(days=400))
        parties = set_up_parties(w3, pt, db_url, plan)
        log(
            f"setup: loading {args.lots:,} lots x {args.per_lot:,} serials = {args.lots * args.per_lot:,} serials "
            f"({args.products} products, {args.batch} lots per transaction and COPY, {args.pool} builder process(es))"
        )
        spent = load_lots(w3, pt, db_url, plan, parties["maker"], args.batch, args.pool)
        serial_count = args.lots * args.per_lot
        print(
            f"loaded {serial_count:,} serials in {args.lots:,} lots in {spent['total']:.0f}s "
            f"({serial_count / spent['total']:,.0f} serials/s): "
            + ", ".join(f"{k} {v:.0f}s" for k, v in spent.items() if k != "total"),
            flush=True,
        )
        custody_lots = min(args.custody_lots, args.lots)
        per_case = min(args.per_case, args.per_lot // max(1, args.cases))
        t0 = time.monotonic()
        cases = set_up_custody(w3, pt, plan, parties, custody_lots, args.cases, per_case) if per_case else 0
        print(
            f"custody sample: {cases:,} cases of {per_case} packs in {custody_lots} lot(s), packed, shipped to the "
            f"distributor and received, every other one on to the pharmacy, in {time.monotonic() - t0:.0f}s"
        )
        setup_head = w3.eth.block_number

        procs, _, logs, port = start_services(chain, tmp, cleanup, args.workers, args.threads)
        base = f"http://127.0.0.1:{port}"

        def mirrored() -> bool:
            cursor = db_scalar(db_url, "SELECT block_number FROM indexer_cursor WHERE name = 'main'")
            return cursor is not None and cursor[0] >= setup_head

        t0 = time.monotonic()
        wait_for("the indexer to mirror the setup", mirrored, 600, procs, logs)
        lots_on_chain = db_scalar(db_url, "SELECT count(*) FROM ev_lot_commissioned")[0]
        if lots_on_chain != args.lots:
            raise SystemExit(f"the mirror has {lots_on_chain} commissioned lots, not {args.lots}")
        log(f"setup: the indexer mirrored blocks up to {setup_head} in {time.monotonic() - t0:.0f}s")

        rng = random.Random(args.seed)
        custody = (custody_lots, args.cases * per_case) if cases else (0, 0)
        codes = make_codes(plan, args.codes, custody, rng)
        verify_file, ceiling_file = tmp / "verify-paths.txt", tmp / "ceiling-paths.txt"
        verify_file.write_text("".join(verify_path(code) + "\n" for _, code in codes))
        ceiling_file.write_text("".join(f"/v1/products/{gtin}\n" for gtin in plan.products))
        key = parties["pharmacy"].api_key
        kinds = Counter(kind for kind, _ in codes)
        print(f"codes: {len(codes):,} (" + ", ".join(f"{k} {n:,}" for k, n in kinds.items())
              + "), as " + ", ".join(FORMS) + " in turn; requester: the pharmacy")  # fmt: skip
        preflight(port, key, codes)

        meter_groups = {
            "api (gunicorn)": (procs["api"].pid, True),
            "indexer": (procs["indexer"].pid, True),
            "anvil": (node.process.pid, True),
        }
        pg_pid = postmaster_pid(embedded.data_dir) if embedded else None
        if pg_pid:
            meter_groups["postgres"] = (pg_pid, True)
        print(
            f"load: wrk {args.wrk_threads} thread(s), {args.connections} connections; gunicorn {args.workers} "
            f"worker(s) x {args.threads} threads (gthread); warm-up {args.warmup}s per endpoint, then "
            f"{args.seconds}s each in {args.rounds} alternating rounds",
            flush=True,
        )
        if args.warmup:
            for paths in (verify_file, ceiling_file):
                run_wrk(args, base, paths, key, args.warmup, meter_groups)
        verify_rounds, ceiling_rounds = [], []
        part = max(1, round(args.seconds / args.rounds))
        for _ in range(args.rounds):  # alternate, so that both endpoints meet the same machine
            verify_rounds.append(run_wrk(args, base, verify_file, key, part, meter_groups))
            ceiling_rounds.append(run_wrk(args, base, ceiling_file, key, part, meter_groups))
        verify_result, verify_cpu = merge_rounds(verify_rounds)
        ceiling_result, ceiling_cpu = merge_rounds(ceiling_rounds)
        show_window(f"GET /v1/verify ({args.rounds} x {part}s)", verify_result, verify_cpu)
        show_window(f"ceiling: GET /v1/products/{{gtin}} ({args.rounds} x {part}s)", ceiling_result, ceiling_cpu)
        for name, proc in procs.items():
            if proc.poll() is not None:
                raise SystemExit(f"{name} exited with code {proc.returncode}:\n{tail(logs / f'{name}.log')}")
        bad = verify_result.non_200 + ceiling_result.non_200
        if bad:
            print(f"WARNING: {bad:,} answers were not 200 (see the statuses above; {logs / 'api.log'})")
            args.failed = True
        print(f"elapsed {time.monotonic() - started:.0f}s")
        ratio = verify_result.rps / ceiling_result.rps if ceiling_result.rps else 0.0
        return (
            f"verify_rps {verify_result.rps:.0f} p99_ms {verify_result.p99_ms:.1f} "
            f"ceiling_rps {ceiling_result.rps:.0f} ratio {ratio:.2f}"
        )
    finally:
        for stop in reversed(cleanup):
            try:
                stop()
            except Exception as exc:  # keep stopping the rest
                print(f"cleanup: {type(exc).__name__}: {exc}", file=sys.stderr)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="bench.verify", description=__doc__.splitlines()[0])
    parser.add_argument("--lots", type=int, default=1000, help="lots commissioned and loaded (default 1000)")
    parser.add_argument("--per-lot", type=int, default=10_000, help="serials per lot (default 10000)")
    parser.add_argument("--seconds", type=int, default=30, help="each measured window (default 30)")
    parser.add_argument("--warmup", type=int, default=5, help="warm-up per endpoint before the windows (default 5)")
    parser.add_argument(
        "--rounds", type=int, default=3, help="each window is split into rounds, verify and ceiling alternating (3)"
    )
    parser.add_argument("--products", type=int, default=10, help="products the lots are spread over (default 10)")
    parser.add_argument("--batch", type=int, default=50, help="lots per commissionLot multicall and COPY (default 50)")
    parser.add_argument("--pool", type=int, default=os.cpu_count() or 1, help="tree builder processes")
    parser.add_argument("--custody-lots", type=int, default=10, help="lots with a custody sample (default 10)")
    parser.add_argument("--cases", type=int, default=10, help="cases packed per custody lot (default 10)")
    parser.add_argument("--per-case", type=int, default=100, help="packs per case (default 100)")
    parser.add_argument("--codes", type=int, default=20_000, help="codes in the verify file (default 20000)")
    parser.add_argument(
        "--connections",
        type=int,
        default=None,
        help="wrk connections (default: 2 x workers, the fewest that saturate the server; see the docstring)",
    )
    parser.add_argument("--wrk-threads", type=int, default=2, help="wrk threads (default 2)")
    add_server_options(parser)
    parser.add_argument("--seed", type=int, default=1, help="random seed of the codes (default 1)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder and the database")
    args = parser.parse_args(argv)
    args.connections = args.connections or 2 * args.workers
    if min(args.lots, args.per_lot, args.seconds, args.products, args.batch, args.pool, args.codes) < 1:
        parser.error("--lots, --per-lot, --seconds, --products, --batch, --pool and --codes must be ≥ 1")
    if args.connections < args.wrk_threads:
        parser.error("--connections must be ≥ --wrk-threads (wrk gives each thread at least one)")
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install -y wrk (make bench-verify does it)")
    args.failed = False
    tmp = Path(tempfile.mkdtemp(prefix="pharmatrack-bench-verify-"))
    try:
        last = run(args, tmp)
    finally:
        if args.keep:
            print(f"kept {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    print(last, flush=True)
    if args.failed:
        sys.exit(1)


if __name__ == "__main__":
    main()
