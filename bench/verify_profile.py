"""`python -m bench.verify_profile`: where one gunicorn worker's CPU goes for ``GET /v1/verify`` and for the
ceiling route ``GET /v1/products/{gtin}`` of `make bench-verify`, per request and per stage.

Setup as bench/verify.py (its functions), smaller by default: ``--lots`` x ``--per-lot`` serials, the custody
sample, the same mix of codes, the pharmacy's API key; the indexer mirrors the setup once (``index --once``).
Then, for each endpoint, one gunicorn worker (``app.stack.gunicorn_args``, gthread, ``--threads``) is driven by
wrk (bench/verify.lua, ``--connections``) twice:

1. plain, ``--rounds`` times alternating between the endpoints (the round of median CPU is shown): the worker's
   CPU (all its threads: the request threads, the event loop, the verification log's writer) and Postgres' CPU
   over ``--seconds``, divided by the requests answered: the true CPU per request;
2. profiled (bench/profile_hooks.py): each request thread, and the verification log's writer thread, runs
   cProfile on its own CPU clock; cProfile inflates small calls more than large ones, so the shares are
   approximate (a pure-Python stage is overstated by up to 2x against one spent in C).

The table shows each stage's share of the profiled threads' CPU applied to the plain run's worker CPU per
request (µs), inclusive: an indented line is part of the line above it; "rest" lines are the parent's own work
and what no line names. The worker's event loop (gunicorn's main thread: accept, poll, keep-alive) is not
profiled: its CPU is spread over the lines in proportion. ``--sql`` also measures the Postgres CPU of each
statement of a verification, by kind of code, from one backend. Last line: ``verify_cpu_us V ceiling_cpu_us C
pg_verify_us … pg_ceiling_us …`` (worker and Postgres CPU per request).

Run: ``.venv/bin/python -m bench.verify_profile [--seconds 10] [--sql] [--detail 25]`` (wrk on PATH; about 3
minutes on 2 cores).
"""

from __future__ import annotations

import argparse
import os
import pstats
import random
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psutil
import psycopg2

from app import stack
from app.config import Settings
from app.db.products import PRODUCT
from bench.ingest import free_port, postmaster_pid, service_env, spawn, start_chain_and_database
from bench.verify import (
    LUA,
    Plan,
    load_lots,
    make_codes,
    make_products,
    parse_wrk,
    set_up_custody,
    set_up_parties,
    verify_path,
)

