"""`make soak`: mixed writes and reads against `pharmatrack up` while a fault loop breaks the stack.

The stack is `python -m app.cli up --demo`, started here on free ports with a temporary data folder (its own
embedded Postgres and its own anvil; DATABASE_URL, TEST_DATABASE_URL and RPC_URL are dropped from its
environment, so nothing here ever touches a shared server).

Load (for ``--seconds``, 600 by default or SOAK_SECONDS):
- ``--journeys`` scanner threads, each walking lots through the demo supply chain with the demo parties' API
  keys: the manufacturer commissions a lot of 20 serials (``serial_range``) and packs two cases of 10, ships them
  to the distributor, which records a data logger's (in-range) readings on one while it is in transit to it,
  receives them, and ships one case to each pharmacy; each pharmacy receives, unpacks, dispenses two packs and
  destroys one. A step is posted once the previous one is confirmed (the API pre-checks against the mirror).
  Every write carries an ``Idempotency-Key``; a write whose answer was lost (connection closed, timeout), a 5xx
  or a 429 is sent again with the same key until it gets an answer (a scanner does just that), so "accepted" is
  well defined: a 202 with an operation id. Any other 4xx ends that journey (reported).
- ``--readers`` threads read: ``GET /v1/verify`` of packs, ``GET /v1/units/{sscc}/provenance`` (as the
  regulator) and ``GET /v1/products``.

Faults (one at a time, the kinds in a shuffled round robin, ``--gap`` seconds apart): SIGKILL of the relayer,
the indexer, the detector or one gunicorn worker (never the master); SIGSTOP of the stack's embedded Postgres
(its postmaster and every backend, found from ``postmaster.pid`` in the soak's own data folder and checked to
run on it) for 5-20 s, then SIGCONT; and a chain restart (anvil's process group killed, ``--chain-signal``,
TERM by default: `up`'s supervisor restarts it with its saved state). A fault is active from the signal until
the component is back (a new process of that kind, or SIGCONT) plus ``--grace`` seconds.

After the load window the faults stop, Postgres is certainly running again, and the soak waits (at most
``--settle`` seconds) until no operation is pending or submitted and the indexer has reached the chain head.
Then it checks every accepted operation:
- its status through the API (``GET /v1/operations/{id}``, the regulator's key) is ``confirmed``;
- each effect it must have (a ``LotCommissioned`` of its lot, a ``Shipped`` of each unit from the sender to the
  recipient, the ``Dispensed`` bit of each pack, ...) is in the mirror's event tables exactly once, in the
  transaction its status names, and exactly once among the contract's logs read with ``eth_getLogs``;
- no Idempotency-Key got two operations;
and runs ``pharmatrack index --verify`` against the stack.

An operation is *lost* if it is not confirmed or an effect is missing (mirror or chain), *duplicated* if an
effect is there more than once or its key got a second operation. ``http_5xx`` counts every 5xx answer except
a 503 with ``Retry-After`` during an active fault.

Last line: ``soak_s T faults F accepted A confirmed C lost L duplicated D http_5xx X``. Exit status 1 when
L, D or X is not 0, C != A, or ``index --verify`` is not clean. Target: L = D = X = 0, C = A, F >= 30.

Run: ``.venv/bin/python -m bench.soak [--seconds 600] [--short] [--faults relayer,indexer,...] [--keep]`` or
``make soak`` (``SOAK_SECONDS=120 make soak``; ``make soak SOAK_ARGS=--short`` for a 90 s run).
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import http.client
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import ClassVar

from app.demo import GTIN, dev_key, with_check_digit
from app.ids import lgtin_id, sscc_id, unpack_set

HOST = "127.0.0.1"
FAULT_KINDS = ("relayer", "indexer", "detector", "api_worker", "postgres", "chain")
PACKS_PER_LOT = 20
PACKS_PER_CASE = 10
HTTP_TIMEOUT = 30.0
POLL_SECONDS = 0.5
STEP_TIMEOUT = 300.0  # longest wait for one operation to be confirmed while the load runs
RECOVERY_TIMEOUT = 90.0  # longest wait for a killed component to be back
PROGRESS_SECONDS = 15.0
SHOW = 8  # samples of each kind of problem printed


# =========================================================================== accounting (pure logic)


@dataclass(frozen=True)
class HttpAnswer:
    """One answer with a 5xx status (the rest are only counted)."""

    method: str
    path: str
    status: int
    retry_after: bool
    sent: float  # monotonic
    answered: float


def fault_active(answer: HttpAnswer, windows: list[tuple[float, float]]) -> bool:
    """Whether the request overlapped a fault's active window [start, end]."""
    return any(answer.sent <= end and answer.answered >= start for start, end in windows)


def classify_5xx(answers: Iterable[HttpAnswer], windows: list[tuple[float, float]]) -> tuple[list, list]:
    """(excused, counted): only a 503 with Retry-After during an active fault is excused."""
    excused, counted = [], []
    for answer in answers:
        ok = answer.status == 503 and answer.retry_after and fault_active(answer, windows)
        (excused if ok else counted).append(answer)
    return excused, counted


def effects_of_row(event: str, row: dict) -> list[tuple]:
    """The effects one mirror row (or decoded log) proves, keyed as `Scan.effects` names them."""
    if event == "LotCommissioned":
        return [("LotCommissioned", bytes(row["lot_id"]))]
    if event == "CasePacked":
        return [("CasePacked", bytes(row["case_id"]))]
    if event == "Shipped":
        return [("Shipped", bytes(row["unit_id"]), bytes(row["from_org"]), bytes(row["to_org"]))]
    if event == "Received":
        return [("Received", bytes(row["unit_id"]), bytes(row["by"]))]
    if event == "Unpacked":
        return [("Unpacked", bytes(row["unit_id"]))]
    if event == "TemperatureRecorded":
        return [("TemperatureRecorded", bytes(row["unit_id"]), bytes(row["sensor_id"]))]
    if event in ("Dispensed", "Destroyed"):
        masks = [int(m) for m in row["masks"]]
        return [(event, bytes(row["lot_id"]), i) for i in unpack_set(int(row["first_word"]), masks)]
    return []


EFFECT_EVENTS = (
    "LotCommissioned",
    "CasePacked",
    "Shipped",
    "Received",
    "Unpacked",
    "TemperatureRecorded",
    "Dispensed",
    "Destroyed",
)


