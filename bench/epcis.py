"""`make bench-epcis`: 4 clients post EPCIS documents of 1,000 events to POST /epcis/capture, against
the single-scan endpoint of `make bench-ingest` measured in the same run, on the same stack.

Stack and setup as bench/ingest.py (its helpers): Postgres, anvil (``--block-time``, 1 s), the contracts, the
indexer, the relayer and gunicorn; ``--pairs`` manufacturer ⇄ distributor pairs with ``--cases`` cases of 10 packs
for the EPCIS phase and ``--scan-cases`` for the single-scan phase, packed straight on the contract.

Phase 1 (the baseline, S): bench/ingest.py's load (``--scan-clients`` clients posting single-unit ship and receive
scans) for ``--seconds``; then its operations drain.

Phase 2 (E, C, G): ``--clients`` clients, one per organisation in turn, each posting documents of ``--events``
events for ``--seconds``. A document is one organisation's (its API key) and its events are independent of each
other given what is confirmed on chain (a document whose events depend on each other is not supported): per
document, in this mix, for the cases ready at the organisation:
- receiving (ObjectEvent OBSERVE) of cases shipped to it by an earlier document, once confirmed;
- shipping (ObjectEvent OBSERVE, destinationList owning_party) of cases it holds, to its pair's other party;
- sensor_reporting (ObjectEvent OBSERVE with sensorElementList: 3 temperature readings) of cases it holds
  (a quarter of them), which stay where they are;
- commissioning (ObjectEvent ADD, ilmd lot and expiry) of fresh lots of 10 serials (manufacturers: 2 %).
A case is in at most one event in flight: it is ready again once its operation is confirmed. A document is sent
once ``--events`` cases are ready (or after 0.5 s with what is ready). The error behaviour is rollback.

Figures (last line ``epcis_events_per_s E confirmed_events_per_s C single_scan_per_s S ratio E/S gas_per_event G``):
- E: events of the documents answered 202 whose capture was not refused / the posting window (from the start to
  the last answer: a document sent before the deadline counts, so the window runs a little over ``--seconds``)
  (capture is synchronous: the job's row is written, success or failed, before the 202, so the window runs from
  the first post to the last such job's completion; E counts only events of jobs stored with success);
- C: EPCIS operations confirmed / (last confirmation - first accept), as bench/ingest defines C;
- S: bench/ingest's accepted_per_s of phase 1;
- G: gas of the relayer's transactions carrying EPCIS operations / EPCIS operations confirmed.
Also printed: per kind of event, accepted and confirmed; document latency; CPU per component over the window.

``--profile``: gunicorn's request threads run cProfile (bench/profile_hooks.py, on each thread's CPU clock), and
the capture's CPU is split by stage at the end (profiled CPU inflates pure-Python calls: shares, approximate).

Targets (issue 15): E ≥ 10,000, C ≥ 3,000, E/S ≥ 10 on a 2-core machine.

Run: ``.venv/bin/python -m bench.epcis [--seconds 30] [--clients 4] [--events 1000] [--profile]``, or ``--smoke``
(about 40 s: 5 s phases, 4,000 + 1,500 cases).
"""

from __future__ import annotations

import argparse
import collections
import http.client
import json
import os
import pstats
import secrets
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from hashlib import sha256
from pathlib import Path

import psutil
import psycopg2

from app.chain.keystore import KeyStore
from app.services.epcis import cbv
from bench import ingest
from bench.ingest import Api, Case, CpuMeter, Pair

POLL_SECONDS = 0.3
FILL_WAIT = 0.5  # longest wait for a document's worth of ready cases
SENSOR_SHARE = 4  # one held case in SENSOR_SHARE gets a sensor report rather than a shipment
COMMISSION_PERCENT = 2  # of a manufacturer's document: fresh lots
SERIALS_PER_LOT = 10
SHOW_ERRORS = 5
CONTEXT = ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"]


