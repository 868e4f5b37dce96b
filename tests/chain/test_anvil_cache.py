"""anvil offloads old blocks' states to a cache folder; each node gets its own, removed when it stops (anvil's default,
~/.foundry/anvil/tmp, was left behind by killed nodes: 73 GB after a day of benches)."""

from __future__ import annotations

from app.chain.anvil import AnvilNode, free_port


def test_each_node_has_its_own_cache_folder_removed_at_stop():
    node = AnvilNode(port=free_port(), chain_id=31337, block_time=None).start()
    cache = node.cache_dir
    try:
        assert cache is not None and cache.is_dir()
        assert f"--cache-path {cache}" in " ".join(node.process.args)
    finally:
        node.stop()
    assert node.cache_dir is None and not cache.exists()


def test_old_states_are_dropped_not_written_to_disk_and_recent_ones_stay():
    """With every block's state written to the cache folder, each mined block cost more as the session's chain
    grew (CI stop 21: anvil_mine of 200 blocks timed out); the node keeps the last `keep_states` states only."""
    from app.chain.web3factory import make_web3

    with AnvilNode(port=free_port(), chain_id=31337, block_time=None) as node:
        w3 = make_web3(node.rpc_url)
        a = w3.eth.accounts
        w3.eth.wait_for_transaction_receipt(w3.eth.send_transaction({"from": a[0], "to": a[1], "value": 5}))
        paid = w3.eth.block_number
        assert w3.provider.make_request("anvil_mine", [node.keep_states + 100]).get("error") is None
        assert not any(node.cache_dir.rglob("*")), "old states went to disk"
        recent = w3.eth.block_number - node.keep_states // 2
        assert w3.eth.get_balance(a[1], recent) == w3.eth.get_balance(a[1])
        old = w3.provider.make_request("eth_getBalance", [a[1], hex(paid)])
        assert "error" in old, old  # dropped: the chain's logs and receipts stay, not its old states
