"""lot_state and lot_batch_state (migrations/0021): the tables lot_status and lot_batches read stay equal to the
rules (lot_status_of_events, lot_batches_of_events) through every change of the lot events (commissioning, opened
lots and their batches, recall, quarantine and clearance), their deletion (a reorg rollback) and truncation (a chain
reset)."""

from __future__ import annotations

import random

import pytest

ACCOUNT = b"\xaa" * 20
LOTS = [bytes([i]) * 32 for i in range(1, 5)]
LOT_TABLES = ("ev_lot_recalled", "ev_lot_quarantined", "ev_lot_quarantine_cleared")
ALL_TABLES = ("ev_lot_commissioned", "ev_lot_opened", "ev_batch_commissioned", *LOT_TABLES)
COLUMNS = ("lot_id, gtin, manufacturer, lot_number, expiry, serial_count, serials_root, block_number, log_index, "
           "tx_hash, recalled, quarantined, capacity, batches")  # fmt: skip


def _run(conn, sql, *params):
    with conn.cursor() as cur:
        cur.execute(sql, params)


def _rows(conn, relation: str) -> list[tuple]:
    with conn.cursor() as cur:
        cur.execute(f"SELECT {COLUMNS} FROM {relation} ORDER BY lot_id")
        return [tuple(bytes(v) if isinstance(v, memoryview) else v for v in row) for row in cur.fetchall()]


BATCH_COLUMNS = "lot_id, batch, first_index, count, serials_root, block_number, log_index, tx_hash"


def _batches(conn, relation: str) -> list[tuple]:
    with conn.cursor() as cur:
        cur.execute(f"SELECT {BATCH_COLUMNS} FROM {relation} ORDER BY lot_id, batch, block_number")
        return [tuple(bytes(v) if isinstance(v, memoryview) else v for v in row) for row in cur.fetchall()]


def _same(conn, what: str = "") -> None:
    assert _rows(conn, "lot_status") == _rows(conn, "lot_status_of_events"), what
    assert _batches(conn, "lot_batches") == _batches(conn, "lot_batches_of_events"), what


class Chain:
    """Lot events at increasing (block, log index), as the indexer inserts them."""

    def __init__(self, conn, rng: random.Random):
        self.conn, self.rng, self.block = conn, rng, 0
        self.kind: dict[bytes, str] = {}  # lot -> "whole" | "opened"
        self.batches: dict[bytes, int] = {}

    def _at(self) -> tuple[int, int]:
        self.block += 1
        return self.block, self.rng.randrange(3)

    def step(self) -> str:
        lot = self.rng.choice(LOTS)
        kind = self.kind.get(lot)
        choice = self.rng.randrange(10)
        block, index = self._at()
        if kind is None:
            if choice < 5:
                _run(self.conn, "INSERT INTO ev_lot_commissioned VALUES (%s, %s, '\\x00', %s, 9506000134352, %s, 'L', "
                                "2000000000, 10, %s)", block, index, lot, ACCOUNT, self.rng.randbytes(32))  # fmt: skip
                self.kind[lot] = "whole"
            else:
                _run(self.conn, "INSERT INTO ev_lot_opened VALUES (%s, %s, '\\x00', %s, 9506000134352, %s, 'O', "
                                "2000000000, 100)", block, index, lot, ACCOUNT)  # fmt: skip
                self.kind[lot], self.batches[lot] = "opened", 0
            return f"commission {kind}"
        if kind == "opened" and choice < 3:
            n = self.batches[lot]
            _run(self.conn, "INSERT INTO ev_batch_commissioned VALUES (%s, %s, '\\x00', %s, %s, %s, 10, %s)",
                 block, index, lot, n, n * 10, self.rng.randbytes(32))  # fmt: skip
            self.batches[lot] = n + 1
            return "batch"
        if choice < 8:
            table = self.rng.choice(LOT_TABLES)
            _run(self.conn, f"INSERT INTO {table} VALUES (%s, %s, '\\x00', %s, %s)", block, index, lot, ACCOUNT)
            return table
        # a reorg: the events of the last few blocks go
        cut = self.block - self.rng.randrange(1, 4)
        for table in ALL_TABLES:
            _run(self.conn, f"DELETE FROM {table} WHERE block_number > %s", cut)
        self._forget()
        return "rollback"

    def _forget(self) -> None:
        """What is left on the (mirrored) chain after a rollback or a reset."""
        with self.conn.cursor() as cur:
            cur.execute("SELECT lot_id FROM ev_lot_commissioned")
            whole = {bytes(r[0]) for r in cur.fetchall()}
            cur.execute("SELECT lot_id FROM ev_lot_opened")
            opened = {bytes(r[0]) for r in cur.fetchall()}
            cur.execute("SELECT lot_id, count(*) FROM ev_batch_commissioned GROUP BY lot_id")
            batches = {bytes(r[0]): r[1] for r in cur.fetchall()}
        self.kind = {**{lot: "whole" for lot in whole}, **{lot: "opened" for lot in opened}}
        self.batches = {lot: batches.get(lot, 0) for lot in opened}


@pytest.mark.parametrize("seed", range(6))
def test_lot_state_equals_the_rule_through_random_event_histories(conn, seed):
    chain = Chain(conn, random.Random(seed))
    _same(conn)
    for _ in range(60):
        _same(conn, chain.step())
    assert _rows(conn, "lot_status"), "the history made lots"
    assert _batches(conn, "lot_batches"), "and batches"


def test_a_truncated_event_table_empties_or_recomputes_the_lots(conn):
    chain = Chain(conn, random.Random(42))
    for _ in range(40):
        chain.step()
    _run(conn, "TRUNCATE ev_lot_recalled, ev_lot_quarantined")  # some: the lots stay, their flags recomputed
    _same(conn)
    _run(conn, "TRUNCATE " + ", ".join(ALL_TABLES))  # a chain reset
    _same(conn)
    assert _rows(conn, "lot_status") == []


def test_a_recall_shows_at_once_and_goes_with_its_block(conn):
    lot = LOTS[0]
    _run(conn, "INSERT INTO ev_lot_commissioned VALUES (1, 0, '\\x00', %s, 9506000134352, %s, 'L', 2000000000, 10, "
               "'\\x01')", lot, ACCOUNT)  # fmt: skip
    _run(conn, "INSERT INTO ev_lot_recalled VALUES (2, 0, '\\x00', %s, %s)", lot, ACCOUNT)
    with conn.cursor() as cur:
        cur.execute("SELECT recalled FROM lot_status WHERE lot_id = %s", (lot,))
        assert cur.fetchone() == (True,)
        cur.execute("DELETE FROM ev_lot_recalled WHERE block_number = 2")
        cur.execute("SELECT recalled FROM lot_status WHERE lot_id = %s", (lot,))
        assert cur.fetchone() == (False,)
