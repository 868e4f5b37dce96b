"""A local chain saved with --state keeps its genesis across restarts (anvil adds a new block 0 to the file
at every load; `repair_state` drops them before the next one). Found by `make soak`: the second restart of
anvil made the stack take its own chain for a new one."""

import json
import time

from app.chain.anvil import AnvilNode, free_port, repair_state
from app.chain.web3factory import make_web3


def _block(number: int, timestamp: int) -> dict:
    return {"header": {"number": hex(number), "timestamp": hex(timestamp), "parentHash": "0x" + "00" * 32}}


def test_repair_keeps_the_earliest_genesis_only(tmp_path):
    path = tmp_path / "state.json"
    blocks = [_block(0, 105), _block(0, 100), _block(1, 101), _block(0, 109)]
    path.write_text(json.dumps({"block": {}, "blocks": blocks}))
    assert repair_state(path) == 2
    kept = json.loads(path.read_text())["blocks"]
    assert [(int(b["header"]["number"], 16), int(b["header"]["timestamp"], 16)) for b in kept] == [(0, 100), (1, 101)]
    assert repair_state(path) == 0  # nothing left to repair


def test_repair_leaves_a_missing_or_unreadable_file_alone(tmp_path):
    assert repair_state(tmp_path / "none.json") == 0
    (tmp_path / "bad.json").write_text("{not json")
    assert repair_state(tmp_path / "bad.json") == 0
    assert (tmp_path / "bad.json").read_text() == "{not json"


def test_a_chain_restarted_three_times_keeps_its_genesis_and_blocks(tmp_path):
    node = AnvilNode(port=free_port(), chain_id=31337, block_time=1, state_path=tmp_path / "state.json")
    seen = []
    for _ in range(4):
        node.start()
        try:
            w3 = make_web3(node.rpc_url)
            deadline = time.monotonic() + 20
            while w3.eth.block_number < 2 + len(seen) and time.monotonic() < deadline:
                time.sleep(0.2)
            seen.append((w3.eth.get_block(0)["hash"], w3.eth.get_block(1)["hash"]))
        finally:
            node.stop()  # SIGTERM: anvil saves the chain on its way out
        time.sleep(1.1)  # a new start in another second: a new genesis would have another timestamp
    assert len(set(seen)) == 1, seen
