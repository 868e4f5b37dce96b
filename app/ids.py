"""On-chain identifiers derived from GS1 keys (DESIGN.md §1).

Every id is ``keccak256(abi.encode(tag, key...))`` with a string tag, numbers as ``uint256`` and alphanumeric keys
as ``string``. ``abi.encode`` (not ``encodePacked``) keeps the encoding injective: ``("L1", "23")`` and
``("L12", "3")`` cannot collide. ``PharmaTrack.lotIdOf`` / ``sgtinIdOf`` / ``ssccIdOf`` derive the same values
on-chain, and the contract derives lot and unit ids itself when they are created.

| thing | key | id |
|---|---|---|
| lot | GTIN-14 + lot (AI 10) | ``keccak256(abi.encode("lgtin", uint256 gtin, string lot))`` |
| pack | GTIN-14 + serial (AI 21) | ``keccak256(abi.encode("sgtin", uint256 gtin, string serial))`` |
| case / pallet | SSCC-18 (AI 00) | ``keccak256(abi.encode("sscc", uint256 sscc))`` |

Keys arrive already split and validated by the GS1 layer; this module only checks their shape (digits and length,
or the 1-20 character limit of AI 10 / AI 21), so that a malformed key never produces a plausible id.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable

from eth_abi import encode
from eth_utils import keccak

GTIN_DIGITS = 14
SSCC_DIGITS = 18
GLN_DIGITS = 13
MAX_TEXT_KEY = 20  # AI 10 (lot) and AI 21 (serial): up to 20 characters


def _number(value: int | str, digits: int, name: str) -> int:
    """A fixed-width GS1 number as an int; strings keep their leading zeros' meaning by their length."""
    if isinstance(value, bool):
        raise TypeError(f"{name} must be an int or a string of {digits} digits, not bool")
    if isinstance(value, str):
        if len(value) != digits or not value.isascii() or not value.isdigit():
            raise ValueError(f"{name} must be {digits} digits, got {value!r}")
        return int(value)
    if isinstance(value, int):
        if not 0 < value < 10**digits:
            raise ValueError(f"{name} must be between 1 and {10**digits - 1}, got {value}")
        return value
    raise TypeError(f"{name} must be an int or a string of {digits} digits, not {type(value).__name__}")


def _text(value: str, name: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a string, not {type(value).__name__}")
    if not 0 < len(value.encode("utf-8")) <= MAX_TEXT_KEY:
        raise ValueError(f"{name} must be 1 to {MAX_TEXT_KEY} characters, got {value!r}")
    return value


def gtin_number(gtin: int | str) -> int:
    """A GTIN-14 as the integer the contract keys products by."""
    return _number(gtin, GTIN_DIGITS, "gtin")


def sscc_number(sscc: int | str) -> int:
    """An SSCC-18 as the integer the contract takes."""
    return _number(sscc, SSCC_DIGITS, "sscc")


def gln_number(gln: int | str) -> int:
    """A GLN-13 as the integer the contract registers."""
    return _number(gln, GLN_DIGITS, "gln")


@functools.lru_cache(maxsize=65536)  # lots repeat across every scan and verification; pure
def lgtin_id(gtin: int | str, lot: str) -> bytes:
    """Lot id: ``keccak256(abi.encode("lgtin", gtin, lot))``."""
    return keccak(encode(["string", "uint256", "string"], ["lgtin", gtin_number(gtin), _text(lot, "lot")]))


def sgtin_id(gtin: int | str, serial: str) -> bytes:
    """Pack id: ``keccak256(abi.encode("sgtin", gtin, serial))``."""
    return keccak(encode(["string", "uint256", "string"], ["sgtin", gtin_number(gtin), _text(serial, "serial")]))


# abi.encode("sscc", n) around n: the string's offset (0x40), then (after n) its length and padded bytes
_SSCC_HEAD = (0x40).to_bytes(32, "big")
_SSCC_TAIL = (4).to_bytes(32, "big") + b"sscc".ljust(32, b"\0")


@functools.lru_cache(maxsize=65536)  # hot in every scan's pre-check; pure
def sscc_id(sscc: int | str) -> bytes:
    """Case or pallet id: ``keccak256(abi.encode("sscc", sscc))``, the encoding laid out here (eth_abi's answer,
    tests/test_ids.py, at a tenth of its cost: an EPCIS document names a thousand units)."""
    return keccak(_SSCC_HEAD + sscc_number(sscc).to_bytes(32, "big") + _SSCC_TAIL)


def pack_set(indexes: Iterable[int]) -> tuple[int, list[int]]:
    """Leaf indexes as the contract's ``PackSet``: ``(firstWord, masks)``, bit ``b`` of ``masks[k]`` being index
    ``(firstWord + k) * 256 + b``. Duplicates collapse; order does not matter."""
    words: dict[int, int] = {}
    for index in indexes:
        if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < 2**40:
            raise ValueError(f"leaf index must be an int in [0, 2**40), got {index!r}")
        words[index >> 8] = words.get(index >> 8, 0) | (1 << (index & 0xFF))
    if not words:
        raise ValueError("a pack set needs at least one index")
    first, last = min(words), max(words)
    return first, [words.get(w, 0) for w in range(first, last + 1)]


def unpack_set(first_word: int, masks: Iterable[int]) -> list[int]:
    """The ascending leaf indexes of a ``PackSet`` (for decoding ``Dispensed``/``Destroyed``/... event data)."""
    out = []
    for k, mask in enumerate(masks):
        base = (first_word + k) << 8
        out.extend(base + b for b in range(256) if mask >> b & 1)
    return out


def pack_readings(centi_degrees: list[int]) -> bytes:
    """Temperature readings as the contract takes them: big-endian int16 centi-degrees Celsius."""
    out = bytearray()
    for value in centi_degrees:
        if not isinstance(value, int) or isinstance(value, bool) or not -(2**15) <= value < 2**15:
            raise ValueError(f"reading must be an int16 in centi-degrees, got {value!r}")
        out += value.to_bytes(2, "big", signed=True)
    return bytes(out)


def unpack_readings(data: bytes) -> list[int]:
    """The inverse of :func:`pack_readings` (for decoding ``TemperatureRecorded`` event data)."""
    if len(data) % 2:
        raise ValueError(f"packed readings must be a multiple of 2 bytes, got {len(data)}")
    return [int.from_bytes(data[i : i + 2], "big", signed=True) for i in range(0, len(data), 2)]