# --------------------------------------------------------------------------- the documents (pure)


def _head(step: str, gln: str, when: str, action: str = "OBSERVE") -> dict:
    return {"type": "ObjectEvent", "eventID": f"urn:uuid:{uuid.uuid4()}", "action": action, "eventTime": when,
            "eventTimeZoneOffset": "+00:00", "bizStep": step, "readPoint": {"id": cbv.sgln(gln)},
            "bizLocation": {"id": cbv.sgln(gln)}}  # fmt: skip


def shipping(gln: str, sscc: str, to_gln: str, when: str) -> dict:
    return _head("shipping", gln, when) | {
        "epcList": [cbv.sscc(sscc)],
        "destinationList": [{"type": "owning_party", "destination": cbv.pgln(to_gln)}],
    }


def receiving(gln: str, sscc: str, when: str) -> dict:
    return _head("receiving", gln, when) | {"epcList": [cbv.sscc(sscc)]}


def sensor_report(gln: str, sscc: str, when: str, device: str) -> dict:
    start = datetime.fromisoformat(when) - timedelta(minutes=3)
    reports = [{"type": "gs1:Temperature", "value": 4.0 + i / 2, "uom": "CEL",
                "time": (start + timedelta(minutes=i)).isoformat().replace("+00:00", "Z")} for i in range(3)]  # fmt: skip
    return _head("sensor_reporting", gln, when) | {
        "epcList": [cbv.sscc(sscc)],
        "sensorElementList": [{"sensorMetadata": {"deviceID": device}, "sensorReport": reports}],
    }


def commissioning(gln: str, gtin: str, lot: str, serials: list[str], expiry: str, when: str) -> dict:
    return _head("commissioning", gln, when, action="ADD") | {
        "epcList": [cbv.sgtin(gtin, s) for s in serials],
        "disposition": "active",
        "ilmd": {"cbvmda:lotNumber": lot, "cbvmda:itemExpirationDate": expiry},
    }


def document(events: list[dict], when: str) -> dict:
    return {"@context": CONTEXT, "type": "EPCISDocument", "schemaVersion": "2.0", "creationDate": when,
            "epcisBody": {"eventList": events}}  # fmt: skip


@dataclass
class Party:
    """One organisation's side of a pair: who it ships to, its product (a manufacturer), its ready cases."""

    pair: Pair
    maker: bool
    ready: collections.deque = field(default_factory=collections.deque)  # cases whose next event is ours
    lots: int = 0

    @property
    def org(self):
        return self.pair.maker if self.maker else self.pair.distributor

    @property
    def other(self):
        return self.pair.distributor if self.maker else self.pair.maker


@dataclass
class Tracked:
    """One event in flight: its operation's idempotency key, the case it moves (None: a fresh lot), its kind."""

    key: str
    kind: str
    case: Case | None
    next_step: int


def operation_key(event_id: str) -> str:
    """The idempotency key capture gives an event's (first) operation (app/services/epcis/capture.py `_key`)."""
    return f"epcis:{sha256(event_id.encode()).hexdigest()}:0"


