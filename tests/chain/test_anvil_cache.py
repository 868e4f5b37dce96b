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
