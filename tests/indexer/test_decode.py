"""Decoder tests on logs recorded from a real anvil running the demo supply chain
(tests/indexer/data/custody_logs.json: one log of each event kind it emits), no node needed."""

import json
from pathlib import Path

import pytest
from eth_abi import encode
from web3 import Web3
from web3.datastructures import AttributeDict

from app.chain.compiler import load_artifacts
from app.demo import with_check_digit
from app.ids import lgtin_id, sscc_id, unpack_readings, unpack_set
from app.indexer.events import EventSpec, decode_log, snake, specs_from_abi, sql_type

RECORDED = json.loads((Path(__file__).parent / "data" / "custody_logs.json").read_text())
SPECS = specs_from_abi(load_artifacts()["PharmaTrack"].abi)
MAKER = bytes.fromhex("70997970c51812dc3a010c7d01b50e0d17dc79c8")  # anvil account 1


def recorded(name: str) -> tuple[EventSpec, dict]:
    for log in RECORDED:
        spec = SPECS[bytes.fromhex(log["topics"][0][2:])]
        if spec.name == name:
            return spec, log
    raise AssertionError(f"no recorded {name} log")


def row(name: str) -> dict:
    spec, log = recorded(name)
    return dict(zip(spec.all_columns, decode_log(spec, log), strict=True))


def test_every_recorded_log_decodes_to_a_full_row():
    for log in RECORDED:
        spec = SPECS[bytes.fromhex(log["topics"][0][2:])]
        values = decode_log(spec, log)
        assert len(values) == len(spec.all_columns)
        assert values[0] == int(log["blockNumber"], 16)
        assert values[2].hex() == log["transactionHash"][2:]


def test_organisation_registered_with_a_dynamic_array():
    r = row("OrganisationRegistered")
    assert r["account"] == MAKER
    assert r["gln"] == 9506000000015
    assert r["roles"] == [Web3.keccak(text="MANUFACTURER_ROLE")]
    assert r["index"] >= 1


def test_product_registered_with_signed_temperatures():
    r = row("ProductRegistered")
    assert (r["gtin"], r["manufacturer"], r["min_temp"], r["max_temp"]) == (9506000134352, MAKER, 200, 800)


def test_lot_commissioned_with_a_string():
    r = row("LotCommissioned")
    assert r["lot_id"] == lgtin_id("09506000134352", "DEMO-L1")
    assert (r["lot_number"], r["serial_count"]) == ("DEMO-L1", 200)
    assert len(r["serials_root"]) == 32


def test_dispensed_masks_give_back_the_pack_indexes():
    r = row("Dispensed")
    assert r["lot_id"] == lgtin_id("09506000134352", "DEMO-L1")
    assert unpack_set(r["first_word"], r["masks"]) == [0, 1, 2, 3, 4]


def test_temperature_recorded_bytes_and_excursion():
    readings = row("TemperatureRecorded")
    assert unpack_readings(readings["readings"]) == [420, 450, 930, 510, 490, 460]
    excursion = row("ExcursionDetected")
    assert excursion["unit_id"] == readings["unit_id"] == sscc_id(int(with_check_digit("10950600000009000")))
    assert (excursion["value"], excursion["min_temp"], excursion["max_temp"]) == (930, 200, 800)


def test_web3_attributedict_logs_decode_the_same():
    spec, raw = recorded("LotCommissioned")
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
    assert decode_log(spec, as_web3) == decode_log(spec, raw)


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