# (depth, label, [(path suffix, function name), ...]): a stage's CPU is the inclusive CPU of its functions
STAGES = [
    (0, "request thread, total (gthread handle)", [("gunicorn/workers/gthread.py", "handle")]),
    (1, "gunicorn: read and parse the request", [("gunicorn/http/parser.py", "__next__")]),
    (1, "gunicorn: build the WSGI environ", [("gunicorn/http/wsgi.py", "create")]),
    (1, "app (WSGI: security headers middleware and Flask)", [("app/api/security.py", "__call__")]),
    (2, "auth gate: API key (cached) + rate limit", [("app/api/auth.py", "_require_credentials")]),
    (2, "%-escape check of the URL", [("app/api/urls.py", "_refuse_malformed_escapes")]),
    (2, "JSON body hook", [("app/api/jsonbody.py", "_parse_json_body")]),
    (2, "view", [("app/api/verify.py", "get"), ("app/api/products.py", "get")]),
    (3, "parse the code / GTIN (gs1)", [("app/gs1.py", "parse"), ("app/gs1.py", "parse_gtin")]),
    (3, "database pool: take and return a connection", [("app/db/__init__.py", "connection")]),
    (
        3,
        "service (verify) / row to dict (ceiling)",
        [("app/services/verify.py", "verify"), ("app/api/products.py", "_row")],
    ),
    (
        4,
        "SQL: round trips, client side (execute, fetch, rows to dicts)",
        [("app/db/__init__.py", "fetch_all_prepared", "app/db/verify.py")],
    ),
    (4, "proof: keccak leaf and path, checked against the root", [("app/services/verify.py", "_proof_body")]),
    (4, "party names (cached)", [("app/services/parties.py", "cached_parties")]),
    (
        4,
        "a pack's custody: its containers' events (a second round trip) and the fold",
        [("app/services/verify.py", "_pack_custody_of")],
    ),
    (
        3,
        "SQL: round trips, client side (ceiling)",
        [("app/db/__init__.py", "fetch_all_prepared", "app/api/products.py")],
    ),
    (
        3,
        "verification log: row + append",
        [("app/services/verify.py", "log_row"), ("app/services/verifylog.py", "append")],
    ),
    (
        3,
        "JSON encoding of the answer",
        [
            ("flask/json/__init__.py", "jsonify"),
            ("flask_smorest/response.py", "_prepare_response_content"),
            ("app/api/verify.py", "_json"),
        ],
    ),
    (1, "gunicorn: write the response", [("gunicorn/http/wsgi.py", "write"), ("gunicorn/http/wsgi.py", "close")]),
    (1, "gunicorn: access log line", [("gunicorn/glogging.py", "access")]),
    (
        0,
        "verification log writer thread (COPY every VERIFY_LOG_FLUSH_SECONDS)",
        [("app/services/verifylog.py", "flush")],
    ),
    (1, "COPY: the rows as text, the statement", [("app/db/copy.py", "copy_rows")]),
    (1, "database pool, transaction, commit", [("app/db/__init__.py", "connection")]),
]
WRITER = next(i for i, stage in enumerate(STAGES) if stage[1].startswith("verification log writer"))


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def inclusive(stats: pstats.Stats, suffix: str, name: str, within: str | None = None) -> float:
    """Inclusive seconds of every function `name` defined in a file ending with `suffix` (called from a file
    ending with `within`, when given: fetch_all_prepared as the ceiling view calls it)."""
    total = 0.0
    for (filename, _line, func), (_cc, _nc, _tt, ct, callers) in stats.stats.items():
        if func != name or not filename.endswith(suffix):
            continue
        if within is None:
            total += ct
        else:
            total += sum(c[3] for (f, _l, _n), c in callers.items() if f.endswith(within))
    return total


def stage_seconds(stats: dict[str, pstats.Stats]) -> list[float]:
    """Each stage's inclusive seconds: from the request threads' profile, or the log writer's (WRITER on)."""
    out = []
    for i, (_depth, _label, funcs) in enumerate(STAGES):
        source = stats.get("writer" if i >= WRITER else "requests")
        out.append(sum(inclusive(source, suffix, name, *within) for suffix, name, *within in funcs) if source else 0.0)
    return out


def worker_pid(master: int) -> int:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        children = psutil.Process(master).children()
        if children:
            return children[0].pid
        time.sleep(0.1)
    raise SystemExit("gunicorn started no worker")


def pg_by_kind(pid: int) -> dict[str, float]:
    """Postgres CPU by process kind (its title: a client backend, walwriter, autovacuum worker, …)."""
    out: dict[str, float] = {}
    for proc in psutil.Process(pid).children(recursive=True):
        try:
            title = " ".join(proc.cmdline())
            t = proc.cpu_times()
        except psutil.Error:
            continue
        kind = title.removeprefix("postgres: ")
        if "127.0.0.1" in kind or "[local]" in kind or "(" in kind:
            kind = "client backends"
        kind = kind.split(" ")[0] if kind != "client backends" else kind
        out[kind] = out.get(kind, 0.0) + t.user + t.system
    return out


def cpu_of(pid: int, recursive: bool = False) -> float:
    procs = [psutil.Process(pid)]
    if recursive:
        procs += procs[0].children(recursive=True)
    total = 0.0
    for proc in procs:
        try:
            t = proc.cpu_times()
            total += t.user + t.system
        except psutil.Error:
            continue
    return total


def wrk(args, port: int, paths: Path, key: str, seconds: int):
    cmd = ["wrk", "-t", "1", "-c", str(args.connections), "-d", f"{seconds}s", "--latency", "--timeout", "10s",
           "-s", str(LUA), f"http://127.0.0.1:{port}", "--", str(paths), key]  # fmt: skip
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    return parse_wrk(out)


