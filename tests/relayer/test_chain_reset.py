"""A local chain started anew (its state file deleted): what the outbox had in flight on the old
chain is voided, not wedged. Transactions sent there are never broadcast again, their operations go
back to the queue with the nonces forgotten, an operation whose prerequisites were on the old chain
fails as `chain_reset`, and new writes confirm on the new chain."""

from __future__ import annotations

import uuid

import pytest

from app.chain.anvil import AnvilNode, free_port
from app.chain.client import ChainClient
from app.chain.compiler import load_artifacts
from app.chain.deploy import Signer, deploy_all
from app.chain.web3factory import make_web3
from app.errors import ConfigError
from app.indexer.core import Indexer
from app.relayer.core import ChainReplaced, Relayer
from app.stack import indexer_hooks
from tests.world import GTIN_BASE, World, check_digit


def _product(world: World, key: str | None = None):
    gtin = check_digit(f"0{GTIN_BASE}{uuid.uuid4().int % 10**5:05d}")
    body = {"gtin": gtin, "name": "Paracetamol 500 mg", "strength": "500 mg", "dosage_form": "tablet",
            "storage": {"min_celsius": 15, "max_celsius": 25}}  # fmt: skip
    resp = world.post("maker", "/v1/products", body, key=key)
    assert resp.status_code == 202, resp.get_json()
    return resp.get_json()["operation"]["id"]


def _rows(world: World, sql: str, args=()):
    with world.db.connection() as conn, conn.cursor() as cur:
        cur.execute(sql, args)
        return cur.fetchall()


@pytest.fixture
def new_chain(w3):
    """Another chain with the same id: another genesis (its time one hour on from the module's node's, which may
    have started within the same second, and then had the same genesis hash)."""
    genesis = w3.eth.get_block(0)["timestamp"] + 3600
    node = AnvilNode(port=free_port(), chain_id=31337, block_time=None, genesis_timestamp=genesis).start()
    assert make_web3(node.rpc_url).eth.get_block(0)["hash"] != w3.eth.get_block(0)["hash"]
    yield node
    node.stop()


def test_a_new_chain_voids_the_old_chains_in_flight_relay_state(world: World, new_chain: AnvilNode, tmp_path):
    world.relayer.adopt_chain()  # the relayer records the chain it signs for
    sent = _product(world)
    world.relayer.run_once()  # signed, sent and mined on the old chain, never indexed: submitted
    queued = _product(world)  # accepted, never sent
    assert world.operation("maker", sent)["status"] == "submitted"
    assert world.operation("maker", queued)["status"] == "pending"
    maker = bytes.fromhex(world.parties["maker"].account[2:])
    assert _rows(world, "SELECT next_nonce FROM relay_nonces WHERE account = %s", (maker,))[0][0] >= 1

    # the old chain is gone; a new one (same chain id, another genesis) runs the contracts anew
    w3 = make_web3(new_chain.rpc_url)
    deployment = deploy_all(w3, Signer(w3), tmp_path / "new-deployment.json")
    abi = load_artifacts()["PharmaTrack"].abi
    settings = world.settings.replace(rpc_url=new_chain.rpc_url, deployment_file=deployment.path)
    address = deployment.address("PharmaTrack")
    # a relayer signing for the old chain whose node now serves the new one stops before sending anything
    stale = Relayer(world.settings, world.db, w3, world.pt.address, abi, world.relayer.keystore, world.relayer.genesis)
    with pytest.raises(ChainReplaced):
        stale.run_once()

    cautious = Relayer(settings, world.db, w3, address, abi, world.relayer.keystore)
    with pytest.raises(ConfigError) as refused:  # a database the user named: refuse, change nothing
        cautious.adopt_chain()
    assert refused.value.setting == "RPC_URL" and "another chain" in refused.value.problem

    relayer = Relayer(settings, world.db, w3, address, abi, world.relayer.keystore, reset_on_new_chain=True)
    assert relayer.adopt_chain() == {"transactions": 1, "operations": 2}
    assert _rows(world, "SELECT count(*) FROM relay_nonces") == [(0,)]
    assert _rows(world, "SELECT DISTINCT status FROM relay_transactions") == [("voided",)]
    for op in (sent, queued):
        assert world.operation("maker", op)["status"] == "pending"
    assert relayer.adopt_chain() == {"transactions": 0, "operations": 0}  # once only

    # the maker is not registered on the new chain: both fail, with the reason, instead of waiting forever
    relayer.run_once()
    for op in (sent, queued):
        failed = world.operation("maker", op)
        assert failed["status"] == "failed", failed
        assert failed["error"]["error"] == "chain_reset", failed
        assert failed["error"]["args"]["revert"]["error"], failed

    # once the maker is registered on the new chain, a new write confirms there, from nonce 0 again
    pt = w3.eth.contract(address=address, abi=abi)
    w3.provider.make_request("anvil_setBalance", [world.parties["maker"].account, hex(10**21)])
    tx = pt.functions.registerOrganisation(
        world.parties["maker"].account, int(world.parties["maker"].gln), [pt.functions.MANUFACTURER_ROLE().call()]
    ).transact({"from": w3.eth.accounts[0]})
    assert w3.eth.wait_for_transaction_receipt(tx).status == 1
    indexer = Indexer.for_deployment(
        world.db, ChainClient(new_chain.rpc_url), deployment, reset_on_new_chain=True, **indexer_hooks()
    )
    world.relayer, world.indexer = relayer, indexer
    fresh = _product(world)
    world.pump()
    done = world.operation("maker", fresh)
    assert done["status"] == "confirmed", done
    assert w3.eth.get_transaction(done["tx_hash"])["nonce"] == 0


def test_a_relayer_started_while_the_database_is_down_waits_then_adopts_the_chain(world: World, caplog):
    """Under `up` a crash at start counts toward giving up: a relayer that starts during a database
    outage waits it out instead of exiting."""
    import threading
    import time

    from app.db import Database
    from tests.relayer.proxy import Proxy, postgres_target

    target, template = postgres_target(world.settings.database_url)
    proxy = Proxy(target)
    proxy.cut()
    url = template.format(port=proxy.port)
    relayer = Relayer(world.settings.replace(database_url=url), Database(url, maxconn=1), world.w3,
                      world.pt.address, world.pt.abi, world.relayer.keystore)  # fmt: skip
    stop, failures = threading.Event(), []

    def run():
        try:
            relayer.run_forever(stop)
        except BaseException as exc:  # the assertion below names it
            failures.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while "relayer: dependency unavailable" not in caplog.text:
            assert time.monotonic() < deadline and thread.is_alive(), failures
            time.sleep(0.05)
        assert _rows(world, "SELECT count(*) FROM relay_chain") == [(0,)]
        proxy.restore()
        while _rows(world, "SELECT count(*) FROM relay_chain") != [(1,)]:
            assert time.monotonic() < deadline + 30 and thread.is_alive(), failures
            time.sleep(0.05)
    finally:
        stop.set()
        thread.join(30)
        proxy.close()
        relayer.db.close()
    assert not thread.is_alive() and failures == []
    assert [bytes(g) for (g,) in _rows(world, "SELECT genesis_hash FROM relay_chain")] == [world.relayer.genesis]
