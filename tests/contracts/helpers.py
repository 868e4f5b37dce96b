"""Helpers for the PharmaTrack contract tests: transactions, exact revert matching, event decoding."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any

import pytest
from eth_abi import encode
from eth_utils import keccak
from hexbytes import HexBytes
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import ContractCustomError

ZERO = b"\0" * 32
NO_PROOF = ([], [])


def send(w3: Web3, call, sender: str):
    """Send a transaction and return its receipt; the call must succeed."""
    receipt = w3.eth.wait_for_transaction_receipt(call.transact({"from": sender}))
    assert receipt.status == 1
    return receipt


def _error_types(contract: Contract) -> dict[str, list[str]]:
    return {item["name"]: [_abi_type(i) for i in item["inputs"]] for item in contract.abi if item["type"] == "error"}


def _abi_type(item: dict) -> str:
    if item["type"].startswith("tuple"):
        return "(" + ",".join(_abi_type(c) for c in item["components"]) + ")" + item["type"][5:]
    return item["type"]


def selector(item: dict) -> bytes:
    """The 4-byte selector of an ABI function or error entry."""
    return keccak(text=f"{item['name']}({','.join(_abi_type(i) for i in item['inputs'])})")[:4]


def error_data(contract: Contract, name: str, *args: Any) -> str:
    """The revert data of custom error `name(args)`: its selector and ABI-encoded arguments."""
    types = _error_types(contract)[name]
    selector = keccak(text=f"{name}({','.join(types)})")[:4]
    return "0x" + (selector + encode(types, list(args))).hex()


def reverts(contract: Contract, call, sender: str, name: str, *args: Any) -> None:
    """Assert that `call` from `sender` reverts with exactly the custom error `name(args)`."""
    with pytest.raises(ContractCustomError) as raised:
        call.call({"from": sender})
    expected = error_data(contract, name, *args)
    assert raised.value.data == expected, f"expected {name}{args}, got {describe(contract, raised.value.data)}"


def describe(contract: Contract, data: str) -> str:
    """A readable form of revert data, for failure messages."""
    for name, types in _error_types(contract).items():
        selector = keccak(text=f"{name}({','.join(types)})")[:4]
        if data.startswith("0x" + selector.hex()):
            from eth_abi import decode

            return f"{name}{tuple(decode(types, bytes.fromhex(data[10:])))}"
    return data


def events(contract: Contract, receipt) -> list[tuple[str, dict]]:
    """Every log of `receipt` emitted by `contract`, decoded: [(event name, args)] in order."""
    by_topic = {}
    for item in contract.abi:
        if item["type"] == "event":
            event = contract.events[item["name"]]()
            by_topic[HexBytes(event.topic)] = event
    out = []
    for log in receipt.logs:
        if log.address != contract.address:
            continue
        event = by_topic[HexBytes(log.topics[0])]
        out.append((event.event_name, dict(event.process_log(log).args)))
    return out


def only(contract: Contract, receipt, name: str) -> list[dict]:
    """The args of every `name` event in `receipt`."""
    return [args for event, args in events(contract, receipt) if event == name]


@contextmanager
def snapshot(w3: Web3):
    """Revert the chain to where it was on leaving the block (for Hypothesis examples inside one test)."""
    snap = w3.provider.make_request("evm_snapshot", [])["result"]
    try:
        yield
    finally:
        w3.provider.make_request("evm_revert", [snap])


def advance_time(w3: Web3, seconds: int) -> None:
    w3.provider.make_request("evm_increaseTime", [seconds])
    w3.provider.make_request("evm_mine", [])


def role(name: str) -> bytes:
    return Web3.keccak(text=name)
