"""A dispenser's DispenseRecord list of one UTC day, read from the chain's Dispensed logs (not the mirror, which
may lag): what undoDispense must be given, exactly as the contract's accumulator of that day saw it."""

from __future__ import annotations

from web3 import Web3

DAY = 86400
DISPENSED = Web3.keccak(text="Dispensed(bytes32,bytes32,address,uint32,uint256[])")


def _first_block_at(w3: Web3, timestamp: int, latest: int) -> int:
    """The first block whose timestamp is >= `timestamp` (latest + 1 when none is): block times never go back."""
    lo, hi = 0, latest + 1
    while lo < hi:
        mid = (lo + hi) // 2
        if w3.eth.get_block(mid)["timestamp"] >= timestamp:
            hi = mid
        else:
            lo = mid + 1
    return lo


def dispense_records(w3: Web3, contract, dispenser: bytes, day: int) -> list[dict]:
    """Every Dispensed event by `dispenser` (an address, 20 bytes) whose block time falls in `day`, in chain order,
    as {time, lot_id, container_id, first_word, masks, block_number, log_index}; up to the latest block."""
    latest = w3.eth.block_number
    start = _first_block_at(w3, day * DAY, latest)
    if start > latest:
        return []
    event = contract.events.Dispensed()
    logs = w3.eth.get_logs({
        "fromBlock": start, "toBlock": latest, "address": contract.address,
        "topics": [DISPENSED, None, None, b"\x00" * 12 + dispenser],
    })  # fmt: skip
    times: dict[int, int] = {}
    out = []
    for log in sorted(logs, key=lambda entry: (entry["blockNumber"], entry["logIndex"])):
        number = log["blockNumber"]
        if number not in times:
            times[number] = int(w3.eth.get_block(number)["timestamp"])
        if times[number] // DAY != day:
            continue
        args = event.process_log(log)["args"]
        out.append({"time": times[number], "lot_id": bytes(args["lotId"]), "container_id": bytes(args["caseId"]),
                    "first_word": int(args["firstWord"]), "masks": [int(m) for m in args["masks"]],
                    "block_number": number, "log_index": int(log["logIndex"])})  # fmt: skip
    return out
