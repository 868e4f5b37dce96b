"""Issue 14's pack moves in the mirror on a real chain: a tote, a loose consignment, a return accepted, a
pack reported stolen and a dispense undone become pack_events rows of their kinds; a reorg that takes them
away is rolled back (a DELETE above the common ancestor, as for every mirror table) and the mirror equals a
fresh index of the new chain."""

from __future__ import annotations

import pytest

from app.chain.client import ChainClient
from app.db import Database
from app.indexer.core import Indexer
from tests.indexer.helpers import index_all, mirror, tables_for
from tests.services.test_custody_fold import Chain, play

BASE = [
    ("case", 4, 0), ("case", 4, 1), ("pallet", [0, 1]), ("ship", 2, 1), ("receive", 2),
    ("unpack", 2), ("unpack", 0), ("unpack", 1),
]  # fmt: skip
MOVES = [
    ("tote", 0, 1, 0b01010101), ("ship", 3, 2), ("receive", 3), ("unpack", 3),
    ("dispense", 3, 1), ("undo", 0, 1), ("return", 3, 0b10, True), ("accept", 4),
    ("loose", 1, 0b1, 3), ("stolen", 3, 0b1),
]  # fmt: skip


def kinds(url: str) -> set[str]:
    return {row[4] for row in mirror(url, ["pack_events"])["pack_events"]}


@pytest.fixture
def live(w3, anvil, chain_snapshot, deployment, pharmatrack, database_factory):
    url = database_factory()
    db = Database(url, maxconn=1)
    indexer = Indexer.for_deployment(db, ChainClient(anvil.rpc_url), deployment, reorg_limit=64)
    yield Chain(w3, pharmatrack), url, indexer
    db.close()


def test_moves_are_mirrored_and_rolled_back_by_a_reorg(w3, anvil, deployment, database_factory, live):
    chain, url, indexer = live
    lots = [chain.new_lot(), chain.new_lot()]
    made = play(chain, lots, BASE)
    indexer.run_until_caught_up()
    assert kinds(url) == {"cased"}

    snap = w3.provider.make_request("evm_snapshot", [])["result"]
    play(chain, lots, MOVES, made)
    assert chain.skipped == 0
    indexer.run_until_caught_up()
    assert kinds(url) == {"cased", "moved", "returned", "dispensed", "undone", "stolen"}
    assert mirror(url, tables_for(deployment)) == index_all(database_factory(), anvil.rpc_url, deployment)

    w3.provider.make_request("evm_revert", [snap])  # the moves never happened: the chain goes another way
    for _ in range(3):
        w3.provider.make_request("evm_mine", [])
    indexer.run_until_caught_up()
    assert kinds(url) == {"cased"}
    assert mirror(url, tables_for(deployment)) == index_all(database_factory(), anvil.rpc_url, deployment)
