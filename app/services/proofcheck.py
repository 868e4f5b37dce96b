"""Check a pack's proof against the chain itself, as a pharmacist's "check it yourself" shows it: the root
the proof leads to (computed here from the leaf and its siblings), the root the contract holds now (read from
the chain, not the mirror), and whether they agree. No Flask here."""

from __future__ import annotations

from dataclasses import dataclass

from app.chain import roots
from app.chain.client import ChainClient
from app.chain.deploy import read_deployment
from app.config import Settings
from app.errors import PharmatrackError
from app.services import serials


@dataclass(frozen=True)
class ProofCheck:
    computed_root: str
    chain_root: str | None
    block: int | None
    matches: bool
    problem: str | None = None


def check(client: ChainClient, settings: Settings, proof: dict) -> ProofCheck:
    """`proof`: a verification's `proof` body (app/services/verify.py). A chain that cannot be read, or a missing
    deployment record, is said in `problem` (the page still shows the computed root), never raised."""
    leaf = bytes.fromhex(proof["leaf"][2:])
    computed = serials.implied_root(leaf, [bytes.fromhex(p[2:]) for p in proof["proof"]])
    computed_hex = "0x" + computed.hex()
    try:
        contract = read_deployment(settings.deployment_path(client.chain_id())).address("PharmaTrack")
        root, block = roots.batch_root(client, contract, bytes.fromhex(proof["lot_id"][2:]), int(proof["batch"]))
    except PharmatrackError as exc:
        return ProofCheck(computed_hex, None, None, False, str(exc))
    return ProofCheck(computed_hex, "0x" + root.hex(), block, root == computed)
