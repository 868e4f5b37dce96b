"""`make bench-ingest`: N concurrent clients post single-unit ship and receive scans through gunicorn.

What a "single-pack scan" is here: in our model only logistic units (cases and pallets, keyed by SSCC) are
shipped and received, so the issue's single-pack scan is one request carrying one unit: a
``POST /v1/shipments {"units": [sscc], "to": gln}`` or a ``POST /v1/receipts {"units": [sscc]}`` with one case's
SSCC, a fresh ``Idempotency-Key`` and the organisation's API key.

The stack is the real one, each part in its own process, as ``pharmatrack up`` runs it: Postgres (DATABASE_URL or
TEST_DATABASE_URL names a server; otherwise an embedded one in a temporary folder; either way a fresh database),
anvil (``--block-time``, 1 s by default; 0 = automine), the contracts, the migrations, then ``python -m app.cli
index``, ``python -m app.cli relay`` and gunicorn (``app.stack.gunicorn_args``, WEB_CONCURRENCY workers) with
LOG_LEVEL=WARNING and INDEXER_POLL_SECONDS=0.2. Relayer settings are the defaults. Children's output (gunicorn's
access log included) goes to log files in the temporary folder.

Setup (not measured): ``--pairs`` pairs of organisations, a manufacturer and a distributor, with fresh accounts
(keys in the signing keystore, light KDF), funded with ``anvil_setBalance``, registered on the contract by the
deployer and in the database with one API key each. Each manufacturer registers a product, commissions a lot and
packs its share of ``--cases`` cases of 10 packs straight on the contract (``packCase`` in ``multicall`` batches,
signed with its key). The indexer must have mirrored every case before the clock starts.

Load: ``--clients`` threads, each with its own cases and its own HTTP connection (http.client, kept alive; if the
server closes it, the client reconnects and resends with the same Idempotency-Key), post for ``--seconds``. A case cycles ship A→B,
receive by B, ship B→A, receive by A, …; a scan is posted only once the previous scan of that case is confirmed
(the API's pre-check reads the mirror, so a receive is only accepted once its shipment is mirrored). One poller
thread reads the state of outstanding operations from the database (``id = ANY(…)``, every 0.25 s) and hands
confirmed cases back to their client, ahead of fresh ones. Only 202 answers count as accepted; anything else is
an error (the first few are printed).

After ``--seconds`` the clients stop and the run waits (at most ``--drain`` seconds) until no operation is
pending or submitted.

Figures (last line ``accepted_per_s A confirmed_per_s C p99_accept_ms P txs T scans S``):
- S (scans): 202 answers; A = S / the posting window (``--seconds``, as measured).
- P: 99th percentile of the time from sending a request to reading its 202 answer, client side, in ms.
- C: operations confirmed by the end of the drain / (last confirmation - first accept), both from the
  database (``operations.updated_at`` of the last confirmed operation, ``min(created_at)``). The span is the
  posting window plus the confirmation latency of the last scans, so C < A even when everything keeps up.
- T (txs): rows of ``relay_transactions`` (every transaction the relayer signed during the run; the setup went
  straight to the contract, not through the relayer).

Also printed: accept latency percentiles, confirmation latency (accept → confirmed), operations per transaction,
the clients' time starved of a ready case, and CPU per component over the posting window (psutil on each child's
process tree: gunicorn master and workers, relayer, indexer, anvil, the embedded Postgres with its backends; the
bench process itself, which holds the clients and the poller; and whatever else ran on the machine).

Targets (issue): A ≥ 1,500, C ≥ 1,000, P ≤ 50, T ≤ S / 50.

Run: ``.venv/bin/python -m bench.ingest [--seconds 30] [--clients 8] [--cases 6000] [--pairs 2] [--block-time 1]
[--workers N] [--threads N]`` (gunicorn's gthread workers and threads per worker; by default WEB_CONCURRENCY and
WEB_THREADS, as ``pharmatrack up`` runs it), or
``make bench-ingest BENCH_INGEST_ARGS="--seconds 5 --cases 500"`` for a smoke test.
"""

from __future__ import annotations

import argparse
import collections
import http.client
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import psycopg2
from biip.checksums import gs1_standard_check_digit
from eth_account import Account
from web3 import Web3

