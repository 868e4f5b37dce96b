"""Listings of listed units (docs/gas-redesign.md §1, §3): what the contract commits a tote, consignment or roll
cage by, and what every call taking packs out of one must pass back in calldata.

A listed unit's listing is ``Listed[]``, ``Listed = (bytes32 source, bytes32 lotId, PackSet packs)``: one group per
source and lot, in the order of the ``PacksMoved`` events that made the unit. The contract stores only
``keccak256(abi.encode(Listed[]))``. A draw that sends packs to another unit leaves **the rest**: the same groups and
words, the taken packs' bits cleared (a dispensed pack stays listed; its inactive bit stops it). A roll cage stores
``keccak256(abi.encode(bytes32[] toteIds, bytes32[] hashes))`` for the totes that ride on it.

Pure: no database, no chain. The mirror (app/indexer/listings.py) keeps each unit's current listing with these
functions; the relayer decodes it back into call arguments.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from eth_abi import decode, encode
from eth_utils import keccak

from app.ids import pack_set, unpack_set

LISTED = "(bytes32,bytes32,(uint32,uint256[]))[]"
CAGE = ("bytes32[]", "bytes32[]")


@dataclass(frozen=True)
class Group:
    """One ``Listed``: packs of `lot_id` that came from `source`, as a PackSet (first_word, masks)."""

    source: bytes
    lot_id: bytes
    first_word: int
    masks: tuple[int, ...]

    def as_abi(self) -> tuple:
        return (self.source, self.lot_id, (self.first_word, list(self.masks)))

    def indexes(self) -> list[int]:
        return unpack_set(self.first_word, self.masks)


Listing = tuple[Group, ...]


def encode_listing(listing: Sequence[Group]) -> bytes:
    """abi.encode(Listed[]) — what the contract hashes, and what the mirror stores."""
    return encode([LISTED], [[g.as_abi() for g in listing]])


def decode_listing(data: bytes) -> Listing:
    (groups,) = decode([LISTED], bytes(data))
    return tuple(Group(bytes(s), bytes(lot), first, tuple(masks)) for s, lot, (first, masks) in groups)


def listing_hash(listing: Sequence[Group]) -> bytes:
    """keccak256(abi.encode(Listed[])): the listing word of a listed unit."""
    return keccak(encode_listing(listing))


def encode_cage(tote_ids: Sequence[bytes], hashes: Sequence[bytes]) -> bytes:
    """abi.encode(bytes32[] toteIds, bytes32[] hashes) — a roll cage's listing."""
    if len(tote_ids) != len(hashes):
        raise ValueError(f"a cage lists one hash a tote: {len(tote_ids)} totes, {len(hashes)} hashes")
    return encode(list(CAGE), [list(tote_ids), list(hashes)])


def decode_cage(data: bytes) -> tuple[tuple[bytes, ...], tuple[bytes, ...]]:
    tote_ids, hashes = decode(list(CAGE), bytes(data))
    return tuple(bytes(t) for t in tote_ids), tuple(bytes(h) for h in hashes)


def cage_hash(tote_ids: Sequence[bytes], hashes: Sequence[bytes]) -> bytes:
    """keccak256(abi.encode(toteIds, hashes)): the listing word of a roll cage."""
    return keccak(encode_cage(tote_ids, hashes))


def clear(listing: Sequence[Group], lot_id: bytes, first_word: int, masks: Iterable[int]) -> Listing:
    """The rest of `listing` once the packs (lot_id, first_word, masks) left it: same groups and words, those bits
    cleared. A pack is in one group of a listing (it left its case once), so each bit is cleared where it is set;
    a bit set in no group of that lot is an error (the contract refuses such a draw: PackNotInCase)."""
    left = {first_word + k: m for k, m in enumerate(masks) if m}
    out = []
    for g in listing:
        if g.lot_id != lot_id:
            out.append(g)
            continue
        new = list(g.masks)
        for k, m in enumerate(g.masks):
            hit = m & left.get(g.first_word + k, 0)
            if hit:
                new[k] = m & ~hit
                left[g.first_word + k] &= ~hit
        out.append(Group(g.source, g.lot_id, g.first_word, tuple(new)))
    stray = {w: m for w, m in left.items() if m}
    if stray:
        word, mask = min(stray.items())
        index = (word << 8) + (mask & -mask).bit_length() - 1
        raise ValueError(f"pack {index} of lot 0x{lot_id.hex()} is not in the listing")
    return tuple(out)


def taken_sets(listing: Sequence[Group], lot_id: bytes, indexes: Iterable[int]) -> list[tuple[int, list[int]]]:
    """A draw's `taken` (one PackSet per listing group, ``(0, [])`` for none) of the packs `indexes` of `lot_id`,
    each within the group that lists it; raises ValueError naming a pack the listing does not hold (or has
    cleared)."""
    wanted = set(indexes)
    out: list[tuple[int, list[int]]] = []
    for g in listing:
        if g.lot_id != lot_id or not wanted:
            out.append((0, []))
            continue
        mine = wanted & set(g.indexes())
        wanted -= mine
        out.append(pack_set(mine) if mine else (0, []))
    if wanted:
        raise ValueError(f"pack {min(wanted)} of lot 0x{lot_id.hex()} is not in the listing")
    return out
