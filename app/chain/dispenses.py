"""What an undo of a dispense proves (docs/gas-redesign.md, "Interface (implemented)": `undoDispenseDay`): the
dispenser's hash chain, read from the chain's `DispenseChained` logs (not the mirror, which may lag), and the
`dispenseDay` call that dispensed the packs, from its transaction's data.

Each `dispenseDay` call folds `word = day << 224 | uint224(keccak256(abi.encode(wordBefore, time, keccak256(msg.data))))`
into the dispenser's one word and emits `DispenseChained(dispenser, word, callHash)`. An undo passes the call
(`DispenseCall(before, time, cases, totes, caged)`) and the `(time, callHash)` of every later call, and the contract
folds them again up to the dispenser's current word.
"""

from __future__ import annotations

from collections.abc import Callable

from eth_abi import decode
from eth_utils import keccak
from web3 import Web3

DISPENSE_CHAINED = Web3.keccak(text="DispenseChained(address,uint256,bytes32)")


def _types(entry: dict) -> list[str]:
    def one(inp: dict) -> str:
        if inp["type"].startswith("tuple"):
            return "(" + ",".join(one(c) for c in inp["components"]) + ")" + inp["type"][5:]
        return inp["type"]

    return [one(i) for i in entry["inputs"]]


def _function(contract, name: str) -> tuple[bytes, list[str]]:
    entry = next(e for e in contract.abi if e.get("type") == "function" and e["name"] == name)
    types = _types(entry)
    return keccak(text=f"{name}({','.join(types)})")[:4], types


def chain_links(w3: Web3, contract, dispenser: bytes) -> list[dict]:
    """Every DispenseChained of `dispenser` (20 bytes), in chain order, up to the latest block: {block_number,
    log_index, tx_hash, time (block time), word, call_hash}."""
    logs = w3.eth.get_logs({
        "fromBlock": 0, "toBlock": "latest", "address": contract.address,
        "topics": [DISPENSE_CHAINED, b"\x00" * 12 + dispenser],
    })  # fmt: skip
    times: dict[int, int] = {}
    out = []
    for log in sorted(logs, key=lambda entry: (entry["blockNumber"], entry["logIndex"])):
        number = log["blockNumber"]
        if number not in times:
            times[number] = int(w3.eth.get_block(number)["timestamp"])
        word, call_hash = decode(["uint256", "bytes32"], bytes(log["data"]))
        out.append({"block_number": number, "log_index": int(log["logIndex"]), "tx_hash": bytes(log["transactionHash"]),
                    "time": times[number], "word": word, "call_hash": bytes(call_hash)})  # fmt: skip
    return out


def dispense_call(contract, calldata: bytes, call_hash: bytes) -> tuple | None:
    """The (cases, totes, caged) of the dispenseDay call among a transaction's data (the call itself, or one call
    of a multicall) whose keccak256 is `call_hash`; None if there is none."""
    selector, types = _function(contract, "dispenseDay")
    multicall, multicall_types = _function(contract, "multicall")
    calls = [calldata]
    if calldata[:4] == multicall:
        (inner,) = decode(multicall_types, calldata[4:])
        calls = [bytes(c) for c in inner]
    for data in calls:
        if data[:4] == selector and keccak(data) == call_hash:
            return decode(types, data[4:])
    return None


def undo_proof(
    links: list[dict], dispensed_at: tuple[int, int], calldata_of: Callable[[bytes], bytes | None], contract
) -> tuple[tuple, list[tuple]] | None:
    """(DispenseCall, later ChainLinks) for the dispense whose Dispensed event is at `dispensed_at` (block, log
    index): its call is the first DispenseChained of the dispenser after it in that block. `calldata_of(tx_hash)`
    gives a transaction's data (the relayer's record of what it sent). None if the chain or the data lack it."""
    i = next(
        (k for k, link in enumerate(links)
         if link["block_number"] == dispensed_at[0] and link["log_index"] > dispensed_at[1]),
        None,
    )  # fmt: skip
    if i is None:
        return None
    link = links[i]
    data = calldata_of(link["tx_hash"])
    if data is None:
        return None
    args = dispense_call(contract, data, link["call_hash"])
    if args is None:
        return None
    before = links[i - 1]["word"] if i > 0 else 0
    later = [(k["time"], k["call_hash"]) for k in links[i + 1 :]]
    return (before, link["time"], *args), later
