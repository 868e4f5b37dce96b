"""Deploy the service's contracts and keep a per-chain deployment record.

The record (JSON) names each contract's address, deployment block and transaction, the
compiler and source hash it was built from, and the chain's id and genesis hash, so a stale
record (a restarted dev chain, another network) is detected instead of silently used.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

from web3 import Web3

from app.chain.compiler import Artifact, load_artifacts
from app.errors import ConfigError

# Contracts the service deploys, in order, with their constructor arguments (from the deployer and
# the records of those deployed before). The deployer becomes PharmaTrack's admin (DEFAULT_ADMIN_ROLE:
# registers and suspends organisations); PharmaTrack runs the listed-unit functions in the
# PharmaTrackListed deployed before it (too big to be deployed from its constructor).
SERVICE_CONTRACTS: dict[str, callable] = {
    "PharmaTrackListed": lambda deployer, deployed: [],
    "PharmaTrack": lambda deployer, deployed: [deployer, deployed["PharmaTrackListed"]["address"]],
}


@dataclass(frozen=True)
class Deployment:
    chain_id: int
    genesis_hash: str
    contracts: dict[str, dict]  # name -> {"address", "block", "tx"}
    source_hash: str
    compiler: str
    path: Path

    def address(self, name: str) -> str:
        try:
            return self.contracts[name]["address"]
        except KeyError:
            raise ConfigError(
                "DEPLOYMENT_FILE", f"{self.path} has no {name} contract; run `pharmatrack deploy`"
            ) from None

    @property
    def start_block(self) -> int:
        return min(c["block"] for c in self.contracts.values())

    def to_json(self) -> dict:
        return {
            "chainId": self.chain_id,
            "genesisHash": self.genesis_hash,
            "contracts": self.contracts,
            "sourceHash": self.source_hash,
            "compiler": self.compiler,
        }


def genesis_hash(w3: Web3) -> str:
    return w3.eth.get_block(0)["hash"].to_0x_hex()


class Signer:
    """Sends transactions either from an unlocked node account (anvil's dev accounts) or
    signed locally with a key decrypted from an encrypted JSON keystore. The key never leaves
    this object and is never logged."""

    def __init__(self, w3: Web3, keystore: Path | None = None, password_file: Path | None = None):
        self.w3 = w3
        self._account = None
        if keystore is not None:
            self._account = _load_keystore(keystore, password_file)
            self.address = self._account.address
        else:
            accounts = w3.eth.accounts
            if not accounts:
                raise ConfigError("DEPLOYER_KEYSTORE", "the node has no unlocked accounts; set DEPLOYER_KEYSTORE")
            self.address = accounts[0]

    def send(self, tx: dict) -> dict:
        tx = {**tx, "from": self.address}
        if self._account is None:
            tx_hash = self.w3.eth.send_transaction(tx)
        else:
            tx.setdefault("nonce", self.w3.eth.get_transaction_count(self.address, "pending"))
            tx.setdefault("chainId", self.w3.eth.chain_id)
            tx.setdefault("gas", self.w3.eth.estimate_gas(tx))
            signed = self._account.sign_transaction(tx)
            tx_hash = self.w3.eth.send_raw_transaction(signed.raw_transaction)
        receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=120)
        if receipt["status"] != 1:
            raise ConfigError("deploy", f"transaction {tx_hash.to_0x_hex()} reverted")
        return receipt


def _load_keystore(keystore: Path, password_file: Path | None):
    from eth_account import Account

    if not keystore.is_file():
        raise ConfigError("DEPLOYER_KEYSTORE", f"{keystore} does not exist")
    if password_file is None or not password_file.is_file():
        raise ConfigError("DEPLOYER_KEYSTORE_PASSWORD_FILE", "must name a readable file holding the keystore password")
    try:
        key = Account.decrypt(json.loads(keystore.read_text()), password_file.read_text().strip())
    except (ValueError, KeyError) as exc:
        raise ConfigError("DEPLOYER_KEYSTORE", f"cannot decrypt {keystore.name} ({type(exc).__name__})") from None
    return Account.from_key(key)


def deploy_all(w3: Web3, signer: Signer, path: Path, artifacts: dict[str, Artifact] | None = None) -> Deployment:
    artifacts = artifacts or load_artifacts()
    records: dict[str, dict] = {}
    for name, args_for in SERVICE_CONTRACTS.items():
        artifact = artifacts[name]
        contract = w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
        tx = contract.constructor(*args_for(signer.address, records)).build_transaction({"from": signer.address})
        receipt = signer.send(tx)
        records[name] = {
            "address": receipt["contractAddress"],
            "block": receipt["blockNumber"],
            "tx": receipt["transactionHash"].to_0x_hex(),
            # The ABI it was deployed with: the indexer decodes with this, not with whatever the
            # sources say today.
            "abi": artifact.abi,
        }
    any_artifact = next(iter(artifacts.values()))
    deployment = Deployment(
        chain_id=w3.eth.chain_id,
        genesis_hash=genesis_hash(w3),
        contracts=records,
        source_hash=any_artifact.source_hash,
        compiler=any_artifact.compiler,
        path=path,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = deployment.to_json() | {"deployedAt": int(time.time())}
    path.write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n")
    return deployment


def read_deployment(path: Path) -> Deployment:
    if not path.is_file():
        raise ConfigError("DEPLOYMENT_FILE", f"{path} does not exist; run `pharmatrack deploy`")
    try:
        data = json.loads(path.read_text())
        return Deployment(
            chain_id=int(data["chainId"]),
            genesis_hash=data["genesisHash"],
            contracts=data["contracts"],
            source_hash=data["sourceHash"],
            compiler=data["compiler"],
            path=path,
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise ConfigError(
            "DEPLOYMENT_FILE", f"{path} is not a deployment record ({type(exc).__name__}: {exc})"
        ) from None


def check_deployment(w3: Web3, deployment: Deployment) -> None:
    """Raise ConfigError unless the record matches this chain and every contract has code."""
    chain_id = w3.eth.chain_id
    if deployment.chain_id != chain_id:
        raise ConfigError(
            "DEPLOYMENT_FILE", f"{deployment.path} is for chain {deployment.chain_id}, the node is chain {chain_id}"
        )
    if deployment.genesis_hash != genesis_hash(w3):
        raise ConfigError(
            "DEPLOYMENT_FILE",
            f"{deployment.path} was made on another chain with id {chain_id} (genesis differs); redeploy",
        )
    for name, record in deployment.contracts.items():
        if not w3.eth.get_code(record["address"]):
            raise ConfigError("DEPLOYMENT_FILE", f"{name} at {record['address']} has no code on this chain; redeploy")


def load_checked(w3: Web3, path: Path) -> Deployment:
    deployment = read_deployment(path)
    check_deployment(w3, deployment)
    return deployment
