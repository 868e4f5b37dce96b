"""Nothing accepted is lost or applied twice: relayer killed at random points, chain down,
database down."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time

import psycopg2
import pytest
from web3 import Web3

from app import create_app
from app.chain.web3factory import make_web3
from app.ids import sscc_id
from app.indexer.core import Indexer
from app.relayer.core import Relayer
from app.stack import indexer_hooks
from tests.world import World

from .proxy import Proxy, postgres_target


def _follow_the_mirror(world: World) -> None:
    """The indexer as every starter builds it (app.stack.indexer_hooks): a rollback reopens the relayer's
    confirmations in the removed blocks (the relayer's hook; the indexer never writes its tables)."""
    i = world.indexer
    world.indexer = Indexer(i.db, i.chain, i.deployment, i.specs, reorg_limit=i.reorg_limit, **indexer_hooks())


def _readings(world: World, unit: str, sensor: str):
    body = {"sensor_id": sensor, "start": 1_750_000_000, "interval": 60, "celsius": [4.5, 5.0, 5.5]}
    return world.post("maker", f"/v1/units/{unit}/readings", body)


def _events_per_sensor(world: World) -> dict[str, int]:
    """TemperatureRecorded events on chain per sensor id (recordReadings is not idempotent on chain:
    a second application would show up here)."""
    logs = world.pt.events.TemperatureRecorded().get_logs(from_block=0)
    out: dict[str, int] = {}
    for log in logs:
        key = log["args"]["sensorId"].hex()
        out[key] = out.get(key, 0) + 1
    return out


def _relayer_env(world: World, database_url: str) -> dict:
    s = world.settings
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "RPC_URL": s.effective_rpc_url,
        "DEPLOYMENT_FILE": str(s.deployment_file),
        "SIGNER_KEYSTORE_DIR": str(s.signer_keystore_dir),
        "SIGNER_PASSWORD_FILE": str(s.signer_password_file),
        "RELAYER_BATCH": "7",
        "RELAYER_POLL_SECONDS": "0.02",
        "LOG_LEVEL": "WARNING",
    }


def _progress(world: World) -> int:
    with world.db.connection() as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM relay_attempts")
        return cur.fetchone()[0]


def _statuses(world: World, ops: list[str]) -> dict[str, int]:
    with world.db.connection() as conn, conn.cursor() as cur:
        cur.execute("SELECT status, count(*) FROM operations WHERE id = ANY(%s::uuid[]) GROUP BY 1", (ops,))
        return dict(cur.fetchall())


def test_relayer_killed_at_random_points_applies_everything_exactly_once(world: World, stock, database_url):
    from web3 import Web3

    rng = random.Random(20261124)
    env = _relayer_env(world, database_url)
    pallet = stock["pallet"]
    trials, per_trial, kills = 5, 40, 0
    expected: list[str] = []
    for trial in range(trials):
        ops = []
        for i in range(per_trial):
            sensor = f"trial{trial}-logger{i}"
            resp = _readings(world, pallet, sensor)
            assert resp.status_code == 202, resp.get_json()
            ops.append(resp.get_json()["operation"]["id"])
            expected.append(Web3.keccak(text=sensor).hex())
        # Kill the relayer at random moments while it works through the batch, several times.
        for _ in range(2):
            before = _progress(world)
            proc = subprocess.Popen([sys.executable, "-m", "app.cli", "relay"], env=env)
            deadline = time.monotonic() + 30
            while _progress(world) == before and time.monotonic() < deadline and proc.poll() is None:
                time.sleep(0.005)
            time.sleep(rng.uniform(0, 0.25))
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            kills += 1
            world.indexer.run_until_caught_up()
        # A last relayer finishes the work.
        proc = subprocess.Popen([sys.executable, "-m", "app.cli", "relay"], env=env)
        try:
            world.pump(until=lambda ops=ops: _statuses(world, ops) == {"confirmed": len(ops)}, timeout=120, relay=False)
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
    assert kills >= 10
    counts = _events_per_sensor(world)
    assert sorted(counts) == sorted(expected)
    assert set(counts.values()) == {1}, {k: v for k, v in counts.items() if v != 1}
    with world.db.connection() as conn, conn.cursor() as cur:
        cur.execute("SELECT status, count(*) FROM operations WHERE action = 'record_readings' GROUP BY 1")
        assert dict(cur.fetchall()) == {"confirmed": trials * per_trial}


