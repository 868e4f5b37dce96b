"""The foundation's vertical slice, end to end on a real anvil and a real Postgres:
a Beacon event → the indexer stores it → the API returns it."""

import pytest

from app.chain.compiler import load_artifacts
from app.indexer.core import Indexer, IndexerStopped
from app.indexer.window import AdaptiveWindow


@pytest.fixture
def beacon(w3, deployment):
    return w3.eth.contract(address=deployment.address("Beacon"), abi=load_artifacts()["Beacon"].abi)


def _ping(w3, beacon, note, sender=0):
    tx = beacon.functions.ping(note).transact({"from": w3.eth.accounts[sender]})
    return w3.eth.wait_for_transaction_receipt(tx)


def test_a_ping_on_chain_is_served_by_the_api(app, client, w3, beacon, deployment):
    receipt = _ping(w3, beacon, "hello pharmacy", sender=2)
    ext = app.extensions["pharmatrack"]
    assert client.get("/v1/pings").get_json()["items"] == []  # not indexed yet
    Indexer.for_deployment(ext.db, ext.chain, deployment).run_until_caught_up()
    items = client.get("/v1/pings").get_json()["items"]
    assert len(items) == 1
    item = items[0]
    assert item["note"] == "hello pharmacy"
    assert item["seq"] == 1
    assert item["sender"] == w3.eth.accounts[2].lower()
    assert item["tx_hash"] == receipt.transactionHash.to_0x_hex()
    assert item["block_number"] == receipt.blockNumber
    assert item["timestamp"] is not None


def test_pages_walk_newest_first_without_gaps(app, client, w3, beacon, deployment):
    for i in range(5):
        _ping(w3, beacon, f"n{i}")
    ext = app.extensions["pharmatrack"]
    Indexer.for_deployment(ext.db, ext.chain, deployment).run_until_caught_up()
    seen, before = [], None
    while True:
        url = "/v1/pings?limit=2" + (f"&before={before}" if before else "")
        page = client.get(url).get_json()
        seen += [i["seq"] for i in page["items"]]
        before = page["next"]
        if before is None:
            break
    assert seen == [5, 4, 3, 2, 1]


def test_indexer_is_idempotent_and_resumes_from_its_cursor(app, w3, beacon, deployment):
    ext = app.extensions["pharmatrack"]
    indexer = Indexer.for_deployment(ext.db, ext.chain, deployment, window=AdaptiveWindow(size=1, maximum=1))
    _ping(w3, beacon, "a")
    indexer.run_until_caught_up()
    assert indexer.run_once().blocks == 0  # caught up: nothing to do, nothing written twice
    _ping(w3, beacon, "b")
    Indexer.for_deployment(ext.db, ext.chain, deployment).run_until_caught_up()  # a new process resumes
    with ext.db.connection() as conn, conn.cursor() as cur:
        cur.execute("SELECT note FROM ev_pinged ORDER BY seq")
        assert [r[0] for r in cur.fetchall()] == ["a", "b"]


def test_confirmations_hold_back_recent_blocks(app, w3, beacon, deployment):
    ext = app.extensions["pharmatrack"]
    _ping(w3, beacon, "fresh")
    Indexer.for_deployment(ext.db, ext.chain, deployment, confirmations=3).run_until_caught_up()
    with ext.db.connection() as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM ev_pinged")
        assert cur.fetchone()[0] == 0
    w3.provider.make_request("anvil_mine", [3])
    Indexer.for_deployment(ext.db, ext.chain, deployment, confirmations=3).run_until_caught_up()
    with ext.db.connection() as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM ev_pinged")
        assert cur.fetchone()[0] == 1


def test_a_mirror_from_another_chain_is_refused_unless_reset(app, w3, beacon, deployment):
    from dataclasses import replace

    ext = app.extensions["pharmatrack"]
    _ping(w3, beacon, "x")
    Indexer.for_deployment(ext.db, ext.chain, deployment).run_until_caught_up()
    other = replace(deployment, genesis_hash="0x" + "ab" * 32)
    with pytest.raises(IndexerStopped, match="another chain"):
        Indexer.for_deployment(ext.db, ext.chain, other).run_once()
    Indexer.for_deployment(ext.db, ext.chain, other, reset_on_new_chain=True).run_until_caught_up()
    with ext.db.connection() as conn, conn.cursor() as cur:
        cur.execute("SELECT genesis_hash FROM indexer_cursor")
        assert bytes(cur.fetchone()[0]) == bytes.fromhex("ab" * 32)
