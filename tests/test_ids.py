"""app.ids: ids from GS1 keys, and the packed formats the contract takes (pack sets, readings)."""

from __future__ import annotations

import pytest
from eth_abi import encode
from eth_utils import keccak
from hypothesis import given
from hypothesis import strategies as st

from app.ids import (
    gln_number,
    gtin_number,
    lgtin_id,
    pack_readings,
    pack_set,
    sgtin_id,
    sscc_id,
    sscc_number,
    unpack_readings,
    unpack_set,
)


def word(n: int) -> bytes:
    return n.to_bytes(32, "big")


def abi_string(s: str) -> bytes:
    data = s.encode()
    return word(len(data)) + data.ljust((len(data) + 31) // 32 * 32, b"\0")


def test_lgtin_id_is_keccak_of_abi_encode_tag_gtin_lot():
    # abi.encode(string, uint256, string): two offsets and the number in the head, the strings in the tail.
    tag = abi_string("lgtin")
    encoded = word(0x60) + word(9506000134352) + word(0x60 + len(tag)) + tag + abi_string("L42")
    assert lgtin_id("09506000134352", "L42") == keccak(encoded)


def test_sgtin_id_is_keccak_of_abi_encode_tag_gtin_serial():
    tag = abi_string("sgtin")
    encoded = word(0x60) + word(9506000134352) + word(0x60 + len(tag)) + tag + abi_string("ABC123")
    assert sgtin_id(9506000134352, "ABC123") == keccak(encoded)


def test_sscc_id_is_keccak_of_abi_encode_tag_sscc():
    encoded = word(0x40) + word(106141411234567897) + abi_string("sscc")
    assert sscc_id("106141411234567897") == keccak(encoded)


@pytest.mark.parametrize("sscc", ["000000000000000001", "106141411234567897", "999999999999999999", 376104250021234569])
def test_sscc_id_lays_out_what_eth_abi_encodes(sscc):
    assert sscc_id(sscc) == keccak(encode(["string", "uint256"], ["sscc", int(sscc)]))


def test_ids_of_different_kinds_differ():
    assert lgtin_id(9506000134352, "A1") != sgtin_id(9506000134352, "A1")


def test_ids_take_digit_strings_or_ints():
    assert lgtin_id("09506000134352", "L1") == lgtin_id(9506000134352, "L1")
    assert gtin_number("00000000000017") == 17
    assert sscc_number(106141411234567897) == 106141411234567897
    assert gln_number("9506000000010") == 9506000000010


@pytest.mark.parametrize("gtin", ["9506000134352", "095060001343521", "0950600013435X", "", 0, 10**14, -1])
def test_gtin_number_rejects_malformed_keys(gtin):
    with pytest.raises(ValueError, match="gtin"):
        gtin_number(gtin)


@pytest.mark.parametrize("bad", [True, 1.5, None, b"09506000134352"])
def test_gtin_number_rejects_other_types(bad):
    with pytest.raises(TypeError, match="gtin"):
        gtin_number(bad)


@pytest.mark.parametrize("sscc", ["10614141123456789", 0, 10**18])
def test_sscc_id_rejects_malformed_keys(sscc):
    with pytest.raises(ValueError, match="sscc"):
        sscc_id(sscc)


@pytest.mark.parametrize("lot", ["", "X" * 21])
def test_lgtin_id_rejects_malformed_lot(lot):
    with pytest.raises(ValueError, match="lot"):
        lgtin_id(9506000134352, lot)


def test_sgtin_id_rejects_non_string_serial():
    with pytest.raises(TypeError, match="serial"):
        sgtin_id(9506000134352, 123)


def test_pack_set_groups_indexes_by_bitmap_word():
    first, masks = pack_set([700, 3, 255, 256])
    assert first == 0
    assert masks == [(1 << 3) | (1 << 255), 1 << 0, 1 << (700 - 512)]


def test_pack_set_starts_at_the_lowest_word():
    assert pack_set([1000]) == (3, [1 << (1000 - 768)])


def test_pack_set_rejects_empty_and_bad_indexes():
    with pytest.raises(ValueError, match="at least one"):
        pack_set([])
    for bad in (-1, 2**40, 1.0, True):
        with pytest.raises(ValueError, match="leaf index"):
            pack_set([bad])


@given(st.sets(st.integers(0, 2**20), min_size=1, max_size=300))
def test_unpack_set_inverts_pack_set(indexes):
    first, masks = pack_set(indexes)
    assert unpack_set(first, masks) == sorted(indexes)
    assert all(0 <= m < 2**256 for m in masks)
    assert masks[0] != 0 and masks[-1] != 0


@given(st.lists(st.integers(-(2**15), 2**15 - 1), max_size=50))
def test_unpack_readings_inverts_pack_readings(values):
    data = pack_readings(values)
    assert len(data) == 2 * len(values)
    assert unpack_readings(data) == values


def test_pack_readings_rejects_values_beyond_int16():
    for bad in (2**15, -(2**15) - 1):
        with pytest.raises(ValueError, match="int16"):
            pack_readings([bad])


def test_unpack_readings_and_set_reject_ragged_data():
    with pytest.raises(ValueError, match="multiple of 2"):
        unpack_readings(b"\x01")
