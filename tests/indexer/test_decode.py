"""Decoder tests on logs recorded from a real anvil (tests/indexer/data), no node needed."""

import json
from pathlib import Path

import pytest
from web3.datastructures import AttributeDict

from app.chain.compiler import load_artifacts
from app.indexer.events import EventSpec, decode_log, snake, specs_from_abi, sql_type

RECORDED = json.loads((Path(__file__).parent / "data" / "pinged_logs.json").read_text())


@pytest.fixture(scope="module")
def pinged() -> EventSpec:
    (spec,) = specs_from_abi(load_artifacts()["Beacon"].abi).values()
    return spec


def test_spec_is_built_from_the_abi(pinged):
    assert pinged.signature == "Pinged(address,uint256,string)"
    assert pinged.table == "ev_pinged"
    assert pinged.columns == ("sender", "seq", "note")
    assert pinged.indexed == (True, True, False)
    assert RECORDED[0]["topics"][0] == "0x" + pinged.topic0.hex()


def test_decodes_a_recorded_raw_log(pinged):
    block, index, tx, sender, seq, note = decode_log(pinged, RECORDED[0])
    assert (block, index) == (int(RECORDED[0]["blockNumber"], 16), 0)
    assert tx.hex() == RECORDED[0]["transactionHash"][2:]
    assert sender.hex() == "f39fd6e51aad88f6f4ce6ab8827279cfffb92266"
    assert (seq, note) == (1, "first")


def test_decodes_unicode_and_other_senders(pinged):
    row = decode_log(pinged, RECORDED[1])
    assert row[3].hex() == "70997970c51812dc3a010c7d01b50e0d17dc79c8"
    assert row[4:] == (2, "Ünïcode ✓ note")


def test_web3_attributedict_logs_decode_the_same(pinged):
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
    assert decode_log(pinged, as_web3) == decode_log(pinged, raw)


def test_indexed_values_of_every_static_kind_come_from_topics():
    abi = [
        {
            "type": "event",
            "name": "Probe",
            "anonymous": False,
            "inputs": [
                {"name": "signedValue", "type": "int16", "indexed": True},
                {"name": "flag", "type": "bool", "indexed": True},
                {"name": "key", "type": "bytes32", "indexed": True},
                {"name": "amounts", "type": "uint64[]", "indexed": False},
            ],
        }
    ]
    (spec,) = specs_from_abi(abi).values()
    from eth_abi import encode

    log = {
        "topics": [
            "0x" + spec.topic0.hex(),
            "0x" + (-250).to_bytes(32, "big", signed=True).hex(),
            "0x" + (1).to_bytes(32, "big").hex(),
            "0x" + "ab" * 32,
        ],
        "data": "0x" + encode(["uint64[]"], [[1, 2**63]]).hex(),
        "blockNumber": "0x10",
        "logIndex": "0x2",
        "transactionHash": "0x" + "cd" * 32,
    }
    assert decode_log(spec, log) == (16, 2, bytes.fromhex("cd" * 32), -250, True, bytes.fromhex("ab" * 32), [1, 2**63])
    assert spec.columns == ("signed_value", "flag", "key", "amounts")


@pytest.mark.parametrize(
    ("name", "expected"),
    [("LotCommissioned", "lot_commissioned"), ("lotId", "lot_id"), ("GTIN", "gtin"), ("SSCCPacked", "sscc_packed")],
)
def test_snake_case_names(name, expected):
    assert snake(name) == expected


@pytest.mark.parametrize(
    ("abi_type", "column"),
    [
        ("address", "bytea"),
        ("bytes32", "bytea"),
        ("string", "text"),
        ("bool", "boolean"),
        ("uint8", "integer"),
        ("uint32", "bigint"),
        ("uint64", "numeric"),
        ("uint256", "numeric"),
        ("int16", "smallint"),
        ("int64", "bigint"),
        ("bytes32[]", "bytea[]"),
        ("uint256[]", "numeric[]"),
    ],
)
def test_column_types(abi_type, column):
    assert sql_type(abi_type) == column
