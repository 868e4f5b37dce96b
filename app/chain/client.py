"""The typed chain client the API and the indexer use. Transport failures become
ServiceUnavailable("chain", ...) so callers never see a raw web3/requests exception."""

from __future__ import annotations

import functools
import os

from web3 import Web3

from app.chain.web3factory import make_web3
from app.errors import ServiceUnavailable


def _chain_call(fn):
    @functools.wraps(fn)
    def wrapper(self, *args, **kwargs):
        try:
            return fn(self, *args, **kwargs)
        except ServiceUnavailable:
            raise
        except Exception as exc:  # connection refused, timeouts, JSON-RPC errors: all mean "chain unusable now"
            raise ServiceUnavailable("chain", f"{type(exc).__name__}: {str(exc)[:200]}") from exc

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