def compose(party: Party, cases: list[Case], extra_lots: int, now: datetime) -> tuple[dict, list[Tracked]]:
    """A document of `party`'s events for `cases` (each ready at it: held, or in transit to it) and `extra_lots`
    fresh lots (a manufacturer); with what each event's operation will change once confirmed."""
    when = now.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    gln, events, tracked = party.org.gln, [], []
    holding = (0, 2)  # case.step: 0 at the maker, 1 in transit to the distributor, 2 at it, 3 in transit back
    for n, case in enumerate(cases):
        if case.step not in holding:
            event, kind, nxt = receiving(gln, case.sscc, when), "receiving", (case.step + 1) % 4
        elif n % SENSOR_SHARE == SENSOR_SHARE - 1:
            event, kind, nxt = (
                sensor_report(gln, case.sscc, when, f"urn:epc:id:giai:9506000.L{case.sscc[-8:]}"),
                "sensor",
                case.step,
            )
        else:
            event, kind, nxt = shipping(gln, case.sscc, party.other.gln, when), "shipping", case.step + 1
        events.append(event)
        tracked.append(Tracked(operation_key(event["eventID"]), kind, case, nxt))
    expiry = (now + timedelta(days=730)).date().isoformat()
    for _ in range(extra_lots):
        party.lots += 1
        lot = f"EP{party.pair.index}-{party.lots}"
        serials = [f"E{party.pair.index}L{party.lots}S{k}" for k in range(SERIALS_PER_LOT)]
        event = commissioning(gln, party.pair.gtin, lot, serials, expiry, when)
        events.append(event)
        tracked.append(Tracked(operation_key(event["eventID"]), "commissioning", None, 0))
    return document(events, when), tracked


# --------------------------------------------------------------------------- the load


@dataclass
class Stats:
    documents: int = 0
    events: int = 0
    refused_documents: int = 0
    errors: int = 0
    samples: list[str] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    by_kind: collections.Counter = field(default_factory=collections.Counter)


class EpcisLoad:
    def __init__(self, host: str, port: int, parties: list[Party], clients: int, events: int, db_url: str):
        self.host, self.port, self.db_url, self.events = host, port, db_url, events
        self.parties = parties
        self.clients = clients
        self.cond = threading.Condition()
        self.stats = [Stats() for _ in range(clients)]
        self.outstanding: dict[str, Tracked] = {}
        self.lock = threading.Lock()
        self.confirmed = collections.Counter()
        self.failed = collections.Counter()
        self.failed_samples: list[str] = []
        self.org_ids: list[int] = []
        self.go = threading.Event()
        self.stop_polling = threading.Event()
        self.deadline = 0.0
        self.table_work: dict[str, list[int]] = {}

    def party_of(self, case: Case) -> Party:
        maker = case.step in (0, 3)
        return next(p for p in self.parties if p.pair is case.pair and p.maker == maker)

    def client(self, i: int) -> None:
        api = Api(self.host, self.port)
        mine = [p for k, p in enumerate(self.parties) if k % self.clients == i]
        conn = psycopg2.connect(self.db_url)
        conn.autocommit = True
        self.go.wait()
        turn = 0
        try:
            while time.monotonic() < self.deadline and mine:
                party = mine[turn % len(mine)]
                turn += 1
                lots = self.events * COMMISSION_PERCENT // 100 if party.maker else 0
                want = self.events - lots
                with self.cond:
                    until = min(self.deadline, time.monotonic() + FILL_WAIT)
                    while len(party.ready) < want and time.monotonic() < until:
                        self.cond.wait(max(0.0, until - time.monotonic()))
                    cases = [party.ready.popleft() for _ in range(min(want, len(party.ready)))]
                if not cases and not lots:
                    continue
                doc, tracked = compose(party, cases, lots, datetime.now(UTC))
                self._post(api, conn, i, party, doc, tracked)
        finally:
            api.close()
            conn.close()

    def _post(self, api: Api, conn, i: int, party: Party, doc: dict, tracked: list[Tracked]) -> None:
        stats = self.stats[i]
        headers = {"Authorization": f"Bearer {party.org.api_key}", "Content-Type": "application/json",
                   "GS1-Capture-Error-Behaviour": "rollback"}  # fmt: skip
        payload = json.dumps(doc).encode()
        started = time.perf_counter()
        try:
            status, raw = api.request("POST", "/epcis/capture", payload, headers)
        except (OSError, http.client.HTTPException) as exc:
            status, raw = 0, f"{type(exc).__name__}: {exc}".encode()
        elapsed = time.perf_counter() - started
        refused = None
        if status == 202:
            with conn.cursor() as cur:  # the job: refused as a whole (rollback) when an event was
                cur.execute("SELECT status, errors FROM epcis_captures WHERE id = %s", (json.loads(raw)["captureID"],))
                job_status, errors = cur.fetchone()
            if job_status == "failed":
                refused = f"capture refused: {json.dumps(errors[:2])[:300]}"
        else:
            refused = f"HTTP {status} {raw[:300].decode(errors='replace')}"
        if refused is not None:  # the cases are dropped: their state is not known for sure
            stats.errors += 1
            stats.refused_documents += status == 202
            if len(stats.samples) < SHOW_ERRORS:
                stats.samples.append(f"{party.org.name}, {len(tracked)} events: {refused}")
            return
        stats.documents += 1
        stats.events += len(tracked)
        stats.latencies.append(elapsed)
        stats.by_kind.update(t.kind for t in tracked)
        with self.lock:
            for t in tracked:
                self.outstanding[t.key] = t

    def poll(self) -> None:
        ingest.poll_finished(
            self.db_url, self.stop_polling, POLL_SECONDS, self._outstanding_keys,
            "SELECT idempotency_key, status, error FROM operations WHERE organisation_id = ANY(%s) "
            "AND idempotency_key = ANY(%s) AND status IN ('confirmed', 'failed')",
            lambda keys: (self.org_ids, keys), self._finished,
        )  # fmt: skip

    def _outstanding_keys(self) -> list[str]:
        with self.lock:
            return list(self.outstanding)

    def _finished(self, rows: list[tuple]) -> None:
        back = []
        with self.lock:
            for key, status, error in rows:
                t = self.outstanding.pop(key)
                if status == "failed":
                    self.failed[t.kind] += 1
                    if len(self.failed_samples) < SHOW_ERRORS:
                        self.failed_samples.append(f"{t.kind}: {json.dumps(error)[:300]}")
                    continue
                self.confirmed[t.kind] += 1
                if t.case is not None:
                    t.case.step = t.next_step
                    back.append(t.case)
        if back:
            with self.cond:
                for case in back:
                    self.party_of(case).ready.append(case)
                self.cond.notify_all()