def test_a_transaction_recorded_but_never_broadcast_is_sent_after_a_restart(world: World, stock):
    """The narrowest crash point: signed and committed, then the process died before broadcasting."""
    resp = _readings(world, stock["pallet"], "crash-before-broadcast")
    crashed = Relayer(world.settings, world.db, world.w3, world.pt.address, world.pt.abi, world.relayer.keystore)

    def die(raw):
        raise SystemExit("killed before broadcast")

    crashed._broadcast = die
    with pytest.raises(SystemExit):
        crashed.run_once()
    op = world.operation("maker", resp.get_json()["operation"]["id"])
    assert op["status"] == "submitted" and op["tx_hash"]
    assert world.w3.eth.get_transaction_receipt  # the node has never seen it:
    assert world.w3.provider.make_request("eth_getTransactionByHash", [op["tx_hash"]])["result"] is None
    world.pump()
    done = world.operation("maker", op["id"])
    assert done["status"] == "confirmed" and done["tx_hash"] == op["tx_hash"]
    assert _events_per_sensor(world)[world.w3.keccak(text="crash-before-broadcast").hex()] == 1


def test_chain_down_writes_are_accepted_and_flushed_when_it_returns(world: World, stock):
    proxy = Proxy(("127.0.0.1", int(world.settings.effective_rpc_url.rsplit(":", 1)[1])))
    try:
        w3 = make_web3(f"http://127.0.0.1:{proxy.port}", timeout=2)
        relayer = Relayer(world.settings, world.db, w3, world.pt.address, world.pt.abi, world.relayer.keystore)
        proxy.cut()
        target = world.parties["distributor"].gln
        resp = world.post("maker", "/v1/shipments", {"units": [stock["pallet"]], "to": target})
        assert resp.status_code == 202, resp.get_json()
        op_id = resp.get_json()["operation"]["id"]
        for _ in range(3):
            with pytest.raises(Exception) as exc_info:
                relayer.run_once()
            assert "onnect" in type(exc_info.value).__name__ + str(exc_info.value)
        assert world.operation("maker", op_id)["status"] == "pending"
        proxy.restore()
        world.relayer = relayer
        world.pump()
        assert world.operation("maker", op_id)["status"] == "confirmed"
    finally:
        proxy.close()


def test_database_down_is_a_503_and_writes_nothing(world: World, stock, database_url):
    target, template = postgres_target(database_url)
    proxy = Proxy(target)
    try:
        app = create_app(world.settings.replace(database_url=template.format(port=proxy.port)))
        client = app.test_client()
        headers = {"Authorization": f"Bearer {world.parties['maker'].key}", "Idempotency-Key": "db-down-1"}
        body = {"units": [stock["pallet"]], "to": world.parties["distributor"].gln}
        assert client.post("/v1/shipments", json=body, headers=headers).status_code == 202
        proxy.cut()
        headers["Idempotency-Key"] = "db-down-2"
        resp = client.post("/v1/shipments", json=body, headers=headers)
        assert resp.status_code == 503, resp.get_json()
        assert resp.headers["Retry-After"]
        assert resp.mimetype == "application/problem+json"
        proxy.restore()
        conn = psycopg2.connect(database_url)
        with conn, conn.cursor() as cur:
            cur.execute("SELECT idempotency_key FROM operations WHERE action = 'ship'")
            assert [r[0] for r in cur.fetchall()] == ["db-down-1"]
        conn.close()
        # The service recovers by itself once the database is back.
        headers["Idempotency-Key"] = "db-down-1"
        assert client.post("/v1/shipments", json=body, headers=headers).headers["Idempotent-Replayed"] == "true"
        app.extensions["pharmatrack"].db.close()
    finally:
        proxy.close()


def test_a_stuck_transaction_is_replaced_with_higher_fees_and_lands_once(world: World, stock):
    """Blocks stop (automine off): the relayer re-signs the same call with the same nonce and higher
    fees; when mining resumes exactly one attempt is mined and the operation is confirmed once."""
    w3 = world.w3
    world.relayer.settings = world.relayer.settings.replace(relayer_stuck_seconds=1.0)
    resp = _readings(world, stock["pallet"], "stuck-logger")
    w3.provider.make_request("evm_setAutomine", [False])
    try:
        world.relayer.run_once()
        first = world.operation("maker", resp.get_json()["operation"]["id"])
        assert first["status"] == "submitted"
        time.sleep(1.2)
        world.relayer.run_once()
        second = world.operation("maker", first["id"])
        assert second["status"] == "submitted" and second["tx_hash"] != first["tx_hash"]
        with world.db.connection() as conn, conn.cursor() as cur:
            cur.execute(
                "SELECT a.max_priority_fee_per_gas FROM relay_attempts a JOIN operations o"
                " ON o.transaction_id = a.transaction_id WHERE o.id = %s ORDER BY a.created_at",
                (first["id"],),
            )
            fees = [int(r[0]) for r in cur.fetchall()]
        assert len(fees) == 2 and fees[1] > fees[0]
    finally:
        w3.provider.make_request("evm_setAutomine", [True])
    w3.provider.make_request("evm_mine", [])
    world.pump()
    done = world.operation("maker", first["id"])
    assert done["status"] == "confirmed" and done["tx_hash"] == second["tx_hash"]
    assert _events_per_sensor(world)[w3.keccak(text="stuck-logger").hex()] == 1


