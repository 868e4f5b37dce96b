"""The vertical slice, end to end on a real anvil and a real Postgres: a contract event →
the indexer stores it → the API returns it."""

from app.chain.window import AdaptiveWindow
from app.indexer.core import Indexer
from tests.conftest import register_org


def _register_product(w3, pharmatrack, gtin: int, maker_index: int = 1):
    maker = w3.eth.accounts[maker_index]
    role = pharmatrack.functions.MANUFACTURER_ROLE().call()
    glns = pharmatrack.functions.organisation(maker).call()
    if glns[1] == 0:
        w3.eth.wait_for_transaction_receipt(
            pharmatrack.functions.registerOrganisation(maker, 9506000000015 + maker_index * 10, [role]).transact(
                {"from": w3.eth.accounts[0]}
            )
        )
    tx = pharmatrack.functions.registerProduct(gtin, -2000, 2500).transact({"from": maker})
    return w3.eth.wait_for_transaction_receipt(tx)


def test_a_product_on_chain_is_served_by_the_api(app, client, w3, pharmatrack, deployment):
    receipt = _register_product(w3, pharmatrack, 9506000134352)
    ext = app.extensions["pharmatrack"]
    assert client.get("/v1/products").get_json()["items"] == []  # not indexed yet
    Indexer.for_deployment(ext.db, ext.chain, deployment).run_until_caught_up()
    (item,) = client.get("/v1/products").get_json()["items"]
    assert item["gtin"] == "09506000134352"
    assert item["manufacturer"] == w3.eth.accounts[1].lower()
    assert item["manufacturer_gln"] == "9506000000025"
    assert item["storage"] == {"min_centi_celsius": -2000, "max_centi_celsius": 2500}
    assert item["tx_hash"] == receipt.transactionHash.to_0x_hex()
    assert item["block_number"] == receipt.blockNumber
    assert item["registered_at"] is not None


def test_pages_walk_in_gtin_order_without_gaps(app, client, w3, pharmatrack, deployment):
    gtins = [9506000134352, 4006381333931, 9780201379624, 5901234123457, 40170725]
    for gtin in gtins:
        _register_product(w3, pharmatrack, gtin)
    ext = app.extensions["pharmatrack"]
    Indexer.for_deployment(ext.db, ext.chain, deployment).run_until_caught_up()
    seen, after = [], None
    while True:
        page = client.get("/v1/products?limit=2" + (f"&after={after}" if after else "")).get_json()
        seen += [i["gtin"] for i in page["items"]]
        after = page["next"]
        if after is None:
            break
    assert seen == sorted(f"{g:014d}" for g in gtins)


def _glns(ext):
    with ext.db.connection() as conn, conn.cursor() as cur:
        cur.execute("SELECT gln FROM ev_organisation_registered ORDER BY block_number, log_index")
        return [int(r[0]) for r in cur.fetchall()]


def test_indexer_is_idempotent_and_resumes_from_its_cursor(app, w3, pharmatrack, deployment):
    ext = app.extensions["pharmatrack"]
    indexer = Indexer.for_deployment(ext.db, ext.chain, deployment, window=AdaptiveWindow(size=1, maximum=1))
    a = register_org(w3, pharmatrack, 1)
    indexer.run_until_caught_up()
    assert indexer.run_once().blocks == 0  # caught up: nothing to do, nothing written twice
    b = register_org(w3, pharmatrack, 2)
    Indexer.for_deployment(ext.db, ext.chain, deployment).run_until_caught_up()  # a new process resumes
    assert _glns(ext) == [a, b]


def test_confirmations_hold_back_recent_blocks(app, w3, pharmatrack, deployment):
    ext = app.extensions["pharmatrack"]
    gln = register_org(w3, pharmatrack, 3)
    Indexer.for_deployment(ext.db, ext.chain, deployment, confirmations=3).run_until_caught_up()
    assert _glns(ext) == []
    w3.provider.make_request("anvil_mine", [3])
    Indexer.for_deployment(ext.db, ext.chain, deployment, confirmations=3).run_until_caught_up()
    assert _glns(ext) == [gln]


def test_a_mirror_from_another_chain_is_refused_unless_reset(app, w3, pharmatrack, deployment):
    from dataclasses import replace

    import pytest

    from app.indexer.core import IndexerStopped

    ext = app.extensions["pharmatrack"]
    register_org(w3, pharmatrack, 4)
    Indexer.for_deployment(ext.db, ext.chain, deployment).run_until_caught_up()
    other = replace(deployment, genesis_hash="0x" + "ab" * 32)
    with pytest.raises(IndexerStopped, match="another chain"):
        Indexer.for_deployment(ext.db, ext.chain, other).run_once()
    Indexer.for_deployment(ext.db, ext.chain, other, reset_on_new_chain=True).run_until_caught_up()
    with ext.db.connection() as conn, conn.cursor() as cur:
        cur.execute("SELECT genesis_hash FROM indexer_cursor")
        assert bytes(cur.fetchone()[0]) == bytes.fromhex("ab" * 32)


def test_finalized_tag_holds_back_what_the_chain_has_not_finalized(app, w3, pharmatrack, deployment):
    ext = app.extensions["pharmatrack"]
    gln = register_org(w3, pharmatrack, 6)
    Indexer.for_deployment(ext.db, ext.chain, deployment, confirmations="finalized").run_until_caught_up()
    assert _glns(ext) == []
    w3.provider.make_request("anvil_mine", [80])  # anvil finalizes blocks 64 deep
    assert (
        w3.eth.get_block("finalized")["number"]
        > w3.eth.get_transaction_receipt(w3.eth.get_block(deployment.start_block)["transactions"][0])["blockNumber"]
    )
    Indexer.for_deployment(ext.db, ext.chain, deployment, confirmations="finalized").run_until_caught_up()
    assert _glns(ext) == [gln]
