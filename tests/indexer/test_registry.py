"""The indexer decodes with the ABI recorded at deployment, not with today's sources."""

import json
from dataclasses import replace

import pytest

from app.chain.deploy import read_deployment
from app.errors import ConfigError
from app.indexer.registry import specs_for


def test_specs_come_from_the_recorded_abi(deployment):
    record = json.loads(deployment.path.read_text())
    abi = record["contracts"]["PharmaTrack"]["abi"]
    assert any(e.get("name") == "Shipped" for e in abi)
    specs = specs_for(read_deployment(deployment.path))
    assert {s.name for s in specs.values()} >= {"Shipped", "Received", "LotCommissioned", "Dispensed"}


def test_a_recorded_abi_wins_over_the_current_sources(deployment):
    only_shipped = [e for e in deployment.contracts["PharmaTrack"]["abi"] if e.get("name") == "Shipped"]
    legacy = replace(
        deployment, contracts={"PharmaTrack": {**deployment.contracts["PharmaTrack"], "abi": only_shipped}}
    )
    assert [s.name for s in specs_for(legacy).values()] == ["Shipped"]


def test_a_record_without_abi_from_other_sources_is_refused(deployment):
    without = {k: v for k, v in deployment.contracts["PharmaTrack"].items() if k != "abi"}
    stale = replace(deployment, contracts={"PharmaTrack": without}, source_hash="0" * 64)
    with pytest.raises(ConfigError, match="deployed from other sources"):
        specs_for(stale)
    current = replace(stale, source_hash=deployment.source_hash)
    assert specs_for(current)