@dataclass
class EffectIndex:
    """Effect -> the transactions it appears in (one entry per appearance)."""

    txs: dict[tuple, list[bytes]] = field(default_factory=lambda: collections.defaultdict(list))

    def add(self, event: str, row: dict) -> None:
        for effect in effects_of_row(event, row):
            self.txs[effect].append(bytes(row["tx_hash"]))

    def count(self, effect: tuple) -> int:
        return len(self.txs.get(effect, ()))


@dataclass
class Accepted:
    """An operation the API accepted (202 with its id)."""

    op_id: str
    action: str
    key: str  # Idempotency-Key
    org: str  # GLN
    effects: tuple[tuple, ...]
    accepted_at: float


@dataclass
class Verdict:
    confirmed: int = 0
    lost: int = 0
    duplicated: int = 0
    problems: list[str] = field(default_factory=list)


def judge(ops: list[Accepted], statuses: dict[str, dict], sources: dict[str, EffectIndex],
          ops_per_key: dict[tuple[str, str], set[str]]) -> Verdict:  # fmt: skip
    """Each accepted operation: confirmed exactly once, lost, or duplicated.

    `statuses`: op id -> the API's operation (status, tx_hash); `sources`: e.g. {"mirror": …, "chain": …};
    `ops_per_key`: (org, Idempotency-Key) -> every operation id the API answered that key with.
    An effect several operations expect (none do in the soak's flows, but the logic allows it) must
    appear as many times as there are such operations."""
    verdict = Verdict()
    expected = collections.Counter(e for op in ops for e in op.effects)
    for op in ops:
        status = statuses.get(op.op_id) or {}
        lost = dup = False
        why = []
        if status.get("status") != "confirmed":
            lost = True
            why.append(
                f"status {status.get('status', 'unknown')}" + (f" {status['error']}" if status.get("error") else "")
            )
        tx = status.get("tx_hash")
        for source, index in sources.items():
            for effect in op.effects:
                seen = index.count(effect)
                if seen < expected[effect]:
                    lost = True
                    why.append(f"{source}: {_show(effect)} seen {seen}x")
                elif seen > expected[effect]:
                    dup = True
                    why.append(f"{source}: {_show(effect)} seen {seen}x")
                elif tx and expected[effect] == 1 and index.txs[effect][0].hex() != tx.removeprefix("0x"):
                    why.append(f"{source}: {_show(effect)} in tx 0x{index.txs[effect][0].hex()}, status says {tx}")
        if len(ops_per_key.get((op.org, op.key), {op.op_id})) > 1:
            dup = True
            why.append(f"Idempotency-Key {op.key} answered with {len(ops_per_key[(op.org, op.key)])} operations")
        verdict.lost += lost
        verdict.duplicated += dup
        verdict.confirmed += status.get("status") == "confirmed"
        if why:
            verdict.problems.append(f"{op.action} {op.op_id}: " + "; ".join(why))
    return verdict


def _show(effect: tuple) -> str:
    return (
        effect[0] + "(" + ", ".join(f"0x{v.hex()[:12]}" if isinstance(v, bytes) else str(v) for v in effect[1:]) + ")"
    )


def last_line(seconds: float, faults: int, accepted: int, confirmed: int, lost: int, duplicated: int,
              http_5xx: int) -> str:  # fmt: skip
    return (
        f"soak_s {seconds:.0f} faults {faults} accepted {accepted} confirmed {confirmed} lost {lost} "
        f"duplicated {duplicated} http_5xx {http_5xx}"
    )


# =========================================================================== HTTP


