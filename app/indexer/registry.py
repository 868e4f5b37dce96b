"""Which events the indexer mirrors: every event in the ABI of every deployed contract."""

from __future__ import annotations

from app.chain.compiler import Artifact, load_artifacts
from app.chain.deploy import Deployment
from app.indexer.events import EventSpec, specs_from_abi


def specs_for(deployment: Deployment, artifacts: dict[str, Artifact] | None = None) -> dict[bytes, EventSpec]:
    artifacts = artifacts or load_artifacts()
    specs: dict[bytes, EventSpec] = {}
    for name in deployment.contracts:
        specs.update(specs_from_abi(artifacts[name].abi))
    return specs