# --------------------------------------------------------------------------- the run


TABLE_COUNTERS = ("idx_scan", "seq_scan", "n_tup_ins", "n_tup_upd", "n_tup_del")


def table_counters(db_url: str) -> dict[str, tuple[int, ...]]:
    """Per table: index scans, sequential scans, rows inserted, updated, deleted so far (cumulative statistics)."""
    conn = psycopg2.connect(db_url)
    try:
        with conn, conn.cursor() as cur:
            cur.execute("SELECT relname, COALESCE(idx_scan, 0), seq_scan, n_tup_ins, n_tup_upd, n_tup_del "
                        "FROM pg_stat_user_tables")  # fmt: skip
            return {name: tuple(int(x) for x in rest) for name, *rest in cur.fetchall()}
    finally:
        conn.close()


def wait_drained(db_url: str, seconds: float, what: str) -> tuple[float, int]:
    start = time.monotonic()
    while (left := ingest.db_scalar(db_url, "SELECT count(*) FROM operations WHERE status IN ('pending', "
                                    "'submitted')")[0]) and time.monotonic() - start < seconds:  # fmt: skip
        time.sleep(0.25)
    if left:
        print(f"  {what}: gave up draining, {left:,} operation(s) still open", flush=True)
    return time.monotonic() - start, left