@dataclass
class Tally:
    """Every answer's status, the 5xx ones in detail; shared by all threads."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    statuses: collections.Counter = field(default_factory=collections.Counter)
    failures: collections.Counter = field(default_factory=collections.Counter)  # no answer: exception name
    errors_5xx: list[HttpAnswer] = field(default_factory=list)
    samples: dict[int, list[str]] = field(default_factory=lambda: collections.defaultdict(list))

    def add(self, method: str, path: str, status: int | None, headers: dict, body: bytes, sent: float,
            failure: str | None = None) -> None:  # fmt: skip
        with self.lock:
            if status is None:
                self.failures[failure or "?"] += 1
                return
            self.statuses[status] += 1
            if status >= 500:
                self.errors_5xx.append(
                    HttpAnswer(method, path, status, "retry-after" in headers, sent, time.monotonic())
                )
            if (status >= 500 or status in (400, 404, 409, 422)) and len(self.samples[status]) < SHOW:
                self.samples[status].append(f"{method} {path.split('?', maxsplit=1)[0]} -> {status} {body[:240]!r}")


class Client:
    """One HTTP connection (a thread's own), reconnecting after errors; every answer goes to the tally."""

    def __init__(self, port: int, tally: Tally):
        self.port, self.tally = port, tally
        self.conn: http.client.HTTPConnection | None = None

    def request(self, method: str, path: str, key: str | None = None, body: bytes | None = None,
                headers: dict | None = None) -> tuple[int | None, dict, bytes]:  # fmt: skip
        hdrs = dict(headers or {})
        if key:
            hdrs["Authorization"] = f"Bearer {key}"
        sent = time.monotonic()
        try:
            if self.conn is None:
                self.conn = http.client.HTTPConnection(HOST, self.port, timeout=HTTP_TIMEOUT)
            self.conn.request(method, path, body=body, headers=hdrs)
            resp = self.conn.getresponse()
            data = resp.read()
            answer = {k.lower(): v for k, v in resp.getheaders()}
        except (OSError, http.client.HTTPException) as exc:
            self.close()
            self.tally.add(method, path, None, {}, b"", sent, type(exc).__name__)
            return None, {}, b""
        self.tally.add(method, path, resp.status, answer, data, sent)
        if answer.get("connection", "").lower() == "close":
            self.close()
        return resp.status, answer, data

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def retry_delay(headers: dict, attempt: int) -> float:
    try:
        hinted = float(headers.get("retry-after", ""))
    except ValueError:
        hinted = 0.0
    return min(max(hinted, 0.25 * 2 ** min(attempt, 4)), 5.0)


# =========================================================================== the demo parties and the flows


@dataclass(frozen=True)
class Party:
    gln: str
    address: bytes
    key: str


@dataclass
class Parties:
    maker: Party
    distributor: Party
    pharmacies: tuple[Party, Party]
    regulator: Party

    @classmethod
    def from_demo(cls, keys_file: Path) -> Parties:
        keys = json.loads(keys_file.read_text())

        def party(i: int) -> Party:
            gln = with_check_digit(f"95060000{i:04d}")
            return Party(gln, bytes.fromhex(dev_key(i).address[2:]), keys[gln])

        return cls(party(1), party(2), (party(3), party(4)), party(5))


@dataclass(frozen=True)
class Scan:
    """One write: who posts what, and the effects it must have on chain once."""

    org: Party
    action: str
    path: str
    body: dict
    effects: tuple[tuple, ...]


def sscc(journey: int, case: int) -> str:
    return with_check_digit(f"2095060{journey:09d}{case}")


def pack(serial: str) -> str:
    return f"(01){GTIN}(21){serial}"


def journey_steps(n: int, p: Parties, now: datetime) -> list[list[Scan]]:
    """Journey `n`'s steps; the scans of one step are posted together, each step once the previous one is confirmed."""
    lot = f"SOAK{n:06d}"
    lot_id = lgtin_id(GTIN, lot)
    serials = [f"SK{n:06d}{i:04d}" for i in range(PACKS_PER_LOT)]
    cases = [sscc(n, 0), sscc(n, 1)]
    ids = [sscc_id(c) for c in cases]
    maker, dist, (pharm_a, pharm_b) = p.maker, p.distributor, p.pharmacies
    sensor = f"soak-logger-{n}"
    expiry = (now.date() + timedelta(days=730)).isoformat()
    start = int(now.timestamp()) - 3600
    steps = [
        [Scan(maker, "commission_lot", "/v1/lots", {
            "gtin": GTIN, "lot": lot, "expiry": expiry,
            "serial_range": {"prefix": f"SK{n:06d}", "first": 0, "count": PACKS_PER_LOT, "digits": 4},
        }, (("LotCommissioned", lot_id),))],
        [Scan(maker, "pack_case", "/v1/cases", {"sscc": cases[c], "gtin": GTIN, "lot": lot,
              "first_index": c * PACKS_PER_CASE, "count": PACKS_PER_CASE}, (("CasePacked", ids[c]),))
         for c in (0, 1)],
        [Scan(maker, "ship", "/v1/shipments", {"units": cases, "to": dist.gln},
              tuple(("Shipped", u, maker.address, dist.address) for u in ids))],
        [Scan(dist, "record_readings", f"/v1/units/{cases[0]}/readings", {
            "sensor_id": sensor, "start": start, "interval": 600, "celsius": [4.0, 4.4, 5.1, 4.8, 4.6, 4.2],
        }, (("TemperatureRecorded", ids[0], _keccak_text(sensor)),))],
        [Scan(dist, "receive", "/v1/receipts", {"units": cases}, tuple(("Received", u, dist.address) for u in ids))],
        [Scan(dist, "ship", "/v1/shipments", {"units": [cases[c]], "to": ph.gln},
              (("Shipped", ids[c], dist.address, ph.address),)) for c, ph in ((0, pharm_a), (1, pharm_b))],
        [Scan(ph, "receive", "/v1/receipts", {"units": [cases[c]]}, (("Received", ids[c], ph.address),))
         for c, ph in ((0, pharm_a), (1, pharm_b))],
        [Scan(ph, "unpack", "/v1/unpackings", {"units": [cases[c]]}, (("Unpacked", ids[c]),))
         for c, ph in ((0, pharm_a), (1, pharm_b))],
    ]  # fmt: skip
    last = []
    for c, ph in ((0, pharm_a), (1, pharm_b)):
        first = c * PACKS_PER_CASE
        for i in (first, first + 1):
            last.append(
                Scan(ph, "dispense", "/v1/dispensations", {"packs": [pack(serials[i])]}, (("Dispensed", lot_id, i),))
            )
        i = first + 2
        last.append(Scan(ph, "destroy", "/v1/destructions", {"packs": [pack(serials[i])]}, (("Destroyed", lot_id, i),)))
    steps.append(last)
    return steps


def _keccak_text(text: str) -> bytes:
    from eth_utils import keccak

    return keccak(text=text)


# =========================================================================== load


class Abandon(Exception):
    """A journey cannot go on (a refusal, a failed operation, a timeout)."""


@dataclass
class Load:
    port: int
    parties: Parties
    tally: Tally
    stop: threading.Event  # no new step after this
    hard_deadline: float  # no request at all after this
    lock: threading.Lock = field(default_factory=threading.Lock)
    accepted: list[Accepted] = field(default_factory=list)
    ops_per_key: dict[tuple[str, str], set[str]] = field(default_factory=lambda: collections.defaultdict(set))
    confirmed_seen: int = 0
    journeys_started: int = 0
    journeys_done: int = 0
    abandoned: list[str] = field(default_factory=list)
    unanswered: int = 0  # writes given up without an answer at the hard deadline
    reads: int = 0
    known_packs: list[str] = field(default_factory=lambda: [pack(f"DEMO{i:06d}") for i in range(0, 200, 7)])
    known_units: list[str] = field(default_factory=list)
    next_journey: int = 0

    # ------------------------------------------------------------- writers

    def writer(self, index: int) -> None:
        client = Client(self.port, self.tally)
        try:
            while not self.stop.is_set():
                with self.lock:
                    n = self.next_journey
                    self.next_journey += 1
                    self.journeys_started += 1
                try:
                    if self.journey(client, n):
                        with self.lock:
                            self.journeys_done += 1
                except Abandon as exc:
                    if not self.stop.is_set():
                        with self.lock:
                            self.abandoned.append(f"journey {n}: {exc}")
                        self.stop.wait(2.0)
        finally:
            client.close()

    def journey(self, client: Client, n: int) -> bool:
        """Walk lot `n` through the supply chain; False if the load ended before the last step was confirmed."""
        for step in journey_steps(n, self.parties, datetime.now(UTC)):
            if self.stop.is_set():
                return False
            ops = [(scan, self.post(client, scan, f"soak-{n}-{k}-{scan.action}-{uuid.uuid4().hex[:8]}"))
                   for k, scan in enumerate(step)]  # fmt: skip
            if not all([self.await_confirmed(client, scan, op_id) for scan, op_id in ops]):
                return False
            if step[0].action == "pack_case":
                with self.lock:
                    self.known_units += [s.body["sscc"] for s in step]
                    self.known_packs += [pack(f"SK{n:06d}{i:04d}") for i in range(0, PACKS_PER_LOT, 3)]
        return True

    def post(self, client: Client, scan: Scan, key: str) -> str:
        body = json.dumps(scan.body).encode()
        headers = {"Content-Type": "application/json", "Idempotency-Key": key}
        attempt = 0
        while True:
            status, hdrs, data = client.request("POST", scan.path, scan.org.key, body, headers)
            if status in (200, 202):
                op_id = json.loads(data)["operation"]["id"]
                with self.lock:
                    answered = self.ops_per_key[(scan.org.gln, key)]
                    if not answered:  # the key's first 202: one accepted scan, however often it is re-sent
                        self.accepted.append(
                            Accepted(op_id, scan.action, key, scan.org.gln, scan.effects, time.monotonic())
                        )
                    answered.add(op_id)
                return op_id
            if status is not None and status < 500 and status != 429:
                raise Abandon(f"{scan.action} {key}: {status} {data[:300]!r}")
            if time.monotonic() > self.hard_deadline:
                with self.lock:
                    self.unanswered += 1
                raise Abandon(f"{scan.action} {key}: no answer before the hard deadline")
            time.sleep(retry_delay(hdrs, attempt))
            attempt += 1

    def await_confirmed(self, client: Client, scan: Scan, op_id: str) -> bool:
        """True once the operation is confirmed; False if the load ends first; Abandon if it failed or took too long."""
        deadline = time.monotonic() + STEP_TIMEOUT
        attempt = 0
        while time.monotonic() < deadline and not self.stop.is_set():
            status, hdrs, data = client.request("GET", f"/v1/operations/{op_id}", scan.org.key)
            if status == 200:
                state = json.loads(data)["status"]
                if state == "confirmed":
                    with self.lock:
                        self.confirmed_seen += 1
                    return True
                if state == "failed":
                    raise Abandon(f"{scan.action} {op_id} failed: {json.loads(data).get('error')}")
                attempt = 0
                self.stop.wait(POLL_SECONDS)
            else:
                self.stop.wait(retry_delay(hdrs, attempt))
                attempt += 1
        if not self.stop.is_set():
            raise Abandon(f"{scan.action} {op_id} not confirmed within {STEP_TIMEOUT:.0f}s")
        return False

    # ------------------------------------------------------------- readers

    def reader(self, index: int, pause: float) -> None:
        client = Client(self.port, self.tally)
        rng = random.Random(index)
        p = self.parties
        askers = [p.maker, p.distributor, *p.pharmacies, p.regulator]
        try:
            while not self.stop.is_set():
                kind = rng.random()
                with self.lock:
                    code = rng.choice(self.known_packs)
                    unit = rng.choice(self.known_units) if self.known_units else None
                if kind < 0.5:
                    path = "/v1/verify?code=" + urllib_quote(code)
                    status, hdrs, _ = client.request("GET", path, rng.choice(askers).key)
                elif kind < 0.8 and unit:
                    status, hdrs, _ = client.request("GET", f"/v1/units/{unit}/provenance", p.regulator.key)
                else:
                    status, hdrs, _ = client.request("GET", "/v1/products", rng.choice(askers).key)
                with self.lock:
                    self.reads += 1
                self.stop.wait(retry_delay(hdrs, 1) if status in (429, 503) else pause)
        finally:
            client.close()


def urllib_quote(text: str) -> str:
    from urllib.parse import quote

    return quote(text, safe="")


# =========================================================================== the stack and its processes


def _argv_role(cmdline: list[str]) -> str | None:
    """relayer / indexer / detector / api / anvil for one of the stack's processes, from its argv."""
    joined = " ".join(cmdline)
    for i, arg in enumerate(cmdline):
        if (arg == "app.cli" or arg.endswith("/pharmatrack")) and i + 1 < len(cmdline):
            sub = cmdline[i + 1]
            if sub == "relay":
                return "relayer"
            if sub == "index" and "--verify" not in cmdline:
                return "indexer"
            if sub == "detect":
                return "detector"
    if "gunicorn" in joined and "app.wsgi:app" in joined:
        return "api"
    if cmdline and ("anvil" in Path(cmdline[0]).name or (len(cmdline) > 1 and "anvil" in cmdline[1])):
        return "anvil"
    return None


class Stack:
    """`pharmatrack up --demo` in a temporary folder, and the processes it runs."""

    def __init__(self, tmp: Path, workers: int, block_time: float):
        import psutil  # noqa: F401 - fail early if missing

        from app.chain.anvil import free_port

        self.tmp = tmp
        self.data_dir = tmp / "data"
        self.port = free_port()
        self.anvil_port = free_port()
        self.workers = workers
        self.env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "TEST_DATABASE_URL", "RPC_URL"}}
        self.env.update({
            "PORT": str(self.port), "HOST": HOST, "ANVIL_PORT": str(self.anvil_port),
            "PHARMATRACK_DATA_DIR": str(self.data_dir), "DEPLOYMENT_FILE": str(tmp / "deployment.json"),
            "WEB_CONCURRENCY": str(workers), "BLOCK_TIME": f"{block_time:g}", "LOG_LEVEL": "WARNING",
        })  # fmt: skip
        self.log_path = tmp / "up.log"
        self.proc: subprocess.Popen | None = None

    @property
    def rpc_url(self) -> str:
        return f"http://{HOST}:{self.anvil_port}"

    @property
    def pg_dir(self) -> Path:
        return (self.data_dir / "postgres").resolve()

    @property
    def db_url(self) -> str:
        return f"postgresql://postgres:@/pharmatrack?host={self.pg_dir}"

    def start(self, timeout: float = 300.0) -> None:
        out = open(self.log_path, "ab")  # noqa: SIM115 - kept open for the child
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "up", "--demo"],
            env=self.env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + timeout
        while "Ctrl-C stops everything" not in self.log_path.read_text(errors="replace"):
            if self.proc.poll() is not None:
                raise SystemExit(f"pharmatrack up exited with code {self.proc.returncode}:\n{self.tail()}")
            if time.monotonic() > deadline:
                raise SystemExit(f"pharmatrack up not ready after {timeout:.0f}s:\n{self.tail()}")
            time.sleep(0.5)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(90)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(30)

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    # ------------------------------------------------------------- finding processes

    def processes(self) -> dict[str, list]:
        """role -> psutil processes among `up`'s descendants (api: the gunicorn master first, then its workers)."""
        import psutil

        out: dict[str, list] = collections.defaultdict(list)
        if not self.alive():
            return out
        try:
            tree = psutil.Process(self.proc.pid).children(recursive=True)
        except psutil.Error:
            return out
        for p in tree:
            try:
                role = _argv_role(p.cmdline())
            except psutil.Error:
                continue
            if role:
                out[role].append(p)
        return out

    def gunicorn(self) -> tuple[object | None, list]:
        """(master, workers)."""
        import psutil

        api = self.processes().get("api", [])
        pids = {p.pid for p in api}
        masters = []
        for p in api:
            try:
                if p.ppid() not in pids:
                    masters.append(p)
            except psutil.Error:
                continue
        if len(masters) != 1:
            return None, []
        workers = [p for p in api if p is not masters[0] and _ppid(p) == masters[0].pid]
        return masters[0], workers

    def postgres(self) -> list:
        """The stack's own postmaster and its children; checked to run on the soak's own data folder."""
        import psutil

        try:
            pid = int((self.pg_dir / "postmaster.pid").read_text().split()[0])
            master = psutil.Process(pid)
            cmdline = master.cmdline()
        except (OSError, ValueError, IndexError, psutil.Error):
            return []
        if str(self.pg_dir) not in " ".join(cmdline) or "postgres" not in Path(cmdline[0]).name:
            return []  # not ours: never signal it
        try:
            return [master, *master.children(recursive=True)]
        except psutil.Error:
            return [master]