def measure(args, env: dict, tmp: Path, name: str, paths: Path, key: str, pg_pid: int | None, profiled: bool):
    port = free_port()
    run_env = {**env, "PORT": str(port), "WEB_CONCURRENCY": "1"}
    profile_out = tmp / f"{name}.prof"
    if profiled:
        run_env["GUNICORN_CMD_ARGS"] = "--config python:bench.profile_hooks"
        run_env["PROFILE_OUT"] = str(profile_out)
    proc = spawn(stack.gunicorn_args(Settings.from_env(run_env)), run_env, tmp / f"api-{name}-{profiled}.log")
    try:
        stack.wait_ready(f"http://127.0.0.1:{port}/readyz", 120, proc)
        worker = worker_pid(proc.pid)
        wrk(args, port, paths, key, args.warmup)
        cpu0, pg0 = cpu_of(worker), cpu_of(pg_pid, True) if pg_pid else 0.0
        kinds0 = pg_by_kind(pg_pid) if pg_pid else {}
        threads0 = {t.id: t.user_time + t.system_time for t in psutil.Process(worker).threads()}
        result = wrk(args, port, paths, key, args.seconds)
        cpu1, pg1 = cpu_of(worker), cpu_of(pg_pid, True) if pg_pid else 0.0
        kinds1 = pg_by_kind(pg_pid) if pg_pid else {}
        threads1 = {t.id: t.user_time + t.system_time for t in psutil.Process(worker).threads()}
        if not profiled:
            kinds = {k: (v - kinds0.get(k, 0.0)) / result.requests * 1e6 for k, v in kinds1.items()}
            per_thread = sorted(
                (((v - threads0.get(k, 0.0)) / result.requests * 1e6, k == worker) for k, v in threads1.items()),
                reverse=True,
            )
            print(
                f"  {name}: worker µs/request by thread: "
                + ", ".join(f"{'main ' if main else ''}{v:,.0f}" for v, main in per_thread if v >= 1)
            )
            print(
                f"  {name}: Postgres µs/request by process: "
                + ", ".join(f"{k} {v:,.0f}" for k, v in sorted(kinds.items(), key=lambda kv: -kv[1]) if v >= 1)
            )
    finally:
        stack.stop_process(proc)
    if result.non_200:
        raise SystemExit(f"{name}: {result.non_200} answers were not 200: {result.statuses}")
    n = result.requests
    stats: dict[str, pstats.Stats] = {}
    if profiled:
        for kind in ("requests", "writer"):
            dumps = sorted(tmp.glob(f"{name}.prof.{kind}.*"))
            if dumps:
                stats[kind] = pstats.Stats(*map(str, dumps))
        if "requests" not in stats:
            raise SystemExit(f"{name}: the profiled worker wrote no profile")
    return n, result.rps, (cpu1 - cpu0) / n, (pg1 - pg0) / n if pg_pid else 0.0, stats


