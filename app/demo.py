"""Demo data for `pharmatrack demo` and `pharmatrack up --demo`."""

from __future__ import annotations

import json
import time
import urllib.request

from app.chain.compiler import load_artifacts
from app.chain.deploy import Signer, load_checked
from app.chain.web3factory import connect
from app.config import Settings
from app.errors import ConfigError

NOTES = (
    "demo: manufacturer line 1 online",
    "demo: distributor DC-East online",
    "demo: pharmacy 042 online",
)


def seed(settings: Settings) -> list[int]:
    """Send the demo pings; return their sequence numbers."""
    w3 = connect(settings.effective_rpc_url)
    deployment = load_checked(w3, settings.deployment_path(w3.eth.chain_id))
    beacon = w3.eth.contract(address=deployment.address("Beacon"), abi=load_artifacts()["Beacon"].abi)
    signer = Signer(w3, settings.deployer_keystore, settings.deployer_keystore_password_file)
    seqs = []
    for note in NOTES:
        receipt = signer.send(beacon.functions.ping(note).build_transaction({"from": signer.address}))
        seqs.append(beacon.events.Pinged().process_receipt(receipt)[0]["args"]["seq"])
    return seqs


def wait_visible(api_base: str, seq: int, timeout: float) -> int:
    """Wait until the API lists a ping with sequence number >= seq; return how many it lists."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with urllib.request.urlopen(f"{api_base}/v1/pings?limit=500", timeout=5) as resp:  # noqa: S310 - our own http API URL
            items = json.loads(resp.read())["items"]
        if any(item["seq"] >= seq for item in items):
            return len(items)
        time.sleep(0.5)
    raise ConfigError("demo", f"the API did not show ping {seq} within {timeout:.0f}s (is the indexer running?)")