def _ppid(p) -> int | None:
    import psutil

    try:
        return p.ppid()
    except psutil.Error:
        return None


# =========================================================================== faults


@dataclass
class Fault:
    kind: str
    start: float
    end: float | None = None  # the component back (or SIGCONT)
    note: str = ""


class FaultLoop:
    def __init__(self, stack: Stack, kinds: list[str], gap: tuple[float, float], pg_stop: tuple[float, float],
                 grace: float, chain_signal: int, seed: int):  # fmt: skip
        self.stack, self.kinds, self.gap, self.pg_stop = stack, kinds, gap, pg_stop
        self.grace, self.chain_signal = grace, chain_signal
        self.rng = random.Random(seed)
        from app.config import Settings

        limits = Settings.from_env(stack.env)  # the limits `up` runs with (its defaults, or the environment's)
        self.max_failures, self.failure_window = limits.supervisor_max_failures, limits.supervisor_failure_window
        self.faults: list[Fault] = []
        self.stop = threading.Event()
        self.stopped_pg: list = []
        self.lock = threading.Lock()
        self.log: list[str] = []

    # A chain restart may take the processes that use the chain down with it (they exit when the node is gone).
    HITS: ClassVar[dict[str, tuple[str, ...]]] = {"chain": ("anvil", "relayer", "indexer", "detector"), "relayer": ("relayer",), "indexer": ("indexer",),
            "detector": ("detector",)}  # fmt: skip

    def allowed(self, kind: str, now: float) -> bool:
        """Whether a fault of this kind keeps every supervised child below `up`'s limit (SUPERVISOR_MAX_FAILURES
        within SUPERVISOR_FAILURE_WINDOW stops the stack), with two failures to spare for knock-on exits."""
        recent = collections.Counter()
        for f in self.faults:
            if now - f.start < self.failure_window:
                recent.update(self.HITS.get(f.kind, ()))
        return all(recent[child] + 1 <= self.max_failures - 2 for child in self.HITS.get(kind, ()))

    def windows(self, now: float) -> list[tuple[float, float]]:
        return [(f.start, (f.end if f.end is not None else now) + self.grace) for f in self.faults]

    def say(self, t0: float, text: str, at: float | None = None) -> None:
        """A line about a fault, stamped with when it began (`at`) or now."""
        line = f"  [fault t={(at if at is not None else time.monotonic()) - t0:5.0f}s] {text}"
        self.log.append(line)
        print(line, flush=True)

    def run(self, t0: float) -> None:
        order: list[str] = []
        try:
            while not self.stop.wait(self.rng.uniform(*self.gap)):
                if not self.stack.alive():
                    return
                if not order:
                    order = list(self.kinds)
                    self.rng.shuffle(order)
                kind = next((k for k in reversed(order) if self.allowed(k, time.monotonic())), None)
                if kind is None:
                    continue  # every kind left in this round would exceed the supervisor's budget: wait
                order.remove(kind)
                try:
                    fault = getattr(self, f"_{kind}")(t0)
                except Exception as exc:  # a fault that could not be made is reported, the loop goes on
                    self.say(t0, f"{kind}: could not inject: {type(exc).__name__}: {exc}")
                    continue
                if fault is not None:
                    with self.lock:
                        self.faults.append(fault)
        finally:
            self.resume_postgres()

    # ------------------------------------------------------------- kinds

    def _kill_and_wait(self, t0: float, kind: str, role: str, pick) -> Fault | None:
        import psutil

        victims = pick()
        if not victims:
            self.say(t0, f"{kind}: no process found (still restarting?); skipped")
            return None
        victim = self.rng.choice(victims)
        fault = Fault(kind, time.monotonic(), note=f"pid {victim.pid}")
        try:
            victim.send_signal(signal.SIGKILL)
        except psutil.Error as exc:
            self.say(t0, f"{kind}: pid {victim.pid} gone before the signal ({type(exc).__name__})")
            return None
        self._await_back(t0, fault, lambda: [p for p in pick() if p.pid != victim.pid], len(victims))
        return fault

    def _await_back(self, t0: float, fault: Fault, others, want: int) -> None:
        deadline = time.monotonic() + RECOVERY_TIMEOUT
        while time.monotonic() < deadline and self.stack.alive():
            if len(others()) >= want:
                fault.end = time.monotonic()
                self.say(
                    t0, f"{fault.kind} ({fault.note}) killed; back after {fault.end - fault.start:.1f}s", fault.start
                )
                return
            time.sleep(0.2)
        fault.end = time.monotonic()
        self.say(t0, f"{fault.kind} ({fault.note}) killed; NOT back within {fault.end - fault.start:.0f}s", fault.start)

    def _relayer(self, t0: float) -> Fault | None:
        return self._kill_and_wait(t0, "relayer", "relayer", lambda: self.stack.processes().get("relayer", []))

    def _indexer(self, t0: float) -> Fault | None:
        return self._kill_and_wait(t0, "indexer", "indexer", lambda: self.stack.processes().get("indexer", []))

    def _detector(self, t0: float) -> Fault | None:
        return self._kill_and_wait(t0, "detector", "detector", lambda: self.stack.processes().get("detector", []))

    def _api_worker(self, t0: float) -> Fault | None:
        def workers():
            master, found = self.stack.gunicorn()
            return found if master is not None else []

        return self._kill_and_wait(t0, "api_worker", "api", workers)

    def _postgres(self, t0: float) -> Fault | None:
        import psutil

        procs = self.stack.postgres()
        if not procs:
            self.say(t0, "postgres: the stack's postmaster not found; skipped")
            return None
        seconds = self.rng.uniform(*self.pg_stop)
        fault = Fault("postgres", time.monotonic(), note=f"postmaster {procs[0].pid} + {len(procs) - 1} children")
        with self.lock:
            self.stopped_pg = procs
        try:
            for p in procs:
                with contextlib.suppress(psutil.NoSuchProcess):  # a backend that has just ended
                    p.send_signal(signal.SIGSTOP)
            time.sleep(seconds)  # the whole stop, even when the load ends meanwhile (bounded: --pg-max)
        finally:
            self.resume_postgres()
        fault.end = time.monotonic()
        self.say(t0, f"postgres ({fault.note}) stopped for {fault.end - fault.start:.1f}s", fault.start)
        return fault

    def resume_postgres(self) -> None:
        with self.lock:
            procs, self.stopped_pg = self.stopped_pg, []
        import psutil

        for p in procs:
            try:
                p.send_signal(signal.SIGCONT)
            except psutil.NoSuchProcess:
                continue  # gone: nothing left stopped
            except psutil.Error as exc:  # never leave the stack's Postgres stopped silently
                print(f"soak: could not SIGCONT postgres pid {p.pid}: {exc}", file=sys.stderr, flush=True)

    def _chain(self, t0: float) -> Fault | None:
        import psutil

        nodes = self.stack.processes().get("anvil", [])
        tops = [p for p in nodes if _ppid(p) not in {n.pid for n in nodes}]
        if not tops:
            self.say(t0, "chain: no anvil process found; skipped")
            return None
        top = tops[0]
        fault = Fault("chain", time.monotonic(), note=f"anvil pid {top.pid}, {signal.Signals(self.chain_signal).name}")
        try:
            pgid = os.getpgid(top.pid)
            if pgid == top.pid and pgid not in (os.getpgrp(), os.getpgid(self.stack.proc.pid)):
                os.killpg(pgid, self.chain_signal)
            else:
                for p in [top, *top.children(recursive=True)]:
                    p.send_signal(self.chain_signal)
        except (ProcessLookupError, psutil.Error) as exc:
            self.say(t0, f"chain: anvil gone before the signal ({type(exc).__name__})")
            return None

        def back():
            fresh = [p for p in self.stack.processes().get("anvil", []) if p.pid != top.pid]
            return fresh if fresh and _rpc_answers(self.stack.rpc_url) else []

        self._await_back(t0, fault, back, 1)
        return fault


