"""The one place that builds a Web3 instance."""

from __future__ import annotations

from web3 import Web3
from web3.middleware import ExtraDataToPOAMiddleware

from app.errors import ConfigError


def make_web3(rpc_url: str, timeout: float = 10.0, poa: bool = True) -> Web3:
    """An HTTP Web3 client. PoA chains (Besu/Geth clique, QBFT) put more than 32 bytes in
    extraData; the middleware makes their blocks readable and is harmless elsewhere."""
    if not rpc_url.startswith(("http://", "https://")):
        raise ConfigError("RPC_URL", f"{rpc_url!r} is not an http(s) URL")
    w3 = Web3(Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": timeout}))
    if poa:
        w3.middleware_onion.inject(ExtraDataToPOAMiddleware, layer=0)
    return w3


def connect(rpc_url: str, timeout: float = 5.0) -> Web3:
    """make_web3, then prove the node answers; a ConfigError names RPC_URL otherwise."""
    w3 = make_web3(rpc_url, timeout=timeout)
    try:
        w3.eth.chain_id  # noqa: B018 - a round trip is the point
    except Exception as exc:  # any transport failure: refused, DNS, timeout, bad JSON
        raise ConfigError(
            "RPC_URL", f"cannot reach a JSON-RPC node at {redact_url(rpc_url)} ({describe(exc)})"
        ) from exc
    return w3


def describe(exc: Exception) -> str:
    """A transport failure in words that never repeat the RPC URL (providers put API keys in
    URLs, and this text reaches public /readyz answers and logs)."""
    import requests

    response = getattr(exc, "response", None)
    if isinstance(exc, requests.HTTPError) and response is not None:
        return f"HTTP {response.status_code} from the node"
    if isinstance(exc, requests.Timeout):
        return "the node did not answer in time"
    if isinstance(exc, requests.ConnectionError):
        return "cannot connect to the node"
    return f"{type(exc).__name__} from the node"


def redact_url(url: str) -> str:
    """scheme://host:port only: no userinfo, path or query (where provider keys live)."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    host = parts.hostname or "?"
    return f"{parts.scheme}://{host}" + (f":{parts.port}" if parts.port else "")
