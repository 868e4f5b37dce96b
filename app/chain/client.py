"""The typed chain client the API and the indexer use. Transport failures become
ServiceUnavailable("chain", ...) so callers never see a raw web3/requests exception."""

from __future__ import annotations

import functools
import os

from web3 import Web3

from app.chain.web3factory import describe, make_web3, redact_url  # noqa: F401  (describe: re-exported)
from app.chain.window import is_range_error
from app.errors import PharmatrackError, ServiceUnavailable


class LogRangeRefused(PharmatrackError):
    """The provider refused an eth_getLogs range as too large (or its result as too big)."""


def _chain_call(fn):
    @functools.wraps(fn)
    def wrapper(self, *args, **kwargs):
        try:
            return fn(self, *args, **kwargs)
        except ServiceUnavailable:
            raise
        except Exception as exc:  # connection refused, timeouts, JSON-RPC errors: all mean "chain unusable now"
            raise ServiceUnavailable("chain", describe(exc)) from exc

    return wrapper


class ChainClient:
    def __init__(self, rpc_url: str, timeout: float = 3.0):
        self.rpc_url = rpc_url
        self.timeout = timeout
        self._w3: Web3 | None = None
        self._pid = 0
        self._chain_id: int | None = None

    @property
    def w3(self) -> Web3:
        # A fresh HTTP session per process: gunicorn forks workers after the app is built.
        if self._w3 is None or self._pid != os.getpid():
            self._w3 = make_web3(self.rpc_url, timeout=self.timeout)
            self._pid = os.getpid()
        return self._w3

    @_chain_call
    def block_number(self) -> int:
        return self.w3.eth.block_number

    @_chain_call
    def chain_id(self) -> int:
        if self._chain_id is None:
            self._chain_id = self.w3.eth.chain_id
        return self._chain_id

    @_chain_call
    def get_block(self, number: int | str):
        return self.w3.eth.get_block(number)

    @_chain_call
    def get_logs(self, params: dict) -> list:
        return self.w3.eth.get_logs(params)

    @_chain_call
    def get_code(self, address: str) -> bytes:
        return bytes(self.w3.eth.get_code(address))

    @_chain_call
    def finalized_block_number(self) -> int:
        return self.w3.eth.get_block("finalized")["number"]

    def raw_logs(self, from_block: int, to_block: int, addresses: list[str], topics: list | None = None) -> list[dict]:
        """eth_getLogs without web3's formatting: a list of JSON-RPC log dicts (hex strings).
        A provider refusal (range or result too large) raises LogRangeRefused."""
        params = {"fromBlock": hex(from_block), "toBlock": hex(to_block), "address": addresses}
        if topics:
            params["topics"] = topics
        try:
            response = self.w3.provider.make_request("eth_getLogs", [params])
        except Exception as exc:  # transport failure: rate limits and outages are not range refusals
            status = getattr(getattr(exc, "response", None), "status_code", None)
            if status in (400, 413) and is_range_error(getattr(exc.response, "text", "")):
                raise LogRangeRefused(f"HTTP {status}") from exc
            raise ServiceUnavailable("chain", f"eth_getLogs: {describe(exc)}") from exc
        if "error" in response:
            message = str(response["error"].get("message", response["error"]))
            if is_range_error(message):
                raise LogRangeRefused(message)
            raise ServiceUnavailable("chain", f"eth_getLogs: {message[:200]}")
        return response["result"]

    @_chain_call
    def transaction_counts(self, accounts: list[str], block: str = "pending") -> dict[str, int]:
        """Each account's transaction count (its next nonce) at `block`, in one JSON-RPC batch."""
        if not accounts:
            return {}
        responses = self.w3.provider.make_batch_request([("eth_getTransactionCount", [a, block]) for a in accounts])
        if isinstance(responses, dict) or len(responses) != len(accounts) or any("error" in r for r in responses):
            raise ServiceUnavailable("chain", "the node answered a transaction count batch with errors")
        return {a: int(r["result"], 16) for a, r in zip(accounts, responses, strict=True)}

    @_chain_call
    def headers(self, numbers: list[int]) -> dict[int, dict]:
        """Block headers by number in one JSON-RPC batch: {n: {"hash", "parentHash", "timestamp"}}
        (hashes as bytes, timestamp as int). A block the node says does not exist (null) is left
        out; an error for any item (rate limit, backend trouble) fails the whole call."""
        if not numbers:
            return {}
        calls = [("eth_getBlockByNumber", [hex(n), False]) for n in numbers]
        responses = self.w3.provider.make_batch_request(calls)
        if isinstance(responses, dict):  # the whole batch failed
            raise ServiceUnavailable("chain", "a block header batch failed")
        if len(responses) != len(calls) or any("error" in r for r in responses):
            raise ServiceUnavailable("chain", "the node answered a block header batch with errors")
        out = {}
        for response in responses:
            block = response.get("result")
            if block:
                out[int(block["number"], 16)] = {
                    "hash": bytes.fromhex(block["hash"][2:]),
                    "parentHash": bytes.fromhex(block["parentHash"][2:]),
                    "timestamp": int(block["timestamp"], 16),
                }
        return out