def _rpc_answers(url: str) -> bool:
    import urllib.request

    req = urllib.request.Request(url, data=b'{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber","params":[]}',
                                 headers={"Content-Type": "application/json"})  # fmt: skip
    try:
        with urllib.request.urlopen(req, timeout=2) as resp:
            return "result" in json.loads(resp.read())
    except (OSError, ValueError):
        return False


# =========================================================================== after the load


def db_query(url: str, sql: str, args: tuple = ()) -> list[tuple]:
    import psycopg2

    conn = psycopg2.connect(url, connect_timeout=10)
    try:
        with conn, conn.cursor() as cur:
            cur.execute(sql, args)
            return cur.fetchall()
    finally:
        conn.close()


def settle(stack: Stack, load: Load, seconds: float) -> str:
    """Wait until no operation is pending or submitted and the indexer holds the chain head; say how it went."""
    from web3 import Web3

    w3 = Web3(Web3.HTTPProvider(stack.rpc_url, request_kwargs={"timeout": 10}))
    deadline = time.monotonic() + seconds
    start = time.monotonic()
    next_report = start + PROGRESS_SECONDS
    last = "never asked"
    while time.monotonic() < deadline:
        if not stack.alive():
            return f"the stack stopped while settling:\n{stack.tail()}"
        try:
            open_ops = db_query(
                stack.db_url, "SELECT count(*) FROM operations WHERE status IN ('pending', 'submitted')"
            )[0][0]
            cursor = db_query(stack.db_url, "SELECT block_number FROM indexer_cursor WHERE name = 'main'")
            head = w3.eth.block_number
        except Exception as exc:  # the stack may still be recovering: ask again
            last = f"{type(exc).__name__}: {exc}"
            time.sleep(1.0)
            continue
        indexed = cursor[0][0] if cursor else -1
        last = f"{open_ops} operation(s) open, indexer at {indexed}, head {head}"
        if open_ops == 0 and indexed >= head - 1:
            # one more round so the head the indexer reached is the one everything was mined below
            return f"settled in {time.monotonic() - start:.0f}s ({last})"
        if time.monotonic() >= next_report:
            print(f"  settling: {last}", flush=True)
            next_report += PROGRESS_SECONDS
        time.sleep(1.0)
    return f"NOT settled after {seconds:.0f}s: {last}"


