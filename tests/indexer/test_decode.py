"""Decoder tests on logs recorded from a real anvil (tests/indexer/data), no node needed."""

import json
from pathlib import Path

import pytest
from web3.datastructures import AttributeDict

from app.indexer.decode import PINGED_TOPIC, decode_pinged

RECORDED = json.loads((Path(__file__).parent / "data" / "pinged_logs.json").read_text())


def test_decodes_a_recorded_raw_log():
    row = decode_pinged(RECORDED[0])
    assert row["note"] == "first"
    assert row["seq"] == 1
    assert row["sender"].hex() == "f39fd6e51aad88f6f4ce6ab8827279cfffb92266"
    assert row["contract"].hex() == "5fbdb2315678afecb367f032d93f642f64180aa3"
    assert row["block_number"] == int(RECORDED[0]["blockNumber"], 16)
    assert len(row["tx_hash"]) == 32


def test_decodes_unicode_notes_and_other_senders():
    row = decode_pinged(RECORDED[1])
    assert row["note"] == "Ünïcode ✓ note"
    assert row["seq"] == 2
    assert row["sender"].hex() == "70997970c51812dc3a010c7d01b50e0d17dc79c8"


def test_web3_attributedict_logs_decode_the_same():
    raw = RECORDED[1]
    as_web3 = AttributeDict(
        {
            **raw,
            "topics": [bytes.fromhex(t[2:]) for t in raw["topics"]],
            "data": bytes.fromhex(raw["data"][2:]),
            "blockNumber": int(raw["blockNumber"], 16),
            "logIndex": int(raw["logIndex"], 16),
            "transactionHash": bytes.fromhex(raw["transactionHash"][2:]),
        }
    )
    assert decode_pinged(as_web3) == decode_pinged(raw)


def test_rejects_a_log_of_another_event():
    other = {**RECORDED[0], "topics": ["0x" + "11" * 32, *RECORDED[0]["topics"][1:]]}
    with pytest.raises(ValueError, match="not a Pinged log"):
        decode_pinged(other)
    assert RECORDED[0]["topics"][0] == "0x" + PINGED_TOPIC.hex()
