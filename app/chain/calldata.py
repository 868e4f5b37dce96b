"""Calldata of contract calls, encoded with each function's selector and input types read from the ABI once.

web3's `contract.encode_abi(name, args)` finds the function again on every call (validating the whole ABI and
hashing every function's signature: about 1 ms a call for PharmaTrack's ABI); the relayer encodes one call per
operation for most actions (a sensor report, a commissioning), so that lookup was two thirds of its CPU. The
answer is the same bytes (tests/chain/test_calldata.py compares both on every kind of call the relayer builds);
an overloaded name is left to web3, which picks the overload by its arguments.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import eth_abi
from eth_utils import function_abi_to_4byte_selector, get_abi_input_types


class Encoder:
    """`encode(name, args)` -> "0x…" calldata; `fallback(name, args)` for a name the ABI declares more than once."""

    def __init__(self, abi: list[dict], fallback: Callable[[str, list], str]):
        functions = [entry for entry in abi if entry.get("type") == "function"]
        declared = Counter(entry["name"] for entry in functions)
        self._functions = {
            entry["name"]: (function_abi_to_4byte_selector(entry), get_abi_input_types(entry))
            for entry in functions
            if declared[entry["name"]] == 1
        }
        self._fallback = fallback

    def encode(self, name: str, args: list) -> str:
        found = self._functions.get(name)
        if found is None:
            return self._fallback(name, args)
        selector, types = found
        return "0x" + (selector + eth_abi.encode(types, args)).hex()
