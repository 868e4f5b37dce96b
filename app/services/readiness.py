"""Readiness of each dependency, as plain data. No Flask here."""

from __future__ import annotations

import time

import psycopg2

from app.db import Database
from app.errors import PharmatrackError, ServiceUnavailable
from app.indexer import store


def _ms(start: float) -> float:
    return round((time.perf_counter() - start) * 1000, 2)


def check(db: Database, chain, settings) -> dict:
    components: dict[str, dict] = {}
    cursor_block = None
    start = time.perf_counter()
    try:
        with db.connection() as conn:
            with conn.cursor() as cur:
                cur.execute("SET LOCAL statement_timeout = 2000")
                cur.execute("SELECT 1")
            cursor = store.read_cursor(conn)
            cursor_block = cursor["block_number"] if cursor else None
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

    if any(components[c]["state"] == "down" for c in ("database", "chain")):
        status = "down"
    elif any(c["state"] != "ok" for c in components.values()):
        status = "degraded"
    else:
        status = "ok"
    return {"status": status, "components": components}