def scan_phase(args, chain, port: int, cases: list[Case]) -> float:
    """bench/ingest's load for --seconds; its accepted scans per second."""
    load = ingest.Load("127.0.0.1", port, cases, args.scan_clients, chain.db_url)
    threads = [threading.Thread(target=load.client, args=(i,), daemon=True) for i in range(args.scan_clients)]
    poller = threading.Thread(target=load.poll, daemon=True)
    for t in [*threads, poller]:
        t.start()
    t_start = time.monotonic()
    load.deadline = t_start + args.seconds
    load.go.set()
    for t in threads:
        t.join()
    window = time.monotonic() - t_start
    wait_drained(chain.db_url, args.drain, "single scans")
    load.stop_polling.set()
    poller.join(5)
    errors = sum(s.errors for s in load.stats)
    latencies = sorted(x for s in load.stats for x in s.latencies)
    print(f"single scans: {len(latencies):,} accepted in {window:.1f}s ({len(latencies) / window:,.0f}/s), "
          f"errors {errors}, p99 accept {ingest.percentile(latencies, 99) * 1000:.1f} ms; "
          f"{load.confirmed_seen:,} confirmed", flush=True)  # fmt: skip
    for s in load.stats:
        for line in s.error_samples:
            print(f"  error: {line}")
    return len(latencies) / window


def epcis_phase(args, chain, port: int, procs: dict, pairs: list[Pair], cases: list[Case], logs: Path):
    parties = [Party(pair, maker) for pair in pairs for maker in (True, False)]
    for case in cases:
        case.step = 0
        next(p for p in parties if p.pair is case.pair and p.maker).ready.append(case)
    load = EpcisLoad("127.0.0.1", port, parties, args.clients, args.events, chain.db_url)
    load.org_ids = [
        ingest.db_scalar(chain.db_url, "SELECT id FROM organisations WHERE gln = %s", (p.org.gln,))[0] for p in parties
    ]
    meter_groups = {
        "api (gunicorn)": (procs["api"].pid, True),
        "relayer": (procs["relayer"].pid, True),
        "indexer": (procs["indexer"].pid, True),
        "anvil": (chain.node.process.pid, True),
        "bench (clients + poller)": (os.getpid(), False),
    }
    pg_pid = ingest.postmaster_pid(chain.embedded.data_dir) if chain.embedded else None
    if pg_pid:
        meter_groups["postgres"] = (pg_pid, True)
    meter = CpuMeter(meter_groups)
    threads = [threading.Thread(target=load.client, args=(i,), daemon=True) for i in range(args.clients)]
    poller = threading.Thread(target=load.poll, daemon=True)
    for t in [*threads, poller]:
        t.start()
    tables_start = table_counters(chain.db_url)
    cpu_start = meter.sample()
    t_start = time.monotonic()
    load.deadline = t_start + args.seconds
    load.go.set()
    while any(t.is_alive() for t in threads):
        time.sleep(0.1)
        for name, proc in procs.items():
            if proc.poll() is not None:
                raise SystemExit(f"{name} exited with code {proc.returncode}:\n{ingest.tail(logs / f'{name}.log')}")
    window = time.monotonic() - t_start
    cpu = meter.diff(cpu_start, meter.sample())
    drained, _ = wait_drained(chain.db_url, args.drain, "EPCIS")
    time.sleep(1.0)  # backends flush their table statistics about once a second
    tables = table_counters(chain.db_url)
    load.table_work = {
        t: [b - a for a, b in zip(tables_start.get(t, (0,) * 5), v, strict=True)] for t, v in tables.items()
    }
    time.sleep(2 * POLL_SECONDS)
    load.stop_polling.set()
    poller.join(5)
    return load, window, drained, cpu


