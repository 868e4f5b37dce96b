"""The on-chain root a verification's proof is checked against: ``PharmaTrack.batch(lotId, b).serialsRoot``,
read with one eth_call (the pharmacist's "check it yourself": app/services/proofcheck.py)."""

from __future__ import annotations

from eth_utils import keccak

from app.chain.client import ChainClient, _chain_call

BATCH_SELECTOR = keccak(text="batch(bytes32,uint32)")[:4]


class _Reader:
    def __init__(self, client: ChainClient):
        self.client = client

    @_chain_call
    def batch_root(self, contract: str, lot_id: bytes, batch: int) -> tuple[bytes, int]:
        """(serialsRoot, block number read at) of the lot's commissioning batch; zero bytes if there is none."""
        block = self.client.w3.eth.block_number
        data = BATCH_SELECTOR + bytes(lot_id).rjust(32, b"\0") + int(batch).to_bytes(32, "big")
        out = bytes(self.client.w3.eth.call({"to": contract, "data": "0x" + data.hex()}, block))
        return out[64:96], block


def batch_root(client: ChainClient, contract: str, lot_id: bytes, batch: int) -> tuple[bytes, int]:
    return _Reader(client).batch_root(contract, lot_id, batch)