def final_statuses(stack: Stack, load: Load, tally: Tally) -> dict[str, dict]:
    """Each accepted operation as the API shows it (regulator key: it sees every organisation's)."""
    client = Client(stack.port, tally)
    out = {}
    try:
        for op in load.accepted:
            for attempt in range(10):
                if not stack.alive():
                    return out
                status, hdrs, data = client.request("GET", f"/v1/operations/{op.op_id}", load.parties.regulator.key)
                if status == 200:
                    out[op.op_id] = json.loads(data)
                    break
                time.sleep(retry_delay(hdrs, attempt))
    finally:
        client.close()
    return out


MIRROR_COLUMNS = {
    "LotCommissioned": ("ev_lot_commissioned", ("lot_id",)),
    "CasePacked": ("ev_case_packed", ("case_id",)),
    "Shipped": ("ev_shipped", ("unit_id", "from_org", "to_org")),
    "Received": ("ev_received", ("unit_id", "by")),
    "Unpacked": ("ev_unpacked", ("unit_id",)),
    "TemperatureRecorded": ("ev_temperature_recorded", ("unit_id", "sensor_id")),
    "Dispensed": ("ev_dispensed", ("lot_id", "first_word", "masks")),
    "Destroyed": ("ev_destroyed", ("lot_id", "first_word", "masks")),
}


