"""The indexer loop: target = min(safe head, cursor + window); fetch, decode, write rows and
the cursor in one transaction; compare-and-set the cursor; a changed hash is a reorg.

This is the foundation's slice (Beacon pings only). Adaptive windows, reorg rollback and the
full custody event families come with the indexer issue.
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime

from app.chain.client import ChainClient
from app.chain.deploy import Deployment
from app.db import Database
from app.errors import PharmatrackError, ServiceUnavailable
from app.indexer import decode, store

log = logging.getLogger(__name__)


class IndexerStopped(PharmatrackError):
    """The indexer refuses to go on (another chain, a reorg it cannot repair); a human must look."""


def _hash(value) -> bytes:
    return bytes(value)


class Indexer:
    def __init__(
        self,
        db: Database,
        chain: ChainClient,
        deployment: Deployment,
        confirmations: int = 0,
        window: int = 2000,
        reset_on_new_chain: bool = False,
    ):
        self.db = db
        self.chain = chain
        self.deployment = deployment
        self.confirmations = confirmations
        self.window = window
        self.reset_on_new_chain = reset_on_new_chain
        self.addresses = [deployment.address("Beacon")]

    def safe_head(self) -> int:
        return self.chain.block_number() - self.confirmations

    def run_once(self) -> int:
        """Index one window. Returns how many blocks the cursor advanced (0 when caught up)."""
        safe = self.safe_head()
        genesis = bytes.fromhex(self.deployment.genesis_hash[2:])
        with self.db.connection() as conn:
            cursor = store.read_cursor(conn, lock=True)
            if cursor is not None and cursor["genesis_hash"] != genesis:
                if not self.reset_on_new_chain:
                    raise IndexerStopped(
                        f"the mirror was built from another chain (genesis 0x{cursor['genesis_hash'].hex()[:12]}…); "
                        "point DATABASE_URL at an empty database or reset the mirror"
                    )
                log.warning("new local chain: resetting the mirror")
                store.reset(conn)
                cursor = None
            if cursor is not None:
                canonical = _hash(self.chain.get_block(cursor["block_number"])["hash"])
                if canonical != cursor["block_hash"]:
                    raise IndexerStopped(
                        f"block {cursor['block_number']} changed under the cursor (reorg); the slice indexer does not roll back"
                    )
            start = cursor["block_number"] + 1 if cursor else self.deployment.start_block
            end = min(safe, start + self.window - 1)
            if end < start:
                return 0
            logs = self.chain.get_logs(
                {"fromBlock": start, "toBlock": end, "address": self.addresses, "topics": [[decode.PINGED_TOPIC]]}
            )
            rows = [decode.decode_pinged(entry) for entry in logs]
            wanted = sorted({r["block_number"] for r in rows} | {end})
            headers = {n: self.chain.get_block(n) for n in wanted}
            for entry in logs:
                if _hash(entry["blockHash"]) != _hash(headers[entry["blockNumber"]]["hash"]):
                    raise ServiceUnavailable("chain", "the chain moved while reading a window; retrying")
            store.upsert_blocks(
                conn,
                [
                    (n, _hash(h["hash"]), _hash(h["parentHash"]), datetime.fromtimestamp(h["timestamp"], UTC))
                    for n, h in headers.items()
                ],
            )
            store.insert_pings(conn, rows)
            end_hash = _hash(headers[end]["hash"])
            if cursor is None:
                store.create_cursor(conn, self.chain.chain_id(), genesis, end, end_hash)
            else:
                store.advance_cursor(conn, cursor["block_number"], end, end_hash)
        (log.info if rows else log.debug)("indexed", extra={"from_block": start, "to_block": end, "events": len(rows)})
        return end - start + 1

    def run_until_caught_up(self) -> int:
        total = 0
        while advanced := self.run_once():
            total += advanced
        return total

    def run_forever(self, stop: threading.Event, poll_seconds: float = 1.0) -> None:
        backoff = poll_seconds
        while not stop.is_set():
            try:
                advanced = self.run_once()
                backoff = poll_seconds
            except ServiceUnavailable as exc:
                log.warning(
                    "indexer waiting for a dependency", extra={"component": exc.component, "problem": exc.problem}
                )
                stop.wait(backoff)
                backoff = min(backoff * 2, 30.0)
                continue
            if not advanced:
                stop.wait(poll_seconds)
