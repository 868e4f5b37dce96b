"""Raw log → row, as pure functions (no node, no database), decoded with eth-abi directly."""

from __future__ import annotations

from eth_abi import decode as abi_decode
from eth_utils import keccak

PINGED_TOPIC = keccak(text="Pinged(address,uint256,string)")


def _bytes(value) -> bytes:
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    return bytes.fromhex(value[2:] if value.startswith("0x") else value)


def decode_pinged(log: dict) -> dict:
    """A Beacon.Pinged log (web3 AttributeDict or raw JSON-RPC dict) → a `pings` row."""
    topics = [_bytes(t) for t in log["topics"]]
    if len(topics) != 3 or topics[0] != PINGED_TOPIC:
        raise ValueError("not a Pinged log")
    (note,) = abi_decode(["string"], _bytes(log["data"]))
    block_number = log["blockNumber"]
    log_index = log["logIndex"]
    return {
        "block_number": int(block_number, 16) if isinstance(block_number, str) else int(block_number),
        "log_index": int(log_index, 16) if isinstance(log_index, str) else int(log_index),
        "tx_hash": _bytes(log["transactionHash"]),
        "contract": _bytes(log["address"]),
        "sender": topics[1][12:],
        "seq": int.from_bytes(topics[2], "big"),
        "note": note,
    }
