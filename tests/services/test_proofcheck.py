""" "Check it yourself" (app/services/proofcheck.py) when the chain cannot be asked: the root the proof leads to
is still computed, and the answer says why the chain's root is missing instead of failing the page."""

from app.chain.anvil import free_port
from app.chain.client import ChainClient
from app.config import Settings
from app.services import proofcheck, serials


def test_a_chain_that_cannot_be_read_is_said_not_raised(tmp_path):
    sgtin, sibling = b"\x01" * 32, b"\x02" * 32
    leaf = serials.lot_leaf(3, sgtin)
    proof = {"leaf": "0x" + leaf.hex(), "proof": ["0x" + sibling.hex()], "lot_id": "0x" + "ab" * 32, "batch": 0}
    settings = Settings.from_env({"PHARMATRACK_DATA_DIR": str(tmp_path), "DEPLOYMENT_FILE": str(tmp_path / "d.json")})
    dead = ChainClient(f"http://127.0.0.1:{free_port()}", timeout=1)
    result = proofcheck.check(dead, settings, proof)
    assert result.computed_root == "0x" + serials.implied_root(leaf, [sibling]).hex()
    assert result.chain_root is None and result.matches is False and "chain" in result.problem
