"""The indexer loop, kept small: target = min(safe head, cursor + window); fetch the logs,
decode them, write rows, block headers and the cursor in one transaction; compare-and-set
the cursor; a hash that no longer matches is a reorg, rolled back to the common ancestor and
replayed — or, deeper than the configured limit, a loud stop.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from dataclasses import dataclass

from app.chain.client import ChainClient, LogRangeRefused
from app.chain.deploy import Deployment
from app.db import Database
from app.errors import PharmatrackError, ServiceUnavailable
from app.indexer import store, writer
from app.indexer.events import EventSpec, decode_log
from app.indexer.window import AdaptiveWindow

log = logging.getLogger(__name__)


class IndexerStopped(PharmatrackError):
    """The indexer refuses to go on (another chain, a reorg deeper than its limit, an event it
    cannot decode): a human must look. It never silently diverges from the chain."""


class ChainMoved(ServiceUnavailable):
    """The chain changed while a window was being read; the window is retried."""

    def __init__(self, problem: str):
        super().__init__("chain", problem)


@dataclass
class Step:
    from_block: int = 0
    to_block: int = -1
    events: int = 0
    rolled_back_to: int | None = None

    @property
    def blocks(self) -> int:
        return max(0, self.to_block - self.from_block + 1)


class Indexer:
    def __init__(
        self,
        db: Database,
        chain: ChainClient,
        deployment: Deployment,
        specs: dict[bytes, EventSpec],
        confirmations: int | str = 0,
        reorg_limit: int = 64,
        window: AdaptiveWindow | None = None,
        reset_on_new_chain: bool = False,
        until_block: int | None = None,
    ):
        self.db = db
        self.chain = chain
        self.deployment = deployment
        self.specs = specs
        self.addresses = [c["address"] for c in deployment.contracts.values()]
        self.tables = sorted({s.table for s in specs.values()})
        self.confirmations = confirmations
        self.reorg_limit = reorg_limit
        self.window = window or AdaptiveWindow()
        self.reset_on_new_chain = reset_on_new_chain
        self.genesis = bytes.fromhex(deployment.genesis_hash[2:])
        self.until_block = until_block

    @classmethod
    def for_deployment(cls, db: Database, chain: ChainClient, deployment: Deployment, **options) -> Indexer:
        """An indexer for every event of every contract in the deployment."""
        from app.indexer.registry import specs_for

        return cls(db, chain, deployment, specs_for(deployment), **options)

    # -- one step -----------------------------------------------------------------------

    def safe_head(self) -> int:
        if self.confirmations == "finalized":
            head = self.chain.finalized_block_number()
        else:
            head = self.chain.block_number() - int(self.confirmations)
        return head if self.until_block is None else min(head, self.until_block)

    def run_once(self) -> Step:
        """Index one window (or repair one reorg). Step.blocks is 0 when caught up."""
        safe = self.safe_head()
        with self.db.connection() as conn:
            cursor = self._cursor(conn)
            start = cursor["block_number"] + 1 if cursor else self.deployment.start_block
            while True:
                end = min(safe, start + self.window.size - 1)
                if end < start:
                    if cursor and self._cursor_replaced(cursor):
                        return self._repair(conn, cursor)
                    return Step(start, start - 1)
                try:
                    logs = self.chain.raw_logs(start, end, self.addresses)
                except LogRangeRefused as exc:
                    if not self.window.refused():
                        raise ServiceUnavailable("chain", f"eth_getLogs refused even one block: {exc}") from exc
                    continue
                break
            self.window.observe(len(logs), end - start + 1)
            event_blocks = {int(entry["blockNumber"], 16) for entry in logs}
            wanted = event_blocks | {start, end} | ({cursor["block_number"]} if cursor else set())
            headers = self.chain.headers(sorted(wanted))
            if cursor:
                # The window must hang off the cursor: its first block's parent is the cursor's block.
                canonical = headers.get(cursor["block_number"])
                if canonical is None or canonical["hash"] != cursor["block_hash"]:
                    return self._repair(conn, cursor)
                if start not in headers or headers[start]["parentHash"] != cursor["block_hash"]:
                    raise ChainMoved(f"block {start} does not extend the cursor's block; retrying")
            self._check_window(logs, headers, end)
            rows: dict[EventSpec, list[tuple]] = defaultdict(list)
            for entry in logs:
                spec = self.specs.get(bytes.fromhex(entry["topics"][0][2:])) if entry["topics"] else None
                if spec is None:
                    raise IndexerStopped(f"unknown event {entry['topics'][:1]} in tx {entry['transactionHash']}")
                rows[spec].append(decode_log(spec, entry))
            writer.write_events(conn, rows)
            store.insert_blocks(
                conn, {n: h | {"has_events": n in event_blocks} for n, h in headers.items() if n >= start}
            )
            if cursor:
                store.move_cursor(conn, cursor, end, headers[end]["hash"])
            else:
                store.create_cursor(conn, self.chain.chain_id(), self.genesis, end, headers[end]["hash"])
            store.prune_blocks(conn, end - 2 * self.reorg_limit)
        return Step(start, end, len(logs))

    def _cursor(self, conn) -> dict | None:
        cursor = store.read_cursor(conn, lock=True)
        if cursor is not None and cursor["genesis_hash"] != self.genesis:
            if not self.reset_on_new_chain:
                raise IndexerStopped(
                    f"the mirror was built from another chain (genesis 0x{cursor['genesis_hash'].hex()[:12]}…); "
                    "point DATABASE_URL at an empty database or reset the mirror"
                )
            log.warning("new local chain: resetting the mirror")
            store.reset(conn, self.tables)
            return None
        return cursor

    def _cursor_replaced(self, cursor: dict) -> bool:
        header = self.chain.headers([cursor["block_number"]]).get(cursor["block_number"])
        return header is None or header["hash"] != cursor["block_hash"]

    @staticmethod
    def _check_window(logs: list[dict], headers: dict[int, dict], end: int) -> None:
        if end not in headers:
            raise ChainMoved(f"block {end} vanished while reading")
        for entry in logs:
            header = headers.get(int(entry["blockNumber"], 16))
            if header is None or header["hash"] != bytes.fromhex(entry["blockHash"][2:]):
                raise ChainMoved(f"block {int(entry['blockNumber'], 16)} changed while reading")

    # -- reorgs ---------------------------------------------------------------------------

    def _repair(self, conn, cursor: dict) -> Step:
        """The block under the cursor is no longer canonical: find the newest stored block that
        still is, delete everything above it, and move the cursor there."""
        floor = cursor["block_number"] - self.reorg_limit
        stored = [(cursor["block_number"], cursor["block_hash"])]
        stored += [
            b for b in store.recent_blocks(conn, cursor["block_number"] - 1, self.reorg_limit + 1) if b[0] >= floor
        ]
        canonical = self.chain.headers([n for n, _ in stored])
        ancestor = next((n for n, h in stored if canonical.get(n, {}).get("hash") == h), None)
        if ancestor is None:
            if floor >= self.deployment.start_block:
                raise IndexerStopped(
                    f"reorg deeper than INDEXER_REORG_LIMIT={self.reorg_limit} blocks below block "
                    f"{cursor['block_number']}: the mirror is no longer trustworthy; re-index from scratch"
                )
            ancestor = self.deployment.start_block - 1
        deleted = store.rollback_above(conn, self.tables, ancestor)
        if ancestor < self.deployment.start_block:
            store.delete_cursor(conn)
        else:
            ancestor_hash = canonical[ancestor]["hash"] if ancestor in canonical else dict(stored)[ancestor]
            store.move_cursor(conn, cursor, ancestor, ancestor_hash)
        log.warning(
            "reorg: rolled back",
            extra={"from_block": cursor["block_number"], "to_block": ancestor, "rows_deleted": sum(deleted.values())},
        )
        return Step(ancestor + 1, ancestor, 0, rolled_back_to=ancestor)

    # -- loops ----------------------------------------------------------------------------

    def run_until_caught_up(self) -> int:
        """Index until the safe head; return the blocks advanced (rollbacks included)."""
        total = 0
        while True:
            step = self.run_once()
            if step.rolled_back_to is not None:
                continue
            if step.blocks == 0:
                return total
            total += step.blocks

    def run_forever(self, stop: threading.Event, poll_seconds: float = 1.0, progress=None) -> None:
        backoff = poll_seconds
        while not stop.is_set():
            started = time.perf_counter()
            try:
                step = self.run_once()
                backoff = poll_seconds
            except ServiceUnavailable as exc:
                log.warning("indexer waiting", extra={"component": exc.component, "problem": exc.problem})
                stop.wait(backoff)
                backoff = min(backoff * 2, 30.0)
                continue
            if progress is not None:
                progress(step, time.perf_counter() - started)
            if step.events:
                log.info(
                    "indexed", extra={"from_block": step.from_block, "to_block": step.to_block, "events": step.events}
                )
            if step.blocks == 0 and step.rolled_back_to is None:
                stop.wait(poll_seconds)
