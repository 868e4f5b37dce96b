"""Reorgs made with anvil (anvil_reorg, anvil_rollback, evm_snapshot/evm_revert) replacing the
last k blocks with different transactions: after the indexer runs, the mirror equals a fresh
index of the new chain; a reorg deeper than the limit stops the indexer loudly and untouched."""

import pytest

from app.chain.client import ChainClient
from app.db import Database
from app.indexer.core import Indexer, IndexerStopped
from tests.conftest import register_org
from tests.indexer.helpers import glns, index_all, mirror, reorg, tables_for


@pytest.fixture
def live(anvil, deployment, database_factory):
    """A mirror database and an indexer writing to it (reorg limit 8)."""
    url = database_factory()
    db = Database(url, maxconn=1)
    yield url, Indexer.for_deployment(db, ChainClient(anvil.rpc_url), deployment, reorg_limit=8)
    db.close()


def same_as_fresh_index(url, anvil, deployment, database_factory):
    return mirror(url, tables_for(deployment)) == index_all(database_factory(), anvil.rpc_url, deployment)


@pytest.mark.parametrize("depth", [1, 3])
def test_anvil_reorg_is_rolled_back_and_replayed(w3, anvil, pharmatrack, deployment, database_factory, live, depth):
    url, indexer = live
    old = [register_org(w3, pharmatrack, 100 + i) for i in range(6)]
    indexer.run_until_caught_up()
    assert glns(url) == old

    new = [4_000_000_000_000 + i for i in range(depth)]
    reorg(w3, pharmatrack, depth, new)
    indexer.run_until_caught_up()

    assert same_as_fresh_index(url, anvil, deployment, database_factory)
    assert glns(url) == old[: 6 - depth] + new


def test_rollback_to_a_shorter_chain_then_new_blocks(w3, anvil, pharmatrack, deployment, database_factory, live):
    url, indexer = live
    old = [register_org(w3, pharmatrack, 200 + i) for i in range(5)]
    indexer.run_until_caught_up()
    assert w3.provider.make_request("anvil_rollback", [3]).get("error") is None
    replacement = register_org(w3, pharmatrack, 299)
    indexer.run_until_caught_up()
    assert glns(url) == [*old[:2], replacement]
    assert same_as_fresh_index(url, anvil, deployment, database_factory)


def test_snapshot_revert_with_a_longer_replacement(w3, anvil, pharmatrack, deployment, database_factory, live):
    url, indexer = live
    kept = register_org(w3, pharmatrack, 300)
    snap = w3.provider.make_request("evm_snapshot", [])["result"]
    register_org(w3, pharmatrack, 301)
    indexer.run_until_caught_up()
    w3.provider.make_request("evm_revert", [snap])
    won = [register_org(w3, pharmatrack, 310 + i) for i in range(3)]
    indexer.run_until_caught_up()
    assert glns(url) == [kept, *won]
    assert same_as_fresh_index(url, anvil, deployment, database_factory)


def test_reorg_deeper_than_the_limit_stops_loudly_and_changes_nothing(w3, pharmatrack, deployment, live):
    url, indexer = live
    indexer.reorg_limit = 3
    for i in range(8):
        register_org(w3, pharmatrack, 400 + i)
    indexer.run_until_caught_up()
    before = mirror(url, tables_for(deployment))
    reorg(w3, pharmatrack, 5, [4_100_000_000_000])
    with pytest.raises(IndexerStopped, match="reorg deeper than INDEXER_REORG_LIMIT=3"):
        indexer.run_until_caught_up()
    assert mirror(url, tables_for(deployment)) == before
