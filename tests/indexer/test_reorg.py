"""Reorgs made with anvil (anvil_reorg, anvil_rollback, evm_snapshot/evm_revert) replacing the
last k blocks with different transactions: after the indexer runs, the mirror equals a fresh
index of the new chain; a reorg deeper than the limit stops the indexer loudly and untouched."""

import pytest

from app.chain.client import ChainClient
from app.chain.compiler import load_artifacts
from app.db import Database
from app.indexer.core import Indexer, IndexerStopped
from tests.indexer.helpers import index_all, mirror, tables_for


@pytest.fixture
def beacon(w3, deployment):
    return w3.eth.contract(address=deployment.address("Beacon"), abi=load_artifacts()["Beacon"].abi)


def ping(w3, beacon, note, sender=0):
    return w3.eth.wait_for_transaction_receipt(beacon.functions.ping(note).transact({"from": w3.eth.accounts[sender]}))


def reorg(w3, beacon, depth, notes):
    """Replace the last `depth` blocks; put one ping per note into the new blocks."""
    txs = [
        [
            {
                "from": w3.eth.accounts[3],
                "to": beacon.address,
                "data": beacon.functions.ping(n)._encode_transaction_data(),
            },
            i,
        ]
        for i, n in enumerate(notes)
    ]
    response = w3.provider.make_request("anvil_reorg", [depth, txs])
    assert "error" not in response, response


def notes(url):
    return [row[-1] for row in mirror(url, ["ev_pinged"])["ev_pinged"]]


@pytest.mark.parametrize("depth", [1, 3])
def test_anvil_reorg_is_rolled_back_and_replayed(
    w3, anvil, beacon, deployment, database_factory, chain_snapshot, depth
):
    live = database_factory()
    for i in range(6):
        ping(w3, beacon, f"old-{i}")
    db = Database(live, maxconn=1)
    indexer = Indexer.for_deployment(db, ChainClient(anvil.rpc_url), deployment, reorg_limit=8)
    indexer.run_until_caught_up()
    assert notes(live)[-depth:] == [f"old-{i}" for i in range(6 - depth, 6)]

    reorg(w3, beacon, depth, [f"new-{i}" for i in range(depth)])
    indexer.run_until_caught_up()
    db.close()

    expected = index_all(database_factory(), anvil.rpc_url, deployment)
    assert mirror(live, tables_for(deployment)) == expected
    assert notes(live)[-depth:] == [f"new-{i}" for i in range(depth)]
    assert not any(n in notes(live) for n in [f"old-{i}" for i in range(6 - depth, 6)])


def test_rollback_to_a_shorter_chain_then_new_blocks(w3, anvil, beacon, deployment, database_factory, chain_snapshot):
    live = database_factory()
    for i in range(5):
        ping(w3, beacon, f"a{i}")
    db = Database(live, maxconn=1)
    indexer = Indexer.for_deployment(db, ChainClient(anvil.rpc_url), deployment, reorg_limit=8)
    indexer.run_until_caught_up()
    assert w3.provider.make_request("anvil_rollback", [3]).get("error") is None
    ping(w3, beacon, "b0", sender=4)
    indexer.run_until_caught_up()
    db.close()
    assert mirror(live, tables_for(deployment)) == index_all(database_factory(), anvil.rpc_url, deployment)
    assert notes(live) == ["a0", "a1", "b0"]


def test_snapshot_revert_with_a_longer_replacement(w3, anvil, beacon, deployment, database_factory, chain_snapshot):
    live = database_factory()
    ping(w3, beacon, "kept")
    snap = w3.provider.make_request("evm_snapshot", [])["result"]
    ping(w3, beacon, "lost")
    db = Database(live, maxconn=1)
    indexer = Indexer.for_deployment(db, ChainClient(anvil.rpc_url), deployment, reorg_limit=8)
    indexer.run_until_caught_up()
    w3.provider.make_request("evm_revert", [snap])
    for i in range(3):
        ping(w3, beacon, f"won-{i}", sender=5)
    indexer.run_until_caught_up()
    db.close()
    assert notes(live) == ["kept", "won-0", "won-1", "won-2"]
    assert mirror(live, tables_for(deployment)) == index_all(database_factory(), anvil.rpc_url, deployment)


def test_reorg_deeper_than_the_limit_stops_loudly_and_changes_nothing(
    w3, anvil, beacon, deployment, database_factory, chain_snapshot
):
    live = database_factory()
    for i in range(8):
        ping(w3, beacon, f"x{i}")
    db = Database(live, maxconn=1)
    indexer = Indexer.for_deployment(db, ChainClient(anvil.rpc_url), deployment, reorg_limit=3)
    indexer.run_until_caught_up()
    before = mirror(live, tables_for(deployment))
    reorg(w3, beacon, 5, ["deep"])
    with pytest.raises(IndexerStopped, match="reorg deeper than INDEXER_REORG_LIMIT=3"):
        indexer.run_until_caught_up()
    db.close()
    assert mirror(live, tables_for(deployment)) == before
