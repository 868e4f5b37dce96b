"""Revert data decoded with the contract's ABI: custom errors by name with their arguments."""

from __future__ import annotations

from eth_abi import decode
from eth_utils import keccak

ERROR_STRING = bytes.fromhex("08c379a0")  # Error(string)
PANIC = bytes.fromhex("4e487b71")  # Panic(uint256)


def _type(param: dict) -> str:
    if param["type"].startswith("tuple"):
        inner = ",".join(_type(c) for c in param["components"])
        return f"({inner}){param['type'][5:]}"
    return param["type"]


def _json(value):
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, (list, tuple)):
        return [_json(v) for v in value]
    if isinstance(value, str) and len(value) == 42 and value.startswith("0x"):
        return value.lower()
    return value


class RevertDecoder:
    def __init__(self, abi: list[dict]):
        self.errors: dict[bytes, tuple[str, list[str], list[str]]] = {}
        for entry in abi:
            if entry.get("type") != "error":
                continue
            types = [_type(p) for p in entry["inputs"]]
            selector = keccak(text=f"{entry['name']}({','.join(types)})")[:4]
            self.errors[selector] = (entry["name"], [p["name"] for p in entry["inputs"]], types)

    def decode(self, data: bytes | str | None) -> dict:
        """{"error": name, "args": {...}} for a known error; the raw data otherwise."""
        if isinstance(data, str):
            data = bytes.fromhex(data.removeprefix("0x"))
        if not data:
            return {"error": "Reverted", "args": {}, "detail": "reverted without data (out of gas or a failed check)"}
        selector, body = data[:4], data[4:]
        try:
            if selector == ERROR_STRING:
                return {"error": "Error", "args": {"message": decode(["string"], body)[0]}}
            if selector == PANIC:
                return {"error": "Panic", "args": {"code": decode(["uint256"], body)[0]}}
            if selector in self.errors:
                name, names, types = self.errors[selector]
                values = decode(types, body)
                return {
                    "error": name,
                    "args": {n or f"arg{i}": _json(v) for i, (n, v) in enumerate(zip(names, values, strict=True))},
                }
        except Exception as exc:  # malformed revert data: report it, raw, rather than guess
            return {"error": "Undecodable", "args": {}, "data": "0x" + data.hex(), "detail": type(exc).__name__}
        return {"error": "Unknown", "args": {}, "data": "0x" + data.hex()}