from app import stack
from app.chain.anvil import AnvilNode, free_port
from app.chain.compiler import load_artifacts
from app.chain.deploy import Signer, deploy_all
from app.chain.keystore import KeyStore
from app.chain.web3factory import make_web3
from app.config import Settings
from app.db.embedded import EmbeddedPostgres
from app.ids import lgtin_id, sgtin_id
from app.merkle import LotTree
from app.services import orgs
from bench.index import fresh_database

PACKS_PER_CASE = 10
CASES_PER_PACK_TX = 400  # ~34k gas per packCase: two such multicalls fit a 30M block
POLL_SECONDS = 0.25
PROGRESS_SECONDS = 5.0
SHOW_ERRORS = 5
CHAIN_ID = 31337


def with_check_digit(body: str) -> str:
    return body + str(gs1_standard_check_digit(body))


# --------------------------------------------------------------------------- parties and stock


@dataclass
class Org:
    name: str
    role: str
    gln: str
    account: object  # eth_account LocalAccount
    api_key: str = ""


@dataclass
class Pair:
    index: int
    maker: Org
    distributor: Org
    gtin: str
    lot: str


@dataclass
class Case:
    pair: Pair
    sscc: str
    step: int = 0  # 0 at maker, 1 in transit to distributor, 2 at distributor, 3 in transit to maker


def make_pairs(count: int) -> list[Pair]:
    pairs = []
    for p in range(count):
        maker = Org(f"Bench Maker {p}", "manufacturer", with_check_digit(f"95060{p:03d}0001"), Account.create())
        dist = Org(f"Bench Distributor {p}", "distributor", with_check_digit(f"95060{p:03d}0002"), Account.create())
        pairs.append(Pair(p, maker, dist, with_check_digit(f"0950600{p:06d}"), f"BENCH-P{p}"))
    return pairs


def send_signed(w3: Web3, account, call, nonce: int, gas: int) -> bytes:
    tx = call.build_transaction({"from": account.address, "nonce": nonce, "gas": gas, "chainId": CHAIN_ID})
    return w3.eth.send_raw_transaction(account.sign_transaction(tx).raw_transaction)


def wait_all(w3: Web3, hashes: list, what: str) -> list:
    receipts = [w3.eth.wait_for_transaction_receipt(h, timeout=300) for h in hashes]
    bad = [r for r in receipts if r.status != 1]
    if bad:
        raise SystemExit(f"setup: {len(bad)} {what} transaction(s) reverted, e.g. {bad[0].transactionHash.hex()}")
    return receipts