def report(load: EpcisLoad, db_url: str, window: float, drained: float, cpu, scan_rate: float) -> str:
    events = sum(s.events for s in load.stats)
    documents = sum(s.documents for s in load.stats)
    latencies = sorted(x for s in load.stats for x in s.latencies)
    by_kind = sum((s.by_kind for s in load.stats), collections.Counter())
    conn = psycopg2.connect(db_url)
    with conn, conn.cursor() as cur:
        cur.execute(
            "SELECT count(*), EXTRACT(EPOCH FROM max(updated_at) - (SELECT min(created_at) FROM operations WHERE "
            "idempotency_key LIKE 'epcis:%%')) FROM operations WHERE status = 'confirmed' AND idempotency_key LIKE "
            "'epcis:%%'"
        )
        confirmed, span = cur.fetchone()
        cur.execute(
            "SELECT t.action, count(*), COALESCE(sum(t.gas_used), 0), sum(n) FROM relay_transactions t JOIN "
            "(SELECT transaction_id, count(*) AS n FROM operations WHERE idempotency_key LIKE 'epcis:%%' "
            "AND transaction_id IS NOT NULL GROUP BY transaction_id) o ON o.transaction_id = t.id GROUP BY t.action"
        )
        per_action = cur.fetchall()
    conn.close()
    span = float(span or 0.0)
    gas = sum(int(g) for _, _, g, _ in per_action)
    e_rate = events / window
    c_rate = confirmed / span if span > 0 else 0.0
    gas_per_event = gas / confirmed if confirmed else 0.0
    print(f"EPCIS: posting window {window:.1f}s, drain {drained:.1f}s; {documents:,} documents accepted "
          f"({events:,} events: " + ", ".join(f"{k} {v:,}" for k, v in sorted(by_kind.items())) + "); "
          f"{sum(s.errors for s in load.stats)} refused or failed documents")  # fmt: skip
    for s in load.stats:
        for line in s.samples:
            print(f"  error: {line}")
    print(f"  confirmed {confirmed:,} over {span:.1f}s from the first accept; by kind "
          + ", ".join(f"{k} {v:,}" for k, v in sorted(load.confirmed.items()))
          + ("; failed on chain " + ", ".join(f"{k} {v:,}" for k, v in load.failed.items()) if load.failed else ""))  # fmt: skip
    for line in load.failed_samples:
        print(f"  failed: {line}")
    print("  document latency s: " + " ".join(f"p{q} {ingest.percentile(latencies, q):.2f}" for q in (50, 90, 99)))
    for action, txs, action_gas, ops in sorted(per_action):
        print(f"  relay {action:<16} {txs:>4} tx {int(ops):>7,} ops  {int(ops) / txs:6.1f} ops/tx  "
              f"{int(action_gas) / max(int(ops), 1):>8,.0f} gas/op")  # fmt: skip
    busy_tables = sorted(load.table_work.items(), key=lambda kv: -sum(kv[1]))[:10]
    print("Postgres work per event, window to drain (index scans, seq scans, rows inserted, updated, deleted):")
    for table, work in busy_tables:
        if sum(work):
            print(
                f"  {table:<28} "
                + " ".join(f"{k} {v / max(events, 1):5.2f}" for k, v in zip(TABLE_COUNTERS, work, strict=True))
            )
    used, busy, span_cpu = cpu
    ours = sum(used.values())
    print(f"CPU over the EPCIS window ({span_cpu:.1f}s, {psutil.cpu_count()} cores; % of one core; µs per event):")
    for name, seconds in sorted(used.items(), key=lambda kv: -kv[1]):
        print(f"  {name:<26} {seconds:7.1f}s {seconds / span_cpu:6.0%} {seconds / max(events, 1) * 1e6:8.0f}")
    print(f"  {'other processes':<26} {max(0.0, busy - ours):7.1f}s {max(0.0, busy - ours) / span_cpu:6.0%}")
    print(f"  {'machine busy':<26} {busy:7.1f}s {busy / span_cpu:6.0%}")
    return (
        f"epcis_events_per_s {e_rate:.0f} confirmed_events_per_s {c_rate:.0f} single_scan_per_s {scan_rate:.0f} "
        f"ratio {e_rate / scan_rate if scan_rate else 0:.2f} gas_per_event {gas_per_event:.0f}"
    )