def test_a_reorg_that_drops_a_confirmed_write_puts_it_back_and_it_lands_once(world: World, stock, w3):
    """The block that held a confirmed operation's transaction is replaced (evm_revert, then a longer
    branch): the indexer rolls the mirror back, the operation is submitted again, the relayer sends
    the recorded transaction again (same nonce) and it is confirmed in the new branch, applied once.
    recordReadings is not idempotent on chain, so a second application would show as a second event."""
    _follow_the_mirror(world)
    snapshot = w3.provider.make_request("evm_snapshot", [])["result"]
    op = world.done("maker", _readings(world, stock["pallet"], "reorg-logger"))
    first_block, first_hash = op["block_number"], op["tx_hash"]
    assert len(_sensor_events(world, "reorg-logger")) == 1

    head = w3.eth.block_number
    _replace_branch(w3, snapshot)
    assert w3.eth.block_number < first_block
    w3.provider.make_request("anvil_mine", [hex(head - w3.eth.block_number + 2)])  # a longer branch, without it
    assert _sensor_events(world, "reorg-logger") == []

    world.indexer.run_until_caught_up()  # sees the reorg: the operation is no longer confirmed
    assert world.operation("maker", op["id"])["status"] == "submitted"
    world.pump()

    again = world.operation("maker", op["id"])
    assert again["status"] == "confirmed", again
    assert again["block_number"] > head and again["block_number"] != first_block
    assert again["tx_hash"] == first_hash  # the same signed bytes: one nonce, so at most one lands
    events = _sensor_events(world, "reorg-logger")
    assert len(events) == 1 and events[0]["blockNumber"] == again["block_number"]


def _sensor_events(world: World, sensor: str) -> list:
    sensor_id = Web3.keccak(text=sensor)
    return [log for log in world.pt.events.TemperatureRecorded().get_logs(from_block=0)
            if log["args"]["sensorId"] == sensor_id]  # fmt: skip


def test_a_receipt_from_a_block_replaced_before_it_was_mirrored_is_not_confirmed(world: World, stock, w3):
    """The relayer saw the receipt, then the chain replaced that block before the indexer reached it:
    the operation is not confirmed from the stale receipt; the transaction is sent again and lands once."""
    _follow_the_mirror(world)
    snapshot = w3.provider.make_request("evm_snapshot", [])["result"]
    resp = _readings(world, stock["pallet"], "orphan-logger")
    assert resp.status_code == 202
    op_id = resp.get_json()["operation"]["id"]
    world.relayer.run_once()  # signs and sends
    # anvil's automine mines the block after eth_sendRawTransaction has answered, not before (under load,
    # tens of milliseconds later): wait for the receipt, or the next round would not see it yet, the
    # branch would be replaced before the block was mined, and the transaction would simply land on the
    # new branch (confirmed, rightly) instead of testing a stale receipt
    _wait_for_receipt(w3, world.operation("maker", op_id)["tx_hash"])
    world.relayer.run_once()  # settles: the receipt is recorded (the indexer has not seen the block)
    stale = _relay_transaction(world, op_id)
    assert stale["status"] == "mined" and stale["block_hash"] is not None, stale  # the premise of this test
    head = w3.eth.block_number
    assert stale["block_number"] == head
    _replace_branch(w3, snapshot)
    w3.provider.make_request("anvil_mine", [hex(head - w3.eth.block_number + 2)])
    world.indexer.run_until_caught_up()  # passes that height on the new branch
    with world.db.connection() as conn, conn.cursor() as cur:
        cur.execute("SELECT hash FROM blocks WHERE number = %s", (stale["block_number"],))
        mirrored = cur.fetchone()
    assert mirrored is None or bytes(mirrored[0]) != stale["block_hash"]  # the mirror never held that block

    world.relayer.run_once()
    assert world.operation("maker", op_id)["status"] == "submitted"  # not confirmed from the stale receipt
    world.pump()
    op = world.operation("maker", op_id)
    assert op["status"] == "confirmed" and op["block_number"] > head, op
    events = _sensor_events(world, "orphan-logger")
    assert len(events) == 1 and events[0]["blockNumber"] == op["block_number"]