def set_up_chain(w3: Web3, pt, pairs: list[Pair], cases_total: int) -> list[Case]:
    """Register, fund, and pack every pair's cases on the contract; returns the cases (at their makers)."""
    admin = w3.eth.accounts[0]
    hashes = []
    for pair in pairs:
        for org, role in ((pair.maker, "MANUFACTURER_ROLE"), (pair.distributor, "DISTRIBUTOR_ROLE")):
            w3.provider.make_request("anvil_setBalance", [org.account.address, hex(10**21)])
            role_id = getattr(pt.functions, role)().call()
            call = pt.functions.registerOrganisation(org.account.address, int(org.gln), [role_id])
            hashes.append(call.transact({"from": admin, "gas": 400_000}))
    wait_all(w3, hashes, "registerOrganisation")

    per_pair = -(-cases_total // len(pairs))
    expiry = w3.eth.get_block("latest")["timestamp"] + 2 * 365 * 86400
    hashes = []
    for pair in pairs:
        packs = per_pair * PACKS_PER_CASE
        tree = LotTree([sgtin_id(pair.gtin, f"B{pair.index:02d}{i:08d}") for i in range(packs)])
        maker = pair.maker.account
        hashes.append(send_signed(w3, maker, pt.functions.registerProduct(int(pair.gtin), 200, 800), 0, 300_000))
        call = pt.functions.commissionLot(int(pair.gtin), pair.lot, expiry, packs, tree.root)
        hashes.append(send_signed(w3, maker, call, 1, 600_000))
    wait_all(w3, hashes, "registerProduct/commissionLot")

    cases, hashes = [], []
    for pair in pairs:
        lot_id = lgtin_id(pair.gtin, pair.lot)
        ssccs = [with_check_digit(f"1950600{pair.index:02d}{c:08d}") for c in range(per_pair)]
        calls = [
            pt.encode_abi("packCase", [int(s), lot_id, c * PACKS_PER_CASE, PACKS_PER_CASE]) for c, s in enumerate(ssccs)
        ]
        batches = [calls[i : i + CASES_PER_PACK_TX] for i in range(0, len(calls), CASES_PER_PACK_TX)]
        gas = pt.functions.multicall(batches[0]).estimate_gas({"from": pair.maker.account.address})
        gas = gas * 11 // 10 + 100_000
        for k, batch in enumerate(batches):
            hashes.append(send_signed(w3, pair.maker.account, pt.functions.multicall(batch), 2 + k, gas))
        cases += [Case(pair, s) for s in ssccs]
    wait_all(w3, hashes, "packCase multicall")
    return cases


def set_up_database(url: str, pairs: list[Pair], keystore: KeyStore) -> None:
    conn = psycopg2.connect(url)
    try:
        with conn:
            for pair in pairs:
                for org in (pair.maker, pair.distributor):
                    keystore.import_key(org.account.key, kdf_light=True)
                    orgs.add_organisation(conn, org.name, org.gln, org.account.address, [org.role])
                    org.api_key = orgs.create_key(conn, org.gln, "bench-ingest")
    finally:
        conn.close()


# --------------------------------------------------------------------------- processes and CPU


def spawn(args: list[str], env: dict[str, str], log_path: Path) -> subprocess.Popen:
    """Like app.stack.spawn, with the child's output in a log file (gunicorn writes an access log line per request)."""
    out = open(log_path, "ab")  # noqa: SIM115 - kept open for the child
    return subprocess.Popen(
        args,
        env=env,
        stdout=out,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        preexec_fn=stack._die_with_parent,  # noqa: PLW1509 - as app.stack.spawn: set up before the load threads
    )


def tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def _cpu_seconds(proc: psutil.Process, reaped: bool) -> float:
    """CPU of the process, plus (``reaped``) that of its children it has waited for: Postgres forks a backend
    per connection, and a backend that exits between two samples is only seen in its postmaster's counters."""
    t = proc.cpu_times()
    return t.user + t.system + (t.children_user + t.children_system if reaped else 0.0)


class CpuMeter:
    """CPU seconds used per component (a process tree, or one process) between two samples."""

    def __init__(self, groups: dict[str, tuple[int, bool]]):  # name -> (pid, include descendants)
        self.groups = groups

    def sample(self) -> tuple[dict[str, dict[int, float]], float, float]:
        out = {}
        for name, (pid, recursive) in self.groups.items():
            per_pid = {}
            try:
                root = psutil.Process(pid)
                procs = [root] + (root.children(recursive=True) if recursive else [])
            except psutil.Error:
                procs = []
            for proc in procs:
                try:
                    per_pid[proc.pid] = _cpu_seconds(proc, recursive)
                except psutil.Error:
                    continue
            out[name] = per_pid
        machine = psutil.cpu_times()
        busy = sum(machine) - machine.idle - getattr(machine, "iowait", 0.0)
        return out, busy, time.monotonic()

    @staticmethod
    def diff(start, end) -> tuple[dict[str, float], float, float]:
        (s_groups, s_busy, s_t), (e_groups, e_busy, e_t) = start, end
        used = {}
        for name, per_pid in e_groups.items():
            before = s_groups.get(name, {})
            used[name] = sum(max(0.0, cpu - before.get(pid, 0.0)) for pid, cpu in per_pid.items())
        return used, e_busy - s_busy, e_t - s_t


def postmaster_pid(data_dir: Path) -> int | None:
    try:
        return int((data_dir / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


# --------------------------------------------------------------------------- load


class Api:
    """One keep-alive-when-possible HTTP connection (one per client thread)."""

    # A scanner fleet is many short keep-alive sessions, not 8 connections for ever: gunicorn's
    # workers each accept connections, so a connection held for the whole run pins its client to one
    # worker (and one GIL) however idle the others are. Reconnecting now and then spreads the load.
    RECONNECT_EVERY = 20

    def __init__(self, host: str, port: int):
        self.host, self.port = host, port
        self.conn = http.client.HTTPConnection(host, port, timeout=60)
        self.sent = 0

    def request(self, method: str, path: str, body: bytes | None, headers: dict) -> tuple[int, bytes]:
        self.sent += 1
        if self.sent % self.RECONNECT_EVERY == 0:
            self.conn.close()  # http.client reconnects on the next request
        for attempt in (1, 2):
            try:
                self.conn.request(method, path, body=body, headers=headers)
                resp = self.conn.getresponse()
                return resp.status, resp.read()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                # The server closed an idle kept-alive connection: retry once on a new one (same
                # Idempotency-Key, so a retried write can never be accepted twice).
                self.conn.close()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        self.conn.close()


@dataclass
class ClientStats:
    latencies: list[float] = field(default_factory=list)  # seconds, 202s only
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)
    starved: float = 0.0  # seconds waiting for a case to become ready


class Load:
    """The clients, their ready queues and the poller of outstanding operations."""

    def __init__(self, host: str, port: int, cases: list[Case], clients: int, db_url: str):
        self.host, self.port, self.db_url = host, port, db_url
        self.ready = [collections.deque() for _ in range(clients)]
        self.cond = [threading.Condition() for _ in range(clients)]
        for i, case in enumerate(cases):
            self.ready[i % clients].append(case)
        self.stats = [ClientStats() for _ in range(clients)]
        self.outstanding: dict[str, tuple[int, Case]] = {}
        self.lock = threading.Lock()
        self.accepted = 0
        self.confirmed_seen = 0
        self.failed_seen = 0
        self.failed_samples: list[str] = []
        self.go = threading.Event()
        self.stop_polling = threading.Event()
        self.deadline = 0.0

    # ---- a client

    def client(self, i: int) -> None:
        api = Api(self.host, self.port)
        stats, ready, cond = self.stats[i], self.ready[i], self.cond[i]
        self.go.wait()
        try:
            while True:
                with cond:
                    waited = time.monotonic()
                    while not ready and time.monotonic() < self.deadline:
                        cond.wait(min(0.1, max(0.0, self.deadline - time.monotonic())))
                    stats.starved += time.monotonic() - waited
                    if time.monotonic() >= self.deadline or not ready:
                        return
                    case = ready.popleft()
                self._post(api, i, stats, case)
        finally:
            api.close()

    def _post(self, api: Api, i: int, stats: ClientStats, case: Case) -> None:
        pair = case.pair
        if case.step in (0, 2):
            sender, to = (pair.maker, pair.distributor) if case.step == 0 else (pair.distributor, pair.maker)
            path, body = "/v1/shipments", {"units": [case.sscc], "to": to.gln}
        else:
            sender = pair.distributor if case.step == 1 else pair.maker
            path, body = "/v1/receipts", {"units": [case.sscc]}
        headers = {
            "Authorization": f"Bearer {sender.api_key}",
            "Idempotency-Key": uuid.uuid4().hex,
            "Content-Type": "application/json",
        }
        payload = json.dumps(body).encode()
        started = time.perf_counter()
        try:
            status, raw = api.request("POST", path, payload, headers)
        except (OSError, http.client.HTTPException) as exc:
            status, raw = 0, f"{type(exc).__name__}: {exc}".encode()
        elapsed = time.perf_counter() - started
        if status == 202:
            op_id = json.loads(raw)["operation"]["id"]
            stats.latencies.append(elapsed)
            with self.lock:
                self.outstanding[op_id] = (i, case)
                self.accepted += 1
            return
        stats.errors += 1  # the case is dropped: its state is unknown
        if len(stats.error_samples) < SHOW_ERRORS:
            stats.error_samples.append(
                f"{path} {case.sscc} step {case.step}: HTTP {status} {raw[:300].decode(errors='replace')}"
            )

    # ---- the poller

    def poll(self) -> None:
        poll_finished(
            self.db_url, self.stop_polling, POLL_SECONDS, self._outstanding_ids,
            "SELECT id::text, status, error FROM operations WHERE id = ANY(%s::uuid[]) "
            "AND status IN ('confirmed', 'failed')",
            lambda ids: (ids,), self._finished,
        )  # fmt: skip

    def _outstanding_ids(self) -> list[str]:
        with self.lock:
            return list(self.outstanding)

    def _finished(self, rows: list[tuple]) -> None:
        for op_id, status, error in rows:
            with self.lock:
                client, case = self.outstanding.pop(op_id)
            if status == "failed":
                self.failed_seen += 1
                if len(self.failed_samples) < SHOW_ERRORS:
                    self.failed_samples.append(f"{case.sscc} step {case.step}: {json.dumps(error)[:300]}")
                continue
            self.confirmed_seen += 1
            case.step = (case.step + 1) % 4
            with self.cond[client]:
                self.ready[client].appendleft(case)  # follow-up scans before fresh cases
                self.cond[client].notify()


def poll_finished(
    db_url: str, stop: threading.Event, interval: float, outstanding, query: str, params, finished
) -> None:
    """Every `interval` until `stop`: the operations among `outstanding()` that are confirmed or failed, by
    `query` with `params(outstanding ids)`, handed to `finished(rows)` (one connection, autocommit)."""
    conn = psycopg2.connect(db_url)
    conn.autocommit = True
    try:
        while not stop.wait(interval):
            ids = outstanding()
            if not ids:
                continue
            with conn.cursor() as cur:
                cur.execute(query, params(ids))
                rows = cur.fetchall()
            finished(rows)
    finally:
        conn.close()


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return 0.0
    k = min(len(sorted_values) - 1, max(0, round(q / 100 * len(sorted_values) + 0.5) - 1))
    return sorted_values[k]


# --------------------------------------------------------------------------- the run


def db_scalar(url: str, query: str, params: tuple = ()):
    conn = psycopg2.connect(url)
    try:
        with conn, conn.cursor() as cur:
            cur.execute(query, params)
            return cur.fetchone()
    finally:
        conn.close()


def pg_counters(url: str) -> dict[str, int]:
    """Sessions opened and transactions committed in the database so far (pg_stat_database, flushed by
    backends about once a second, so approximate over a window)."""
    sessions, commits = db_scalar(
        url, "SELECT sessions, xact_commit FROM pg_stat_database WHERE datname = current_database()"
    )
    return {"sessions": int(sessions), "commits": int(commits)}


def wait_for(what: str, check, timeout: float, procs: dict[str, subprocess.Popen], logs: Path) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        for name, proc in procs.items():
            if proc.poll() is not None:
                raise SystemExit(f"{name} exited with code {proc.returncode}:\n{tail(logs / f'{name}.log')}")
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.2)


@dataclass
class BenchChain:
    """A bench's own database (on DATABASE_URL/TEST_DATABASE_URL's server, or an embedded one) and
    its own anvil with the contracts deployed."""

    server_url: str
    db_url: str
    embedded: EmbeddedPostgres | None
    node: AnvilNode
    w3: Web3
    deployment: object
    pt: object


def add_server_options(parser: argparse.ArgumentParser) -> None:
    """--workers and --threads of the benches' gunicorn, defaulting as `pharmatrack up` does."""
    parser.add_argument(
        "--workers", type=int, default=int(os.environ.get("WEB_CONCURRENCY", "2")), help="gunicorn workers"
    )
    parser.add_argument(
        "--threads", type=int, default=int(os.environ.get("WEB_THREADS", "8")), help="threads per gunicorn worker"
    )


def start_chain_and_database(tmp: Path, cleanup: list, block_time: float | None = None,
                             web3_timeout: int = 300) -> BenchChain:  # fmt: skip
    """Start both, registering how to stop them in `cleanup` (run in reverse by the caller)."""
    server_url = os.environ.get("TEST_DATABASE_URL") or os.environ.get("DATABASE_URL")
    embedded = None
    if not server_url:
        embedded = EmbeddedPostgres(tmp / "pg")
        embedded.start()
        cleanup.append(embedded.stop)
        server_url = embedded.url("postgres")
    db_url = fresh_database(server_url)  # created and migrated
    node = AnvilNode(port=free_port(), chain_id=CHAIN_ID, block_time=block_time or None)
    node.start()
    cleanup.append(node.stop)
    w3 = make_web3(node.rpc_url, timeout=web3_timeout)
    deployment = deploy_all(w3, Signer(w3), tmp / "deployment.json")
    pt = w3.eth.contract(address=deployment.address("PharmaTrack"), abi=load_artifacts()["PharmaTrack"].abi)
    return BenchChain(server_url, db_url, embedded, node, w3, deployment, pt)


def start_services(chain: BenchChain, tmp: Path, cleanup: list, workers: int, threads: int, relayer: bool = False,
                   **extra_env: str) -> tuple[dict[str, subprocess.Popen], dict, Path, int]:  # fmt: skip
    """The indexer, the API under gunicorn (and the relayer) against `chain`, ready; returns
    (processes, their environment, the log folder, the API's port)."""
    port = free_port()
    env = service_env(chain, tmp, port, workers, threads, **extra_env)
    logs = tmp / "logs"
    logs.mkdir()
    procs = {"indexer": spawn([sys.executable, "-m", "app.cli", "index"], env, logs / "indexer.log")}
    if relayer:
        procs["relayer"] = spawn([sys.executable, "-m", "app.cli", "relay"], env, logs / "relayer.log")
    procs["api"] = spawn(stack.gunicorn_args(Settings.from_env(env)), env, logs / "api.log")
    for proc in procs.values():
        cleanup.append(lambda proc=proc: stack.stop_process(proc))
    stack.wait_ready(f"http://127.0.0.1:{port}/readyz", 120, procs["api"])
    return procs, env, logs, port


def service_env(
    chain: BenchChain, tmp: Path, port: int, workers: int, threads: int, **extra_env: str
) -> dict[str, str]:
    """The environment of the benches' indexer, relayer and API processes."""
    return {
        **os.environ,
        "DATABASE_URL": chain.db_url,
        "RPC_URL": chain.node.rpc_url,
        "DEPLOYMENT_FILE": str(chain.deployment.path),
        "PHARMATRACK_DATA_DIR": str(tmp / "data"),
        "LOG_LEVEL": "WARNING",
        "INDEXER_POLL_SECONDS": "0.2",
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "WEB_CONCURRENCY": str(workers),
        "WEB_THREADS": str(threads),
        # the per-key rate limit stays on (its cost is in the figures) but out of one synthetic client's reach
        "RATE_LIMIT_KEY_REQUESTS": "1000000000",
        **extra_env,
    }


def stop_all(cleanup: list) -> None:
    """Run a bench's stop functions in reverse order, each whatever the others did."""
    for stop in reversed(cleanup):
        try:
            stop()
        except Exception as exc:  # keep stopping the rest
            print(f"cleanup: {type(exc).__name__}: {exc}", file=sys.stderr)


def run_in_tmp(prefix: str, run, args: argparse.Namespace) -> str:
    """`run(args, tmp)` in a fresh temporary folder, removed afterwards unless ``args.keep``."""
    tmp = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        return run(args, tmp)
    finally:
        if args.keep:
            print(f"kept {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def run(args: argparse.Namespace, tmp: Path) -> str:
    started = time.monotonic()
    with_cleanup: list = []
    try:
        chain = start_chain_and_database(tmp, with_cleanup, args.block_time)
        db_url, embedded, node, w3, pt = chain.db_url, chain.embedded, chain.node, chain.w3, chain.pt

        pairs = make_pairs(args.pairs)
        password = tmp / "keystore-password"
        password.write_text(secrets.token_urlsafe(24) + "\n")
        password.chmod(0o600)
        keystore = KeyStore(tmp / "keystores", password)
        t0 = time.monotonic()
        cases = set_up_chain(w3, pt, pairs, args.cases)
        set_up_database(db_url, pairs, keystore)
        setup_head = w3.eth.block_number
        print(
            f"setup: {len(pairs)} pair(s) (manufacturer ⇄ distributor), {len(cases):,} cases packed on chain "
            f"in {time.monotonic() - t0:.1f}s; head block {setup_head}",
            flush=True,
        )

        procs, env, logs, port = start_services(
            chain, tmp, with_cleanup, args.workers, args.threads, relayer=True,
            SIGNER_KEYSTORE_DIR=str(keystore.directory), SIGNER_PASSWORD_FILE=str(password),
            BLOCK_TIME=str(args.block_time),
        )  # fmt: skip
        settings = Settings.from_env(env)

        def mirrored() -> bool:
            cursor = db_scalar(db_url, "SELECT block_number FROM indexer_cursor WHERE name = 'main'")
            if cursor is None or cursor[0] < setup_head:
                return False
            return db_scalar(db_url, "SELECT count(*) FROM ev_case_packed")[0] >= len(cases)

        wait_for("the indexer to mirror the setup", mirrored, 180, procs, logs)
        warm = Api("127.0.0.1", port)
        for k in range(4 * args.workers * args.threads):
            org = pairs[k % len(pairs)].maker
            status, _ = warm.request("GET", "/v1/me", None, {"Authorization": f"Bearer {org.api_key}"})
            if status != 200:
                raise SystemExit(f"warm-up: GET /v1/me answered {status}")
        warm.close()
        print(
            f"stack up: gunicorn {args.workers} worker(s)"
            + f" x {args.threads} threads (gthread)"
            + f", block time {args.block_time or 'automine'}"
            + f", relayer batch {settings.relayer_batch}; {args.clients} clients for {args.seconds:g}s",
            flush=True,
        )

        meter_groups = {
            "api (gunicorn)": (procs["api"].pid, True),
            "relayer": (procs["relayer"].pid, True),
            "indexer": (procs["indexer"].pid, True),
            "anvil": (node.process.pid, True),
            "bench (clients + poller)": (os.getpid(), False),
        }
        pg_pid = postmaster_pid(embedded.data_dir) if embedded else None
        if pg_pid:
            meter_groups["postgres"] = (pg_pid, True)
        meter = CpuMeter(meter_groups)

        load = Load("127.0.0.1", port, cases, args.clients, db_url)
        threads = [threading.Thread(target=load.client, args=(i,), daemon=True) for i in range(args.clients)]
        poller = threading.Thread(target=load.poll, daemon=True)
        for t in threads:
            t.start()
        poller.start()
        head_start = w3.eth.block_number
        pg_start = pg_counters(db_url)
        cpu_start = meter.sample()
        t_start = time.monotonic()
        load.deadline = t_start + args.seconds
        load.go.set()
        next_report = t_start + PROGRESS_SECONDS
        last_accepted = 0
        while any(t.is_alive() for t in threads):
            time.sleep(0.1)
            now = time.monotonic()
            if now >= next_report and now < load.deadline:
                done = load.accepted
                print(
                    f"  t={now - t_start:4.0f}s accepted {done:,} ({(done - last_accepted) / PROGRESS_SECONDS:,.0f}/s) "
                    f"confirmed {load.confirmed_seen:,} in flight {len(load.outstanding):,} "
                    f"errors {sum(s.errors for s in load.stats)} failed {load.failed_seen}",
                    flush=True,
                )
                last_accepted = done
                next_report += PROGRESS_SECONDS
            for name, proc in procs.items():
                if proc.poll() is not None:
                    raise SystemExit(f"{name} exited with code {proc.returncode}:\n{tail(logs / f'{name}.log')}")
        window = time.monotonic() - t_start
        cpu_end = meter.sample()
        pg_end = pg_counters(db_url)
        head_end = w3.eth.block_number

        def open_ops() -> int:
            return db_scalar(db_url, "SELECT count(*) FROM operations WHERE status IN ('pending', 'submitted')")[0]

        drain_start = time.monotonic()
        next_report = drain_start + PROGRESS_SECONDS
        while (left := open_ops()) and time.monotonic() - drain_start < args.drain:
            if time.monotonic() >= next_report:
                print(f"  draining: {left:,} operation(s) pending or submitted", flush=True)
                next_report += PROGRESS_SECONDS
            time.sleep(0.25)
        drained = time.monotonic() - drain_start
        load.stop_polling.set()
        poller.join(5)

        pg = {k: pg_end[k] - pg_start[k] for k in pg_start}
        return report(args, load, db_url, window, drained, left, meter.diff(cpu_start, cpu_end), pg,
                      head_end - head_start, time.monotonic() - started)  # fmt: skip
    finally:
        stop_all(with_cleanup)


def report(args, load: Load, db_url: str, window: float, drained: float, left: int, cpu, pg: dict, blocks: int,
           elapsed: float) -> str:  # fmt: skip
    latencies = sorted(x for s in load.stats for x in s.latencies)
    scans = len(latencies)
    errors = sum(s.errors for s in load.stats)
    starved = sum(s.starved for s in load.stats)
    conn = psycopg2.connect(db_url)
    with conn, conn.cursor() as cur:
        cur.execute("SELECT status, count(*) FROM operations GROUP BY status ORDER BY status")
        by_status = dict(cur.fetchall())
        cur.execute(
            "SELECT count(*), EXTRACT(EPOCH FROM max(updated_at) - (SELECT min(created_at) FROM operations)), "
            "percentile_cont(ARRAY[0.5, 0.99]) WITHIN GROUP (ORDER BY EXTRACT(EPOCH FROM updated_at - created_at)) "
            "FROM operations WHERE status = 'confirmed'"
        )
        confirmed, span, confirm_latency = cur.fetchone()
        cur.execute(
            "SELECT t.action, count(DISTINCT t.id), count(o.id) "
            "FROM relay_transactions t LEFT JOIN operations o ON o.transaction_id = t.id GROUP BY t.action"
        )
        per_action = cur.fetchall()
        cur.execute("SELECT count(*), COALESCE(sum(gas_used), 0) FROM relay_transactions")
        txs, gas = cur.fetchone()
        cur.execute("SELECT status, count(*) FROM relay_transactions GROUP BY status ORDER BY status")
        tx_status = dict(cur.fetchall())
    conn.close()
    span = float(span or 0.0)
    accepted_per_s = scans / window
    confirmed_per_s = confirmed / span if span > 0 else 0.0
    p99 = percentile(latencies, 99) * 1000

    print(f"posting window {window:.1f}s; drain {drained:.1f}s" + (f" (gave up: {left} still open)" if left else ""))
    print(
        f"accepted {scans:,} scans ({accepted_per_s:,.0f}/s), errors {errors}; operations by status "
        + ", ".join(f"{k} {v:,}" for k, v in by_status.items())
    )
    for s in load.stats:
        for line in s.error_samples:
            print(f"  error: {line}")
    for line in load.failed_samples:
        print(f"  failed: {line}")
    print(
        "accept latency ms: "
        + " ".join(f"p{q} {percentile(latencies, q) * 1000:.1f}" for q in (50, 90, 99))
        + f" max {(latencies[-1] * 1000 if latencies else 0):.1f}"
    )
    if confirm_latency:
        print(
            f"confirmation (accept → confirmed) s: p50 {confirm_latency[0]:.2f} p99 {confirm_latency[1]:.2f}; "
            f"{confirmed:,} confirmed over {span:.1f}s from the first accept ({confirmed_per_s:,.0f}/s)"
        )
    print(
        f"relay: {txs} tx(s) ({', '.join(f'{k} {v}' for k, v in tx_status.items())}) in {blocks} block(s) during the "
        f"window; {(scans / txs if txs else 0):.1f} scans/tx; gas/confirmed scan {(gas / confirmed if confirmed else 0):,.0f}"
    )
    for action, n_tx, n_ops in sorted(per_action):
        print(f"  {action:<8} {n_tx:>5} tx  {n_ops:>7,} ops  {n_ops / n_tx:.1f} ops/tx")
    print(
        f"postgres during the window (cumulative statistics, approximate): {pg['sessions']:,} sessions opened, "
        f"{pg['commits']:,} commits ({pg['sessions'] / max(scans, 1):.1f} and {pg['commits'] / max(scans, 1):.1f} "
        "per accepted scan)"
    )
    print(f"clients starved of a ready case: {starved / (args.clients * window):.0%} of client time")
    used, busy, span_cpu = cpu
    ours = sum(used.values())
    print(f"CPU over the posting window ({span_cpu:.1f}s, {psutil.cpu_count()} cores; % of one core):")
    for name, seconds in sorted(used.items(), key=lambda kv: -kv[1]):
        print(f"  {name:<26} {seconds:7.1f}s {seconds / span_cpu:6.0%}")
    print(f"  {'other processes':<26} {max(0.0, busy - ours):7.1f}s {max(0.0, busy - ours) / span_cpu:6.0%}")
    print(f"  {'machine busy':<26} {busy:7.1f}s {busy / span_cpu:6.0%}")
    print(f"elapsed {elapsed:.0f}s")
    return (
        f"accepted_per_s {accepted_per_s:.0f} confirmed_per_s {confirmed_per_s:.0f} p99_accept_ms {p99:.1f} "
        f"txs {txs} scans {scans}"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="bench.ingest", description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0, help="posting window (default 30)")
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients (default 8)")
    parser.add_argument("--cases", type=int, default=6000, help="cases packed at setup, over all pairs (default 6000)")
    parser.add_argument("--pairs", type=int, default=2, help="manufacturer ⇄ distributor pairs (default 2)")
    parser.add_argument("--block-time", type=float, default=1.0, help="anvil block time in s; 0 = automine (default 1)")
    add_server_options(parser)
    parser.add_argument("--drain", type=float, default=60.0, help="longest wait for confirmations after the window")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (logs, database files)")
    args = parser.parse_args(argv)
    if args.clients < 1 or args.cases < args.pairs or args.pairs < 1 or args.seconds <= 0:
        parser.error("need --clients ≥ 1, --pairs ≥ 1, --cases ≥ --pairs and --seconds > 0")
    print(run_in_tmp("pharmatrack-bench-ingest-", run, args), flush=True)


if __name__ == "__main__":
    main()