# capture's stages, as functions of app/services/epcis/capture.py and what it calls (cumulative, inclusive)
STAGES = [
    ("  schema validation", "app/services/epcis/capture.py", "schema_errors"),
    ("  identity and content hash (pre-hash)", "app/services/epcis/capture.py", "_identify"),
    ("  already captured? (one lookup)", "app/db/captures.py", "events_by_ids"),
    ("  mapping (CBV, EPCs)", "app/services/epcis/capture.py", "map_event"),
    ("  custody of the named units (one read)", "app/services/prechecks.py", "one_document"),
    ("  pre-checks (writes.prepare)", "app/services/writes.py", "prepare"),
    ("  outbox rows (one insert)", "app/services/outbox.py", "accept_many"),
    ("  savepoints (per-event writes only)", "app/db/captures.py", None),
    ("  job and events rows", "app/db/captures.py", "insert_events"),
]


def profile_split(paths: list[Path], events: int, top: int) -> None:
    """capture's stages as shares of capture()'s profiled CPU (the profiles hold both phases' requests)."""
    if not paths:
        print("profile: no profile written")
        return
    stats = pstats.Stats(*[str(p) for p in paths])
    raw = stats.stats  # (file, line, name) -> (cc, nc, tt, ct, callers)

    def cumulative(path: str, name: str | None) -> float:
        if name is None:  # every function of the file, own time
            return sum(v[2] for k, v in raw.items() if k[0].endswith(path))
        return sum(v[3] for k, v in raw.items() if k[0].endswith(path) and k[2] == name)

    total = cumulative("app/services/epcis/capture.py", "capture")
    print(f"profile of capture() in the request threads (cProfile, thread CPU clock, which inflates pure-Python "
          f"code): {total:.1f}s, {total / max(events, 1) * 1e6:.0f} µs per accepted event")  # fmt: skip
    for label, path, name in STAGES:
        seconds = cumulative(path, name)
        print(f"  {label:<40} {seconds / total:6.1%} {seconds / max(events, 1) * 1e6:8.0f} µs/event")
    inside = [kv for kv in raw.items() if kv[1][4] and _under_capture(raw, kv[0])]
    print(f"  top {top} functions by own time, of those capture() reaches (per-function call graph: approximate):")
    for key, (_, _, tt, ct, _) in sorted(inside, key=lambda kv: -kv[1][2])[:top]:
        where = key[0].split("site-packages/")[-1].replace(str(Path.cwd()) + "/", "")
        print(f"    {tt / total:6.1%} own {ct / total:6.1%} cum  {where}:{key[1]}({key[2]})")


def _under_capture(raw: dict, key: tuple, seen: set | None = None) -> bool:
    """Whether capture() is among the function's callers, transitively."""
    seen = set() if seen is None else seen
    if key[2] == "capture" and key[0].endswith("app/services/epcis/capture.py"):
        return True
    if key in seen or key not in raw:
        return False
    seen.add(key)
    return any(_under_capture(raw, caller, seen) for caller in raw[key][4])


