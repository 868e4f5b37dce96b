"""Readiness of each dependency, as plain data. No Flask here."""

from __future__ import annotations

import time

import psycopg2

from app.db import Database, health, relay
from app.errors import PharmatrackError, ServiceUnavailable
from app.services.supervision import read_status


def _ms(start: float) -> float:
    return round((time.perf_counter() - start) * 1000, 2)


def check(db: Database, chain, settings) -> dict:
    components: dict[str, dict] = {}
    cursor_block = None
    start = time.perf_counter()
    try:
        with db.connection() as conn:
            health.ping(conn, timeout_ms=2000)
            cursor_block = health.mirror_cursor_block(conn)
        components["database"] = {"state": "ok", "latency_ms": _ms(start)}
    except ServiceUnavailable as exc:
        components["database"] = {"state": "down", "detail": exc.problem, "latency_ms": _ms(start)}
    except psycopg2.errors.UndefinedTable:
        components["database"] = {"state": "down", "detail": "schema missing: run `pharmatrack migrate`"}

    start = time.perf_counter()
    head = None
    try:
        head = chain.block_number()
        components["chain"] = {"state": "ok", "block": head, "chain_id": chain.chain_id(), "latency_ms": _ms(start)}
    except PharmatrackError as exc:
        components["chain"] = {"state": "down", "detail": str(exc), "latency_ms": _ms(start)}

    if cursor_block is None:
        components["indexer"] = {"state": "degraded", "detail": "the indexer has not stored a block yet"}
    elif head is None:
        components["indexer"] = {"state": "degraded", "cursor": cursor_block, "detail": "chain head unknown"}
    else:
        lag = max(0, head - cursor_block)
        state = "ok" if lag <= settings.indexer_max_lag else "degraded"
        components["indexer"] = {"state": state, "cursor": cursor_block, "lag_blocks": lag}

    if components["database"]["state"] == "ok":
        components.update(pipeline(db, chain if head is not None else None, settings))

    if any(components[c]["state"] == "down" for c in ("database", "chain")):
        status = "down"
    elif any(c["state"] != "ok" for c in components.values()):
        status = "degraded"
    else:
        status = "ok"
    return {"status": status, "components": components}


# --------------------------------------------------------------------- relayer and detector

DETECTOR_MAX_UNSEEN_SECONDS = 60  # a verification the rules have not seen after this: the detector is behind


def pipeline(db: Database, chain, settings) -> dict[str, dict]:
    """The relayer and the detector, from their footprints in the database (plus, for the relayer, the
    chain's pending nonces) and, under `pharmatrack up`, whether their processes run.

    relayer: degraded when the oldest pending operation is older than RELAYER_MAX_PENDING_SECONDS, a
    transaction is stuck (sent more than twice RELAYER_STUCK_SECONDS ago, replacements included, and
    still unmined), or an account's next nonce as the relayer believes it is ahead of the chain's
    pending nonce (a gap: what it sends next cannot be mined). detector: degraded when it is more than
    INDEXER_MAX_LAG blocks behind the mirror or a verification waits unseen for a minute. Either is
    down when `up` says its process is not running."""
    start = time.perf_counter()
    try:
        with db.connection() as conn:
            row = health.pipeline(conn, 2 * settings.relayer_stuck_seconds, timeout_ms=2000)
            believed = {"0x" + account.hex(): nonce for account, nonce in relay.believed_nonces(conn, 10).items()}
    except (ServiceUnavailable, psycopg2.Error) as exc:
        detail = exc.problem if isinstance(exc, ServiceUnavailable) else str(exc).splitlines()[0]
        down = {"state": "down", "detail": detail, "latency_ms": _ms(start)}
        return {"relayer": dict(down), "detector": dict(down)}

    relayer = {
        "state": "ok",
        "pending": row["pending"],
        "oldest_pending_seconds": round(float(row["oldest_pending"] or 0), 1),
        "in_flight": row["in_flight"],
        "stuck": row["stuck"],
    }
    problems = []
    if relayer["oldest_pending_seconds"] > settings.relayer_max_pending_seconds:
        problems.append(f"an operation has waited {relayer['oldest_pending_seconds']:.0f}s to be sent")
    if row["stuck"]:
        problems.append(f"{row['stuck']} transaction(s) stuck")
    if chain is not None:
        try:
            relayer["nonce_gap"] = 0
            pending = chain.transaction_counts(sorted(believed))
            gaps = {a: believed[a] - pending[a] for a in believed if believed[a] > pending[a]}
            relayer["nonce_gap"] = max(gaps.values(), default=0)
            if gaps:
                problems.append(f"{len(gaps)} account(s) with nonces ahead of the chain's")
        except PharmatrackError as exc:
            relayer["detail_chain"] = str(exc)
    if problems:
        relayer.update(state="degraded", detail="; ".join(problems))

    detector: dict = {"state": "ok"}
    if row["detector_cursor"] is None:
        detector.update(state="degraded", detail="the detector has not run yet")
    if row["detector_cursor"] is not None and row["indexer_cursor"] is not None:
        detector["cursor"] = row["detector_cursor"]
        detector["lag_blocks"] = max(0, row["indexer_cursor"] - row["detector_cursor"])
        if detector["lag_blocks"] > settings.indexer_max_lag:
            detector.update(state="degraded", detail=f"{detector['lag_blocks']} blocks behind the mirror")
    unseen = round(float(row["oldest_unseen"] or 0), 1)
    detector["oldest_unseen_seconds"] = unseen
    if unseen > DETECTOR_MAX_UNSEEN_SECONDS:
        detector.update(state="degraded", detail=f"a verification has waited {unseen:.0f}s for the rules")

    _processes(settings, {"relayer": relayer, "detector": detector})
    return {"relayer": relayer, "detector": detector}


def _processes(settings, components: dict[str, dict]) -> None:
    """Under `pharmatrack up`, its status file says whether each process runs (a file read, no wait)."""
    status = read_status(settings.data_dir)
    if not status:
        return
    for name, component in components.items():
        child = status.get("children", {}).get(name)
        if child is None:
            continue
        component["process"] = child["state"]
        if child["state"] != "running":
            component.update(state="down", detail=f"process {child['state']} (last exit: {child.get('last_exit')})")