def mirror_effects(url: str) -> EffectIndex:
    index = EffectIndex()
    for event, (table, columns) in MIRROR_COLUMNS.items():
        cols = ("tx_hash", *columns)
        for row in db_query(url, f"SELECT {', '.join(cols)} FROM {table}"):
            index.add(event, dict(zip(cols, row, strict=True)))
    return index


def chain_effects(stack: Stack) -> tuple[EffectIndex, int]:
    """The same effects from the contract's logs (eth_getLogs in windows), decoded as the indexer does."""
    from web3 import Web3

    from app.chain.deploy import read_deployment
    from app.indexer.events import decode_log
    from app.indexer.registry import specs_for

    deployment = read_deployment(Path(stack.env["DEPLOYMENT_FILE"]))
    specs = specs_for(deployment)
    wanted = {topic: spec for topic, spec in specs.items() if spec.name in EFFECT_EVENTS}
    w3 = Web3(Web3.HTTPProvider(stack.rpc_url, request_kwargs={"timeout": 60}))
    head = w3.eth.block_number
    address = deployment.address("PharmaTrack")
    index, logs = EffectIndex(), 0
    step = 2000
    for start in range(deployment.start_block, head + 1, step):
        resp = w3.provider.make_request("eth_getLogs", [{
            "address": address, "fromBlock": hex(start), "toBlock": hex(min(start + step - 1, head)),
            "topics": [["0x" + t.hex() for t in wanted]],
        }])  # fmt: skip
        if "error" in resp:
            raise RuntimeError(f"eth_getLogs: {resp['error']}")
        for log in resp["result"]:
            spec = wanted[bytes.fromhex(log["topics"][0][2:])]
            index.add(spec.name, dict(zip(spec.all_columns, decode_log(spec, log), strict=True)))
            logs += 1
    return index, logs


def database_view(stack: Stack, load: Load, statuses: dict[str, dict]) -> list[str]:
    """The outbox as the database holds it: operations of the soak's keys that no 202 told the client about (a
    write given up unanswered at the hard deadline), and statuses the API and the database disagree on."""
    rows = db_query(
        stack.db_url, "SELECT id::text, action, status FROM operations WHERE idempotency_key LIKE 'soak-%%'"
    )
    known = {op.op_id for op in load.accepted}
    problems = [f"{action} {op_id}: in the outbox ({status}) but no 202 reached the client"
                for op_id, action, status in rows if op_id not in known]  # fmt: skip
    problems += [f"{action} {op_id}: status {status} in the database, {statuses[op_id]['status']} through the API"
                 for op_id, action, status in rows if op_id in statuses and statuses[op_id]["status"] != status]  # fmt: skip
    return problems


