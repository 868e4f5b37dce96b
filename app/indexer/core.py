"""The indexer loop, kept small: target = min(safe head, cursor + window); fetch the logs,
decode them, write rows, block headers and the cursor in one transaction; compare-and-set
the cursor; a hash that no longer matches is a reorg, rolled back to the common ancestor and
replayed — or, deeper than the configured limit, a loud stop. What follows the mirror (the relayer's
confirmations, the detector's cursor) moves back through the hooks the composition root registers
(`on_rollback`, `on_reset`: app.stack.indexer_hooks), in the same transaction; the mirror's SQL is in
app/db/indexer.py.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import psycopg2
from eth_abi.exceptions import DecodingError

from app.chain.client import ChainClient, LogRangeRefused
from app.chain.deploy import Deployment
from app.chain.window import AdaptiveWindow
from app.db import Database
from app.db import indexer as db_indexer
from app.errors import PharmatrackError, ServiceUnavailable
from app.indexer import writer
from app.indexer.events import EventSpec, decode_log

log = logging.getLogger(__name__)

# Called inside the transaction that rolls the mirror back, with the first block removed.
RollbackHook = Callable[[object, int], None]
# Called inside the transaction that empties the mirror (the chain was replaced).
ResetHook = Callable[[object], None]


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
        on_rollback: Sequence[RollbackHook] = (),
        on_reset: Sequence[ResetHook] = (),
    ):
        self.db = db
        self.chain = chain
        self.deployment = deployment
        self.specs = specs
        self.addresses = [c["address"] for c in deployment.contracts.values()]
        # every table the indexer writes (one list: writer.mirror_tables): rolled back together on a
        # reorg, emptied together on a reset, compared by `index --verify`
        self.tables = writer.mirror_tables(specs)
        self.event_tables = [t for t in self.tables if t not in writer.DERIVED]  # one row per event
        self.confirmations = confirmations
        self.reorg_limit = reorg_limit
        self.window = window or AdaptiveWindow()
        self.reset_on_new_chain = reset_on_new_chain
        self.genesis = bytes.fromhex(deployment.genesis_hash[2:])
        self.until_block = until_block
        # What follows the mirror (the relayer's confirmations, the detector's cursor) moves back with it:
        # the composition root registers the processes' hooks (app.stack.indexer_hooks); the indexer
        # never writes their tables. A scratch re-index (index --verify) registers none.
        self.on_rollback = list(on_rollback)
        self.on_reset = list(on_reset)

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
            db_indexer.lock_indexer(conn)  # one writer per mirror, even before the cursor row exists
            cursor = self._cursor(conn)
            start = cursor.block_number + 1 if cursor else self.deployment.start_block
            window = self._read_window(start, safe)
            if window is None:
                if cursor and self._cursor_replaced(cursor):
                    return self._repair(conn, cursor)
                return Step(start, start - 1)
            end, pinned, logs = window
            self.window.observe(len(logs), end - start + 1)
            event_blocks = {int(entry["blockNumber"], 16) for entry in logs}
            headers = self._window_headers(cursor, start, end, pinned, event_blocks)
            if headers is None:
                return self._repair(conn, cursor)
            self._check_window(logs, headers)
            rows = self._decode(logs)
            try:
                writer.write_events(conn, rows)
            except psycopg2.DataError as exc:
                raise IndexerStopped(
                    f"a value of blocks {start}-{end} cannot be stored: {str(exc).splitlines()[0]}"
                ) from exc
            db_indexer.insert_blocks(
                conn, {n: h | {"has_events": n in event_blocks} for n, h in headers.items() if n >= start}
            )
            if cursor:
                db_indexer.move_cursor(conn, cursor, end, headers[end]["hash"])
            else:
                db_indexer.create_cursor(conn, self.chain.chain_id(), self.genesis, end, headers[end]["hash"])
            db_indexer.prune_blocks(conn, end - 2 * self.reorg_limit)
        return Step(start, end, len(logs))

    def _window_headers(self, cursor, start: int, end: int, pinned: dict, event_blocks: set[int]) -> dict | None:
        """Headers for the window, checked; None when the cursor's block was replaced (a reorg)."""
        # Checkpoints: the last reorg_limit blocks of every window, so a later reorg always
        # finds its common ancestor among stored blocks however wide this window was.
        wanted = event_blocks | {start, end} | set(range(max(start, end - self.reorg_limit), end + 1))
        if cursor:
            wanted.add(cursor.block_number)
        headers = self.chain.headers(sorted(wanted))
        if any(n not in headers for n in wanted):
            raise ChainMoved("the node did not return every header of the window")
        if headers[end]["hash"] != pinned["hash"]:
            raise ChainMoved(f"block {end} changed while its window was read")
        if cursor:
            if headers[cursor.block_number]["hash"] != cursor.block_hash:
                return None
            # The window must hang off the cursor: its first block's parent is the cursor's block.
            if headers[start]["parentHash"] != cursor.block_hash:
                raise ChainMoved(f"block {start} does not extend the cursor's block")
        return headers

    def _read_window(self, start: int, safe: int) -> tuple[int, dict, list[dict]] | None:
        """(end, end's header, logs) of the next window, or None when caught up."""
        while True:
            end = min(safe, start + self.window.size - 1)
            if end < start:
                return None
            # Pin the window's last block before reading its logs: if its hash is the same
            # afterwards, no block at or below it changed in between (hashes chain).
            pinned = self.chain.headers([end]).get(end)
            if pinned is None:
                raise ChainMoved(f"block {end} is not available yet")
            try:
                return end, pinned, self.chain.raw_logs(start, end, self.addresses)
            except LogRangeRefused as exc:
                if not self.window.refused():
                    raise ServiceUnavailable("chain", "eth_getLogs refused even a one-block range") from exc

    def _decode(self, logs: list[dict]) -> dict[EventSpec, list[tuple]]:
        rows: dict[EventSpec, list[tuple]] = defaultdict(list)
        for entry in logs:
            spec = self.specs.get(bytes.fromhex(entry["topics"][0][2:])) if entry["topics"] else None
            if spec is None:
                raise IndexerStopped(
                    f"unknown event {entry['topics'][:1]} in tx {entry['transactionHash']}: "
                    "the deployment's ABI does not describe it"
                )
            try:
                rows[spec].append(decode_log(spec, entry))
            except (DecodingError, ValueError, IndexError) as exc:
                raise IndexerStopped(
                    f"cannot decode {spec.name} in tx {entry['transactionHash']} ({type(exc).__name__}: {exc})"
                ) from exc
        return rows

    def _cursor(self, conn) -> db_indexer.Cursor | None:
        cursor = db_indexer.read_cursor(conn, lock=True)
        if cursor is not None and cursor.genesis_hash != self.genesis:
            if not self.reset_on_new_chain:
                raise IndexerStopped(
                    f"the mirror was built from another chain (genesis 0x{cursor.genesis_hash.hex()[:12]}…); "
                    "point DATABASE_URL at an empty database or reset the mirror"
                )
            log.warning("new local chain: resetting the mirror")
            db_indexer.reset(conn, self.tables)
            for hook in self.on_reset:
                hook(conn)
            return None
        return cursor

    def _cursor_replaced(self, cursor: db_indexer.Cursor) -> bool:
        number = cursor.block_number
        header = self.chain.headers([number]).get(number)
        if header is None:
            if self.chain.block_number() < number:
                return True  # the chain is now shorter than the mirror: a reorg
            raise ChainMoved(f"the node did not return block {number}")
        return header["hash"] != cursor.block_hash

    @staticmethod
    def _check_window(logs: list[dict], headers: dict[int, dict]) -> None:
        for entry in logs:
            header = headers[int(entry["blockNumber"], 16)]
            if header["hash"] != bytes.fromhex(entry["blockHash"][2:]):
                raise ChainMoved(f"block {int(entry['blockNumber'], 16)} changed while reading")

    # -- reorgs ---------------------------------------------------------------------------

    def _repair(self, conn, cursor: db_indexer.Cursor) -> Step:
        """The block under the cursor is no longer canonical: find the newest stored block that
        still is, delete everything above it, and move the cursor there. Only a hash that
        differs counts: a header the node does not return means "retry", never "reorg"."""
        head = self.chain.block_number()
        floor = cursor.block_number - self.reorg_limit
        stored = [(cursor.block_number, cursor.block_hash)]
        stored += [
            b for b in db_indexer.recent_blocks(conn, cursor.block_number - 1, self.reorg_limit + 1) if b[0] >= floor
        ]
        candidates = [(n, h) for n, h in stored if n <= head]  # above the head: gone with the reorg
        canonical = self.chain.headers([n for n, _ in candidates])
        if any(n not in canonical for n, _ in candidates):
            raise ChainMoved("the node did not return every header needed to find the common ancestor")
        ancestor = next((n for n, h in candidates if canonical[n]["hash"] == h), None)
        if ancestor is None:
            if floor >= self.deployment.start_block:
                raise IndexerStopped(
                    f"reorg deeper than INDEXER_REORG_LIMIT={self.reorg_limit} blocks below block "
                    f"{cursor.block_number}: the mirror is no longer trustworthy; re-index from scratch"
                )
            ancestor = self.deployment.start_block - 1
        deleted = db_indexer.rollback_above(conn, self.tables, ancestor)
        for hook in self.on_rollback:
            hook(conn, ancestor + 1)
        if ancestor < self.deployment.start_block:
            db_indexer.delete_cursor(conn)
        else:
            db_indexer.move_cursor(conn, cursor, ancestor, canonical[ancestor]["hash"])
        log.warning(
            "reorg: rolled back",
            extra={"from_block": cursor.block_number, "to_block": ancestor, "rows_deleted": sum(deleted.values())},
        )
        return Step(ancestor + 1, ancestor, 0, rolled_back_to=ancestor)

    # -- loops ----------------------------------------------------------------------------

    def run_until_caught_up(self, stop: threading.Event | None = None) -> int:
        """Index until the safe head (or until `stop` is set); return the blocks advanced."""
        total, moved = 0, 0
        while stop is None or not stop.is_set():
            try:
                step = self.run_once()
            except ChainMoved:
                moved += 1
                if moved > 20:
                    raise
                time.sleep(0.1)
                continue
            if step.rolled_back_to is not None:
                continue
            if step.blocks == 0:
                return total
            total += step.blocks
        return total

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
