"""app/chain/calldata.py: the same calldata as web3's encode_abi, for every kind of call the relayer builds."""

from __future__ import annotations

import pytest
from web3 import Web3

from app.chain.calldata import Encoder
from app.chain.compiler import load_artifacts
from app.relayer import calls


def _h(n: int, width: int = 32) -> str:
    return "0x" + n.to_bytes(width, "big").hex()


TO = "0x" + "ab" * 20
OPS = {
    "ship": [{"id": "a", "payload": {"units": [_h(1), _h(2)], "to": TO}}, {"id": "b", "payload": {"units": [_h(3)], "to": TO}}],
    "receive": [{"id": "a", "payload": {"units": [_h(4)]}}],
    "unpack": [{"id": "a", "payload": {"units": [_h(5), _h(6)]}}],
    "record_readings": [{"id": "a", "payload": {"unit_id": _h(7), "sensor_id": _h(8), "start": 1_760_000_000,
                                                "interval": 60, "readings": "0x01f401fe0208"}}],
    "commission_lot": [{"id": "a", "payload": {"gtin": "09506000134352", "lot": "L1", "expiry": 1_900_000_000,
                                               "count": 10, "root": _h(9)}}],
    "open_lot": [{"id": "a", "payload": {"gtin": "09506000134352", "lot": "L2", "expiry": 1_900_000_000,
                                         "capacity": 1000}}],
    "pack_case": [{"id": "a", "payload": {"sscc": "106141411234567897", "lot_id": _h(10), "indexes": [0, 3, 300]}},
                  {"id": "b", "payload": {"sscc": "106141411234567880", "lot_id": _h(10), "first_index": 5,
                                          "count": 10}}],
    "pack_pallet": [{"id": "a", "payload": {"sscc": "106141411234567897", "cases": [_h(11), _h(12)]}}],
    "quarantine": [{"id": "a", "payload": {"target": "unit", "unit_id": _h(13)}}],
    "recall": [{"id": "a", "payload": {"lot_id": _h(14)}}],
    "accept_return": [{"id": "a", "payload": {"consignments": [_h(19), _h(20)]}}],
}  # fmt: skip


@pytest.fixture(scope="module")
def contract():
    return Web3().eth.contract(abi=load_artifacts()["PharmaTrack"].abi)


@pytest.mark.parametrize("action", sorted(OPS))
def test_calls_encode_as_web3_does(contract, action):
    encoder = Encoder(contract.abi, contract.encode_abi)
    built = calls.build(None, action, [{**op, "action": action} for op in OPS[action]])
    encoded = [encoder.encode(c.fn, c.args) for c in built]
    assert encoded == [contract.encode_abi(c.fn, c.args) for c in built]
    batch = [bytes.fromhex(e[2:]) for e in encoded]
    assert encoder.encode("multicall", [batch]) == contract.encode_abi("multicall", [batch])


def _value(abi_input: dict, n: int):
    """A sample argument of an ABI input: arrays of two, structs as tuples, numbers and bytes from `n`."""
    kind = abi_input["type"]
    if kind.endswith("[]"):
        return [_value({**abi_input, "type": kind[:-2]}, n + i) for i in range(2)]
    if kind == "tuple":
        return tuple(_value(c, n + i) for i, c in enumerate(abi_input["components"]))
    if kind == "address":
        return Web3.to_checksum_address(TO)
    if kind == "bool":
        return n % 2 == 0
    if kind == "string":
        return f"s{n}"
    if kind == "bytes":
        return bytes([n % 256]) * 3
    if kind.startswith("bytes"):
        return bytes([n % 256]) * int(kind[5:])
    bits = int(kind.lstrip("uint") or 256)
    return (n * 7919) % (1 << min(bits, 32))


def test_every_function_of_the_abi_encodes_as_web3_does(contract):
    """The calls the relayer builds out of listings (packToteListed, packCageListed, shipListed, returnListed,
    returnCaged, dispenseDay, undoDispenseDay, detachTote, …) read the mirror; their struct and array arguments are
    checked here on every function of the ABI, each with sample arguments of its own input types."""
    encoder = Encoder(contract.abi, contract.encode_abi)
    functions = [f for f in contract.abi if f.get("type") == "function"]
    assert {"dispenseDay", "packCageListed", "returnCaged"} <= {f["name"] for f in functions}
    for f in functions:
        args = [_value(i, k) for k, i in enumerate(f["inputs"], start=1)]
        assert encoder.encode(f["name"], args) == contract.encode_abi(f["name"], args), f["name"]


def test_an_overloaded_name_is_left_to_the_fallback():
    abi = [{"type": "function", "name": "f", "inputs": [{"name": "a", "type": "uint256"}], "outputs": []},
           {"type": "function", "name": "f", "inputs": [{"name": "a", "type": "bytes32"}], "outputs": []},
           {"type": "function", "name": "g", "inputs": [{"name": "a", "type": "uint256"}], "outputs": []}]  # fmt: skip
    asked = []
    encoder = Encoder(abi, lambda name, args: asked.append((name, args)) or "0xfallback")
    assert encoder.encode("f", [1]) == "0xfallback" and asked == [("f", [1])]
    assert encoder.encode("g", [1]) == Web3().eth.contract(abi=abi).encode_abi("g", [1])