def run(args, tmp: Path) -> str:
    cleanup: list = []
    try:
        chain = start_chain_and_database(tmp, cleanup, web3_timeout=600)
        w3, pt = chain.w3, chain.pt
        today = datetime.fromtimestamp(w3.eth.get_block("latest")["timestamp"], UTC).date()
        plan = Plan(args.lots, args.per_lot, make_products(args.products), today + timedelta(days=400))
        parties = set_up_parties(w3, pt, chain.db_url, plan)
        log(f"setup: {args.lots} lots x {args.per_lot} serials")
        load_lots(w3, pt, chain.db_url, plan, parties["maker"], 10, 2)
        per_case = min(args.per_case, args.per_lot // args.cases)
        custody_lots = min(args.custody_lots, args.lots)
        set_up_custody(w3, pt, plan, parties, custody_lots, args.cases, per_case)
        env = service_env(chain, tmp, free_port(), 1, args.threads)
        subprocess.run([sys.executable, "-m", "app.cli", "index", "--once"], env=env, check=True,
                       stdout=subprocess.DEVNULL)  # fmt: skip
        codes = make_codes(plan, args.codes, (custody_lots, args.cases * per_case), random.Random(args.seed))
        files = {"verify": tmp / "verify-paths.txt", "ceiling": tmp / "ceiling-paths.txt"}
        files["verify"].write_text("".join(verify_path(code) + "\n" for _, code in codes))
        files["ceiling"].write_text("".join(f"/v1/products/{gtin}\n" for gtin in plan.products))
        key = parties["pharmacy"].api_key
        pg_pid = postmaster_pid(chain.embedded.data_dir) if chain.embedded else None
        if args.sql:
            sql_costs(chain.db_url, codes, plan, parties["pharmacy"])
        plain, split = {}, {}
        runs: dict[str, list] = {name: [] for name in files}
        for r in range(args.rounds):  # alternating, so that a drift of the machine falls on both alike
            for name, paths in files.items():
                log(f"{name}: plain, round {r + 1} of {args.rounds}, {args.seconds}s")
                runs[name].append(measure(args, env, tmp, name, paths, key, pg_pid, profiled=False))
        for name in files:  # the round of median worker + Postgres CPU per request
            plain[name] = sorted(runs[name], key=lambda run: run[2] + run[3])[len(runs[name]) // 2]
        for name, paths in files.items():
            log(f"{name}: profiled, {args.seconds}s")
            split[name] = measure(args, env, tmp, name, paths, key, pg_pid, profiled=True)
        print(f"one gunicorn worker x {args.threads} threads, wrk {args.connections} connections, {args.seconds}s each")
        for name in files:
            n, rps, cpu, pg, _ = plain[name]
            print(f"  {name}: plain {n:,} requests ({rps:,.0f}/s), worker CPU {cpu * 1e6:,.0f} µs/request, "
                  f"Postgres CPU {pg * 1e6:,.0f} µs/request")  # fmt: skip
        seconds = {name: stage_seconds(split[name][4]) for name in files}
        if args.detail:
            for name in files:
                for kind, stats in split[name][4].items():
                    print(f"--- {name}, {kind} threads: the functions of most own CPU (profiled)")
                    stats.sort_stats("tottime").print_stats(args.detail)
        print(f"\n{'stage (µs of worker CPU per request)':<72} {'verify':>8} {'ceiling':>8}")
        scale = {}
        for name in files:  # a stage's share of the profiled request threads, of the plain worker's CPU per request
            scale[name] = plain[name][2] / sum(
                v for (depth, _, _), v in zip(STAGES, seconds[name], strict=True) if depth == 0
            )
        rows = []
        for i, (depth, label, _funcs) in enumerate(STAGES):
            values = [seconds[name][i] * scale[name] * 1e6 for name in files]
            rows.append((depth, label, values))
        _print_with_rest(rows)
        v, c = plain["verify"][2] * 1e6, plain["ceiling"][2] * 1e6
        pv, pc = plain["verify"][3] * 1e6, plain["ceiling"][3] * 1e6
        print(f"\nthe worker's whole CPU per request is the sum of the unindented lines: verify {v:,.0f} µs, "
              f"ceiling {c:,.0f} µs; with Postgres: verify {v + pv:,.0f} µs, ceiling {c + pc:,.0f} µs, "
              f"their ratio {(c + pc) / (v + pv):.2f} (bench-verify's ratio, were the machine only these two)")  # fmt: skip
        return (f"verify_cpu_us {v:.0f} ceiling_cpu_us {c:.0f} pg_verify_us {plain['verify'][3] * 1e6:.0f} "
                f"pg_ceiling_us {plain['ceiling'][3] * 1e6:.0f}")  # fmt: skip
    finally:
        for stop in reversed(cleanup):
            try:
                stop()
            except Exception as exc:
                print(f"cleanup: {type(exc).__name__}: {exc}", file=sys.stderr)


def sql_costs(db_url: str, codes: list[tuple[str, str]], plan: Plan, requester) -> None:
    """Postgres CPU (the backend's, µs) of each statement of the verify path and of the ceiling, run from one
    connection (prepared as the API does), and of one verification log row in a COPY of 50."""
    from app import gs1
    from app.api.fields import VerifiableCode
    from app.db import PreparingConnection, fetch_all_prepared
    from app.db.copy import copy_rows
    from app.services import verify
    from app.services.verifylog import COLUMNS, _stamped

    conn = psycopg2.connect(db_url, connection_factory=PreparingConnection)
    conn.autocommit = True
    backend = psutil.Process(conn.get_backend_pid())
    items = [(kind, gs1.parse(code, expect=VerifiableCode.kinds)) for kind, code in codes]
    who = verify.Requester(requester.org_id, bytes.fromhex(requester.account[2:]), requester.gln, ("dispenser",))

    def cpu() -> float:
        t = backend.cpu_times()
        return t.user + t.system

    def timed(label: str, calls) -> None:
        for call in calls[:50]:  # warm: plans, caches
            call()
        t0 = cpu()
        for call in calls:
            call()
        print(f"  {label:<60} {(cpu() - t0) / len(calls) * 1e6:8,.0f} µs")

    print("Postgres CPU per statement (one backend, prepared):")
    for kind in sorted({k for k, _ in items}):
        packs = [item for k, item in items if k == kind]
        timed(
            f"verify of a pack, {kind} (all its statements)", [lambda p=p: verify.verify(conn, p, who) for p in packs]
        )
    products = plan.products * 200
    timed("ceiling: product_by_gtin", [lambda g=g: fetch_all_prepared(conn, "product_by_gtin", PRODUCT,
                                                                          (int(g),)) for g in products])  # fmt: skip
    results = [verify.log_row(verify.verify(conn, item, who), who, "api", "x") for _, item in items[:2000]]
    rows = [tuple(r.get(c) for c in COLUMNS) for r in results]
    rows = [(time.time(), *r[1:]) for r in rows]
    batches = [rows[i : i + 50] for i in range(0, len(rows), 50)]
    t0 = cpu()
    for batch in batches:
        with conn.cursor() as cur:
            cur.execute("BEGIN")
        copy_rows(conn, "verifications", COLUMNS, [_stamped(r) for r in batch])
        with conn.cursor() as cur:
            cur.execute("COMMIT")
    print(
        f"  {'verification log: one row of a COPY of 50 (with its commit)':<60} {(cpu() - t0) / len(rows) * 1e6:8,.0f} µs"
    )
    conn.close()


def _print_with_rest(rows: list[tuple[int, str, list[float]]]) -> None:
    """Each row, its children, then a 'rest' row: the parent minus its children."""

    def show(i: int) -> int:
        depth, label, values = rows[i]
        print(f"{'  ' * depth + label:<72} " + " ".join(f"{v:8,.0f}" for v in values))
        j, children = i + 1, []
        while j < len(rows) and rows[j][0] > depth:
            children.append(rows[j][2])
            j = show(j)
        if children:
            rest = [v - sum(c[k] for c in children) for k, v in enumerate(values)]
            label = "  " * (depth + 1) + "(rest: own work and calls not named above)"
            print(f"{label:<72} " + " ".join(f"{v:8,.0f}" for v in rest))
        return j

    i = 0
    while i < len(rows):
        i = show(i)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="bench.verify_profile", description=__doc__.splitlines()[0])
    parser.add_argument("--lots", type=int, default=40)
    parser.add_argument("--per-lot", type=int, default=2000)
    parser.add_argument("--products", type=int, default=10)
    parser.add_argument("--custody-lots", type=int, default=4)
    parser.add_argument("--cases", type=int, default=10)
    parser.add_argument("--per-case", type=int, default=100)
    parser.add_argument("--codes", type=int, default=4000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--threads", type=int, default=int(os.environ.get("WEB_THREADS", "8")))
    parser.add_argument("--connections", type=int, default=2, help="wrk connections (default 2, as one worker's share)")
    parser.add_argument("--seconds", type=int, default=15, help="each measured run (default 15)")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3, help="plain runs of each endpoint, alternating (median)")
    parser.add_argument("--sql", action="store_true", help="also the Postgres CPU of each statement")
    parser.add_argument("--detail", type=int, default=0, help="print the N functions of most own CPU of each profile")
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install -y wrk")
    tmp = Path(tempfile.mkdtemp(prefix="pharmatrack-verify-profile-"))
    try:
        print(run(args, tmp), flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
