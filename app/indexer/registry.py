"""Which events the indexer mirrors: every event in the ABI of every deployed contract."""

from __future__ import annotations

from app.chain.compiler import Artifact, load_artifacts
from app.chain.deploy import Deployment
from app.errors import ConfigError
from app.indexer.events import EventSpec, specs_from_abi


def specs_for(deployment: Deployment, artifacts: dict[str, Artifact] | None = None) -> dict[bytes, EventSpec]:
    """Specs from the ABI recorded with the deployment. A record without ABIs (older) is only
    accepted when today's sources are the ones it was deployed from."""
    specs: dict[bytes, EventSpec] = {}
    for name, record in deployment.contracts.items():
        abi = record.get("abi")
        if abi is None:
            artifacts = artifacts or load_artifacts()
            if artifacts[name].source_hash != deployment.source_hash:
                raise ConfigError(
                    "DEPLOYMENT_FILE",
                    f"{deployment.path} records no ABI and was deployed from other sources "
                    f"({deployment.source_hash[:12]} ≠ {artifacts[name].source_hash[:12]}); redeploy",
                )
            abi = artifacts[name].abi
        specs.update(specs_from_abi(abi))
    return specs
