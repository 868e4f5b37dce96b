"""`pharmatrack up` under faults, on one stack shared by the module (each start costs ~30 s):
a SIGKILLed child is restarted and counted while the stack keeps serving; a killed anvil comes back
with its chain; `up` started again keeps the chain; a chain started anew (its state file deleted)
voids what the outbox had in flight on the old one, and new writes confirm."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from app.demo import GTIN, with_check_digit
from tests.test_up import _get, _Output, _up_env

PHARMACY = with_check_digit("950600000003")  # Riverside Pharmacy, holds the demo's packs 5..99


def _wait_for(condition, what: str, timeout: float = 90.0):
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


class Stack:
    def __init__(self, tmp_path):
        self.tmp = tmp_path
        self.env, self.port = _up_env(tmp_path)
        self.env.update({"ANVIL_STATE_INTERVAL": "1", "RELAYER_POLL_SECONDS": "0.05", "INDEXER_POLL_SECONDS": "0.1"})
        self.base = f"http://127.0.0.1:{self.port}"
        self.data = tmp_path / "data"
        self.packs = iter(range(20, 100))
        self.proc = None
        self.starts = 0

    def start(self) -> str:
        self.starts += 1
        self.stderr = (self.tmp / f"stderr-{self.starts}").open("w")
        self.proc = subprocess.Popen([sys.executable, "-m", "app.cli", "up", "--demo"], env=self.env,
                                     stdout=subprocess.PIPE, stderr=self.stderr, text=True)  # fmt: skip
        self.output = _Output(self.proc.stdout)
        _wait_for(lambda: self.output.ready.is_set() or self.proc.poll() is not None, "up to start", 180)
        assert self.proc.poll() is None, (self.tmp / f"stderr-{self.starts}").read_text()
        return self.output.text_so_far()

    def stop(self, sig=signal.SIGTERM) -> int:
        self.proc.send_signal(sig)
        code = self.proc.wait(90)
        self.stderr.close()
        self.proc.stdout.close()
        return code

    def status(self) -> dict:
        return json.loads((self.data / "supervisor.json").read_text())

    def child(self, name: str) -> dict:
        return self.status()["children"][name]

    def rpc(self, method: str, params: list):
        port = self.env["ANVIL_PORT"]
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).encode()
        request = urllib.request.Request(f"http://127.0.0.1:{port}", body, {"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=5) as resp:
            return json.loads(resp.read())["result"]

    def block_hash(self, number: int) -> str:
        return self.rpc("eth_getBlockByNumber", [hex(number), False])["hash"]

    def key(self) -> str:
        return json.loads((self.data / "demo-api-keys.json").read_text())[PHARMACY]

    def dispense(self, wait: bool = True) -> dict:
        """A pharmacy dispenses one more demo pack; with wait, until it is confirmed."""
        pack = f"(01){GTIN}(21)DEMO{next(self.packs):06d}"
        query = "?wait=confirmed&timeout=60" if wait else ""
        request = urllib.request.Request(
            f"{self.base}/v1/dispensations{query}",
            data=json.dumps({"packs": [pack]}).encode(),
            headers={"Authorization": f"Bearer {self.key()}", "Idempotency-Key": f"faults-{pack}",
                     "Content-Type": "application/json"},
        )  # fmt: skip
        with urllib.request.urlopen(request, timeout=90) as resp:
            operation = json.loads(resp.read())["operation"]
        if wait:
            assert operation["status"] == "confirmed", operation
        return operation

    def operation(self, op_id: str) -> dict:
        request = urllib.request.Request(
            f"{self.base}/v1/operations/{op_id}", headers={"Authorization": f"Bearer {self.key()}"}
        )
        with urllib.request.urlopen(request, timeout=10) as resp:
            return json.loads(resp.read())

    def ready(self) -> dict | None:
        try:
            return _get(f"{self.base}/readyz")[1]
        except (urllib.error.URLError, OSError):
            return None


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    running = Stack(tmp_path_factory.mktemp("faults"))
    running.start()
    yield running
    if running.proc.poll() is None:
        assert running.stop() == 0


def test_readyz_reports_the_relayer_and_the_detector(stack):
    def settled():
        body = stack.ready()
        return body if body and body["status"] == "ok" else None

    body = _wait_for(settled, "/readyz to say ok")
    relayer, detector = body["components"]["relayer"], body["components"]["detector"]
    assert relayer["state"] == "ok" and relayer["process"] == "running" and relayer["stuck"] == 0
    assert relayer["pending"] == 0 and relayer["nonce_gap"] == 0
    assert detector["state"] == "ok" and detector["process"] == "running" and detector["lag_blocks"] >= 0


@pytest.mark.parametrize("name", ["relayer", "indexer", "detector", "api"])
def test_a_killed_child_is_restarted_counted_and_the_stack_keeps_serving(stack, name):
    before = stack.child(name)
    os.kill(before["pid"], signal.SIGKILL)

    def restarted():
        child = stack.child(name)
        return child["state"] == "running" and child["pid"] != before["pid"] and child

    child = _wait_for(restarted, f"{name} to be restarted")
    assert child["restarts"] == before["restarts"] + 1 and child["last_exit"] == "signal SIGKILL"
    _wait_for(stack.ready, "the API to answer")
    stack.dispense()
    with urllib.request.urlopen(f"{stack.base}/metrics", timeout=10) as resp:
        metrics = resp.read().decode()
    assert f'pharmatrack_process_restarts_total{{process="{name}"}} {float(child["restarts"])}' in metrics
    assert f'pharmatrack_process_up{{process="{name}"}} 1.0' in metrics


def test_a_killed_anvil_comes_back_with_its_chain(stack):
    genesis = stack.block_hash(0)
    head = int(stack.rpc("eth_blockNumber", []), 16)
    mined = stack.block_hash(head)

    def saved():  # anvil saves every second: wait until the state file holds the head
        try:
            state = json.loads((stack.data / "anvil-state.json").read_text())
        except (OSError, ValueError):  # not there yet, or being written
            return False
        return int(str(state["best_block_number"]), 0) >= head

    _wait_for(saved, "anvil to save its state")
    before = stack.child("anvil")
    os.kill(before["pid"], signal.SIGKILL)
    _wait_for(lambda: stack.child("anvil")["pid"] not in (None, before["pid"]), "anvil to be restarted")
    assert stack.child("anvil")["restarts"] == before["restarts"] + 1
    assert stack.child("anvil")["last_exit"] == "signal SIGKILL"
    assert stack.block_hash(0) == genesis and stack.block_hash(head) == mined
    stack.dispense()  # the relayer and the indexer carried on over the same chain


def test_up_started_again_keeps_its_chain_and_its_confirmed_operations(stack):
    genesis = stack.block_hash(0)
    deployment = json.loads((stack.tmp / "deployment.json").read_text())
    confirmed = stack.dispense()
    assert stack.stop() == 0
    printed = stack.start()
    assert "demo supply chain already there" in printed, printed[-3000:]
    assert stack.block_hash(0) == genesis
    assert json.loads((stack.tmp / "deployment.json").read_text())["contracts"] == deployment["contracts"]
    assert stack.operation(confirmed["id"])["status"] == "confirmed"
    stack.dispense()


def test_a_new_chain_voids_the_outboxs_in_flight_operations_and_new_writes_confirm(stack):
    indexer = stack.child("indexer")["pid"]
    relayer = stack.child("relayer")["pid"]
    os.kill(indexer, signal.SIGSTOP)  # nothing is confirmed any more: what the relayer sends stays in flight
    try:
        stale = stack.dispense(wait=False)
        _wait_for(lambda: stack.operation(stale["id"])["status"] == "submitted", "the relayer to send it")
        stack.proc.send_signal(signal.SIGTERM)
        # the relayer stops before the indexer: once it is gone nobody can confirm the operation
        _wait_for(lambda: not _alive(relayer), "the relayer to stop")
    finally:
        os.kill(indexer, signal.SIGCONT)
    assert stack.stop() == 0
    (stack.data / "anvil-state.json").unlink()  # the local chain starts anew
    old_genesis_file = json.loads((stack.tmp / "deployment.json").read_text())["genesisHash"]
    printed = stack.start()
    assert "demo supply chain seeded" in printed
    assert stack.block_hash(0) != old_genesis_file

    def settled():
        op = stack.operation(stale["id"])
        return op if op["status"] in ("confirmed", "failed") else None

    # queued again on the new chain: applied there, or failed with the reason; never left in flight
    op = _wait_for(settled, "the stale operation to be settled on the new chain")
    assert op["status"] == "confirmed" or op["error"]["error"] == "chain_reset", op
    stack.dispense()  # nonces start again from the new chain's
    relayer_ready = _wait_for(lambda: (stack.ready() or {}).get("components", {}).get("relayer"), "/readyz")
    assert relayer_ready["nonce_gap"] == 0 and relayer_ready["stuck"] == 0, relayer_ready


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