def run(args: argparse.Namespace, tmp: Path) -> str:
    started = time.monotonic()
    cleanup: list = []
    try:
        chain = ingest.start_chain_and_database(tmp, cleanup, args.block_time)
        pairs = ingest.make_pairs(args.pairs)
        password = tmp / "keystore-password"
        password.write_text(secrets.token_urlsafe(24) + "\n")
        password.chmod(0o600)
        keystore = KeyStore(tmp / "keystores", password)
        t0 = time.monotonic()
        cases = ingest.set_up_chain(chain.w3, chain.pt, pairs, args.cases + args.scan_cases)
        ingest.set_up_database(chain.db_url, pairs, keystore)
        setup_head = chain.w3.eth.block_number
        print(f"setup: {len(pairs)} pair(s), {len(cases):,} cases packed on chain in {time.monotonic() - t0:.1f}s",
              flush=True)  # fmt: skip
        extra = {}
        profile_out = tmp / "profile"
        if args.profile:
            extra = {"GUNICORN_CMD_ARGS": "--config python:bench.profile_hooks", "PROFILE_OUT": str(profile_out)}
        procs, _env, logs, port = ingest.start_services(
            chain, tmp, cleanup, args.workers, args.threads, relayer=True,
            SIGNER_KEYSTORE_DIR=str(keystore.directory), SIGNER_PASSWORD_FILE=str(password),
            BLOCK_TIME=str(args.block_time), **extra,
        )  # fmt: skip

        def mirrored() -> bool:
            cursor = ingest.db_scalar(chain.db_url, "SELECT block_number FROM indexer_cursor WHERE name = 'main'")
            if cursor is None or cursor[0] < setup_head:
                return False
            return ingest.db_scalar(chain.db_url, "SELECT count(*) FROM ev_case_packed")[0] >= len(cases)

        ingest.wait_for("the indexer to mirror the setup", mirrored, 300, procs, logs)
        by_pair = collections.defaultdict(list)
        for case in cases:
            by_pair[case.pair.index].append(case)
        share = -(-args.scan_cases // len(pairs))
        scan_cases = [c for group in by_pair.values() for c in group[:share]]
        epcis_cases = [c for group in by_pair.values() for c in group[share:]]
        print(f"stack up: gunicorn {args.workers} x {args.threads} threads; phase 1: {args.scan_clients} clients "
              f"post single scans for {args.seconds:g}s ({len(scan_cases):,} cases)", flush=True)  # fmt: skip
        scan_rate = scan_phase(args, chain, port, scan_cases)
        print(f"phase 2: {args.clients} clients post documents of {args.events:,} events for {args.seconds:g}s "
              f"({len(epcis_cases):,} cases)", flush=True)  # fmt: skip
        load, window, drained, cpu = epcis_phase(args, chain, port, procs, pairs, epcis_cases, logs)
        last = report(load, chain.db_url, window, drained, cpu, scan_rate)
        if args.profile:
            ingest.stack.stop_process(procs["api"])  # the workers write their profiles as they exit
            events = sum(s.events for s in load.stats)
            profile_split(sorted(tmp.glob("profile.requests.*")), events, args.top)
        print(f"elapsed {time.monotonic() - started:.0f}s")
        return last
    finally:
        ingest.stop_all(cleanup)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="bench.epcis", description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0, help="each phase's posting window (default 30)")
    parser.add_argument("--clients", type=int, default=4, help="clients posting EPCIS documents (default 4)")
    parser.add_argument("--events", type=int, default=1000, help="events per document (default 1000)")
    parser.add_argument("--cases", type=int, default=16000, help="cases for the EPCIS phase (default 16000)")
    parser.add_argument("--scan-clients", type=int, default=8, help="clients of the single-scan phase (default 8)")
    parser.add_argument("--scan-cases", type=int, default=4000, help="cases for the single-scan phase (4000)")
    parser.add_argument("--pairs", type=int, default=2, help="manufacturer ⇄ distributor pairs (default 2)")
    parser.add_argument("--block-time", type=float, default=1.0, help="anvil block time in s (default 1)")
    ingest.add_server_options(parser)
    parser.add_argument("--drain", type=float, default=60.0, help="longest wait for confirmations after a phase")
    parser.add_argument("--profile", action="store_true", help="cProfile gunicorn's request threads: CPU by stage")
    parser.add_argument("--top", type=int, default=20, help="with --profile: functions listed by own time")
    parser.add_argument("--smoke", action="store_true", help="about 40 s: 5 s phases, 4,000 + 1,500 cases")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (logs, database files)")
    args = parser.parse_args(argv)
    if args.smoke:
        args.seconds, args.cases, args.scan_cases, args.drain = 5.0, 4000, 1500, 30.0
    if args.clients < 1 or args.events < 1 or args.pairs < 1 or args.seconds <= 0 or args.scan_clients < 1:
        parser.error("need --clients, --events, --pairs, --scan-clients ≥ 1 and --seconds > 0")
    print(ingest.run_in_tmp("pharmatrack-bench-epcis-", run, args), flush=True)


if __name__ == "__main__":
    main()