def index_verify(stack: Stack, timeout: float = 600.0) -> tuple[bool, str]:
    env = {**stack.env, "DATABASE_URL": stack.db_url, "RPC_URL": stack.rpc_url}
    try:
        done = subprocess.run(
            [sys.executable, "-m", "app.cli", "index", "--verify"],
            env=env, capture_output=True, text=True, timeout=timeout, check=False,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        return False, f"index --verify did not finish within {timeout:.0f}s"
    text = (done.stdout + done.stderr).strip().splitlines()
    return done.returncode == 0, "\n".join(text[-12:])


# =========================================================================== the run


def run(args: argparse.Namespace, tmp: Path) -> tuple[str, bool]:
    stack = Stack(tmp, args.workers, args.block_time)
    t_setup = time.monotonic()
    print(f"soak: starting pharmatrack up --demo in {tmp} (API :{stack.port}, anvil :{stack.anvil_port})", flush=True)
    stack.start()
    faults = None
    try:
        parties = Parties.from_demo(stack.data_dir / "demo-api-keys.json")
        print(f"soak: stack up in {time.monotonic() - t_setup:.0f}s; {args.journeys} journeys, {args.readers} readers, "
              f"{args.seconds:g}s, faults {','.join(args.faults) or 'none'}", flush=True)  # fmt: skip
        tally = Tally()
        stop = threading.Event()
        t0 = time.monotonic()
        load = Load(stack.port, parties, tally, stop, t0 + args.seconds + args.settle)
        faults = FaultLoop(stack, args.faults, (args.gap_min, args.gap_max), (args.pg_min, args.pg_max), args.grace,
                           signal.Signals["SIG" + args.chain_signal], args.seed)  # fmt: skip
        threads = [threading.Thread(target=load.writer, args=(i,), daemon=True) for i in range(args.journeys)]
        threads += [threading.Thread(target=load.reader, args=(i, args.read_pause), daemon=True) for i in range(args.readers)]  # fmt: skip
        fault_thread = threading.Thread(target=faults.run, args=(t0,), daemon=True)
        for t in threads:
            t.start()
        if args.faults:
            fault_thread.start()
        next_report = t0 + PROGRESS_SECONDS
        while time.monotonic() < t0 + args.seconds:
            time.sleep(0.5)
            if not stack.alive():
                print(f"soak: pharmatrack up stopped during the load:\n{stack.tail()}", flush=True)
                break
            if time.monotonic() >= next_report:
                with tally.lock:
                    n5xx, nfail = sum(v for k, v in tally.statuses.items() if k >= 500), sum(tally.failures.values())
                print(f"  t={time.monotonic() - t0:4.0f}s accepted {len(load.accepted)} confirmed {load.confirmed_seen} "
                      f"journeys {load.journeys_done}/{load.journeys_started} abandoned {len(load.abandoned)} "
                      f"reads {load.reads} faults {len(faults.faults)} 5xx {n5xx} no-answer {nfail}", flush=True)  # fmt: skip
                next_report += PROGRESS_SECONDS
        window = time.monotonic() - t0
        faults.stop.set()
        fault_thread.join(60) if fault_thread.is_alive() else None
        faults.resume_postgres()
        stop.set()
        for t in threads:
            t.join(max(1.0, load.hard_deadline - time.monotonic()))
        windows = faults.windows(time.monotonic())
        print(f"soak: load stopped after {window:.0f}s; {len(faults.faults)} faults; settling (at most {args.settle:g}s)",
              flush=True)  # fmt: skip
        settled = settle(stack, load, args.settle)
        print(f"soak: {settled}", flush=True)
        statuses = final_statuses(stack, load, tally)
        sources, logs = {}, 0
        if stack.alive():
            ok_verify, verify_text = index_verify(stack)
            sources["mirror"] = mirror_effects(stack.db_url)
            sources["chain"], logs = chain_effects(stack)
        else:  # nothing left to ask: every operation counts as unconfirmed
            ok_verify, verify_text = False, "not run: the stack had stopped"
        verdict = judge(load.accepted, statuses, sources, load.ops_per_key)
        verdict.problems += database_view(stack, load, statuses) if stack.alive() else []
        excused, counted = classify_5xx(tally.errors_5xx, windows)
        report(args, load, tally, faults, verdict, excused, counted, statuses, logs, ok_verify, verify_text)
        line = last_line(window, len(faults.faults), len(load.accepted), verdict.confirmed, verdict.lost,
                         verdict.duplicated, len(counted))  # fmt: skip
        good = (verdict.lost == verdict.duplicated == len(counted) == 0 and verdict.confirmed == len(load.accepted)
                and ok_verify)  # fmt: skip
        return line, good
    finally:
        if faults is not None:
            faults.stop.set()
            faults.resume_postgres()
        stack.stop()


def report(args, load: Load, tally: Tally, faults: FaultLoop, verdict: Verdict, excused: list, counted: list,
           statuses: dict, logs: int, ok_verify: bool, verify_text: str) -> None:  # fmt: skip
    by_kind = collections.Counter(f.kind for f in faults.faults)
    slow = [f for f in faults.faults if f.end is None or f.end - f.start > RECOVERY_TIMEOUT - 1]
    print("faults: " + (", ".join(f"{k} {v}" for k, v in sorted(by_kind.items())) or "none")
          + (f"; {len(slow)} not recovered in time" if slow else ""))  # fmt: skip
    actions = collections.Counter(op.action for op in load.accepted)
    print(f"writes accepted: {len(load.accepted)} (" + ", ".join(f"{k} {v}" for k, v in sorted(actions.items())) + ")")
    final = collections.Counter(s.get("status", "unknown") for s in statuses.values())
    final["no answer"] = len(load.accepted) - len(statuses)
    print("final operation status (API): " + ", ".join(f"{k} {v}" for k, v in sorted(final.items()) if v))
    print(f"journeys: {load.journeys_started} started, {load.journeys_done} completed, {len(load.abandoned)} abandoned; "
          f"{load.unanswered} write(s) never answered; reads {load.reads}")  # fmt: skip
    for line in load.abandoned[:SHOW]:
        print(f"  abandoned: {line}")
    print("HTTP answers: " + ", ".join(f"{k} {v}" for k, v in sorted(tally.statuses.items()))
          + ("; no answer: " + ", ".join(f"{k} {v}" for k, v in sorted(tally.failures.items())) if tally.failures else ""))  # fmt: skip
    print(f"5xx: {len(excused)} excused (503 + Retry-After during a fault), {len(counted)} counted")
    for _status, samples in sorted(tally.samples.items()):
        for s in samples[:3]:
            print(f"  sample {s}")
    for a in counted[:SHOW]:
        print(f"  counted 5xx: {a.method} {a.path.split('?')[0]} {a.status} retry-after={a.retry_after}")
    print(f"chain: {logs} custody log(s) read with eth_getLogs")
    for p in verdict.problems[: SHOW * 2]:
        print(f"  problem: {p}")
    print(f"index --verify: {'clean' if ok_verify else 'NOT CLEAN'}")
    for line in verify_text.splitlines():
        print(f"  {line}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="bench.soak", description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=float(os.environ.get("SOAK_SECONDS", "600")),
                        help="load window (default SOAK_SECONDS or 600)")  # fmt: skip
    parser.add_argument("--short", action="store_true", help="a quick run: 90 s, faults every 2-5 s")
    parser.add_argument("--journeys", type=int, default=6, help="concurrent scanner journeys (default 6)")
    parser.add_argument("--readers", type=int, default=2, help="reader threads (default 2)")
    parser.add_argument("--read-pause", type=float, default=0.1, help="seconds between one reader's requests")
    parser.add_argument("--faults", default=",".join(FAULT_KINDS),
                        help=f"fault kinds, comma-separated (default all: {','.join(FAULT_KINDS)}; '' for none)")  # fmt: skip
    parser.add_argument("--gap-min", type=float, default=4.0, help="least seconds between faults")
    parser.add_argument("--gap-max", type=float, default=10.0, help="most seconds between faults")
    parser.add_argument("--pg-min", type=float, default=5.0, help="shortest SIGSTOP of Postgres, s")
    parser.add_argument("--pg-max", type=float, default=20.0, help="longest SIGSTOP of Postgres, s")
    parser.add_argument("--grace", type=float, default=10.0,
                        help="seconds a fault stays active after its component is back (default 10)")  # fmt: skip
    parser.add_argument("--chain-signal", default="TERM", choices=["TERM", "KILL", "INT"], help="signal to anvil")
    parser.add_argument("--settle", type=float, default=300.0, help="longest wait for the stack to settle, s")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (default 2)")
    parser.add_argument("--block-time", type=float, default=1.0, help="anvil block time, s (default 1)")
    parser.add_argument("--seed", type=int, default=None, help="random seed of the fault loop")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (logs, database)")
    args = parser.parse_args(argv)
    if args.short:
        args.seconds, args.gap_min, args.gap_max, args.settle = 90.0, 2.0, 5.0, 180.0
    args.faults = [k for k in args.faults.split(",") if k]
    unknown = set(args.faults) - set(FAULT_KINDS)
    if unknown or args.seconds <= 0 or args.journeys < 1:
        parser.error(f"unknown fault kinds {sorted(unknown)}" if unknown else "need --seconds > 0 and --journeys ≥ 1")
    if args.seed is None:
        args.seed = random.SystemRandom().randrange(1 << 30)
    print(f"soak: seed {args.seed}", flush=True)
    tmp = Path(tempfile.mkdtemp(prefix="pharmatrack-soak-"))
    try:
        line, good = run(args, tmp)
    finally:
        if args.keep:
            print(f"kept {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    print(line, flush=True)
    sys.exit(0 if good else 1)


if __name__ == "__main__":
    main()