def test_a_transaction_reverted_on_chain_is_retried_once_its_block_is_mirrored(world: World, stock, w3):
    """The relayer simulates against the pending block, so a revert on chain needs someone else's
    transaction ordered first in the same block: here the admin suspends the recipient, with a higher
    tip, while the maker's shipment waits in the pool. The shipment reverts. Its operation waits while the
    indexer has not passed that block (a reorg could still drop it), then is retried, and the retry's
    simulation fails it with the contract's reason."""
    ship = _shipment_reverted_on_chain(world, stock, w3)
    op_id = ship.get_json()["operation"]["id"]
    with world.db.connection() as conn, conn.cursor() as cur:
        cur.execute("SELECT t.status FROM operations o JOIN relay_transactions t ON t.id = o.transaction_id "
                    "WHERE o.id = %s", (op_id,))  # fmt: skip
        assert cur.fetchone() == ("reverted",)
    assert world.operation("maker", op_id)["status"] == "submitted"  # the indexer has not passed it yet

    world.pump()
    failed = world.operation("maker", op_id)
    assert failed["status"] == "failed", failed
    assert failed["error"]["error"] == "OrganisationIsSuspended", failed["error"]


def test_a_revert_in_a_block_a_reorg_replaced_is_sent_again_and_lands(world: World, stock, w3):
    """As above, the shipment reverts behind the admin's suspension of the recipient; then a reorg drops
    that block (and the suspension with it). The revert does not stand: the transaction is open again,
    the same bytes are re-broadcast on the new branch, and there the shipment succeeds, once."""
    _follow_the_mirror(world)
    snapshot = w3.provider.make_request("evm_snapshot", [])["result"]
    ship = _shipment_reverted_on_chain(world, stock, w3)
    head = w3.eth.block_number
    _replace_branch(w3, snapshot)
    w3.provider.make_request("anvil_mine", [hex(head - w3.eth.block_number + 2)])

    world.indexer.run_until_caught_up()
    world.pump()
    op = world.operation("maker", ship.get_json()["operation"]["id"])
    assert op["status"] == "confirmed" and op["block_number"] > head, op
    shipped = world.pt.events.Shipped().get_logs(from_block=0)
    pallet = [e for e in shipped if e["args"]["unitId"] == sscc_id(stock["pallet"])]
    assert len(pallet) == 1 and pallet[0]["blockNumber"] == op["block_number"]


def _shipment_reverted_on_chain(world: World, stock, w3):
    """The maker ships the pallet; the admin suspends the recipient with a higher tip in the same block
    (automine off), so the shipment, simulated fine against the pending block, reverts on chain. The
    relayer has seen the receipt when this returns."""
    distributor = world.parties["distributor"]
    assert w3.provider.make_request("evm_setAutomine", [False]).get("error") is None
    try:
        ship = world.post("maker", "/v1/shipments", {"units": [stock["pallet"]], "to": distributor.gln})
        assert ship.status_code == 202, ship.get_json()
        world.relayer.run_once()  # simulated against the pending block: fine; sent
        world.pt.functions.suspendOrganisation(distributor.account).transact(
            {"from": w3.eth.accounts[0], "maxPriorityFeePerGas": 10**11, "maxFeePerGas": 10**12}
        )
        w3.provider.make_request("evm_mine", [])
    finally:
        w3.provider.make_request("evm_setAutomine", [True])
    receipt = _wait_for_receipt(w3, world.operation("maker", ship.get_json()["operation"]["id"])["tx_hash"])
    assert int(receipt["status"], 16) == 0, receipt  # the premise: reverted behind the suspension
    world.relayer.run_once()  # the receipt: reverted
    return ship


def _wait_for_receipt(w3, tx_hash: str, timeout: float = 30.0) -> dict:
    deadline = time.monotonic() + timeout
    while (receipt := w3.provider.make_request("eth_getTransactionReceipt", [tx_hash]).get("result")) is None:
        assert time.monotonic() < deadline, f"{tx_hash} not mined within {timeout:.0f}s"
        time.sleep(0.01)
    return receipt


def _relay_transaction(world: World, op_id: str) -> dict:
    with world.db.connection() as conn, conn.cursor() as cur:
        cur.execute("SELECT t.status, t.block_number, t.block_hash FROM operations o "
                    "JOIN relay_transactions t ON t.id = o.transaction_id WHERE o.id = %s", (op_id,))  # fmt: skip
        status, number, block_hash = cur.fetchone()
    return {"status": status, "block_number": number, "block_hash": block_hash and bytes(block_hash)}


def _replace_branch(w3, snapshot) -> None:
    """Back to the snapshot, with nothing of the dropped branch left to mine: anvil may put the reverted
    blocks' transactions back in its pool, and in the same second would even rebuild an identical block."""
    assert w3.provider.make_request("evm_revert", [snapshot]).get("error") is None
    assert w3.provider.make_request("anvil_dropAllTransactions", []).get("error") is None
    w3.provider.make_request("evm_increaseTime", [7])
