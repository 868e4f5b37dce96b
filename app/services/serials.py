"""A lot's serials off-chain: their Merkle tree, stored whole so that a pack's proof is a few slices
of one row, and a bulk loader for lots whose serial lists arrive by the million.

The tree is the one ``app.merkle.LotTree`` builds (OpenZeppelin's standard tree, leaf ``i`` =
``(uint256 i, bytes32 sgtin_id)``, leaves in the given order), computed here with keccak directly:
murky-tree takes seconds for a lot of 10,000, this takes a fraction of one. It is stored in
OpenZeppelin's layout (``lot_trees.nodes``, migrations/0006): node 0 is the root, the children of
node ``k`` are ``2k+1`` and ``2k+2``, leaf ``i`` of ``n`` is node ``2n-2-i``, 32 bytes a node.
SQL's ``lot_proof()`` slices a proof out of it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date

import sha3  # safe-pysha3: keccak-256 in C, ~0.5 µs a hash against ~3.4 µs for pycryptodome's ctypes binding

from app.db import serials as serials_db
from app.ids import gtin_number, lgtin_id

NODE = 32
MAX_TEXT_KEY = 20  # AI 21 (serial): as app.ids


def keccak(data: bytes) -> bytes:
    return sha3.keccak_256(data).digest()


# -- identifiers ----------------------------------------------------------------------------

# abi.encode("sgtin", uint256 gtin, string serial): two string offsets around the number, then
# each string as its length and its bytes padded to whole words.
_SGTIN_HEAD = (0x60).to_bytes(NODE, "big")
_SGTIN_TAIL = (0xA0).to_bytes(NODE, "big") + (5).to_bytes(NODE, "big") + b"sgtin".ljust(NODE, b"\0")


def sgtin_ids(gtin: int | str, serials: Iterable[str]) -> list[bytes]:
    """``app.ids.sgtin_id(gtin, s)`` for every serial, without eth-abi's per-call cost (≈10x faster)."""
    prefix = _SGTIN_HEAD + gtin_number(gtin).to_bytes(NODE, "big") + _SGTIN_TAIL
    out = []
    for serial in serials:
        raw = serial.encode("utf-8") if isinstance(serial, str) else None
        if raw is None or not 0 < len(raw) <= MAX_TEXT_KEY:
            raise ValueError(f"serial must be 1 to {MAX_TEXT_KEY} characters, got {serial!r}")
        out.append(keccak(prefix + len(raw).to_bytes(NODE, "big") + raw.ljust(NODE, b"\0")))
    return out


# -- trees ----------------------------------------------------------------------------------


def lot_leaf(index: int, sgtin_id: bytes) -> bytes:
    """``app.merkle.lot_leaf`` without eth-abi: keccak256(keccak256(abi.encode(uint256, bytes32)))."""
    return keccak(keccak(index.to_bytes(NODE, "big") + bytes(sgtin_id)))


def tree_nodes(sgtin_ids: Sequence[bytes], first: int = 0) -> bytes:
    """The lot's whole tree, ``2n - 1`` nodes of 32 bytes in OpenZeppelin's layout (root first):
    ``b"".join`` of ``LotTree(sgtin_ids)``'s nodes. ``first``: a commissioning batch's tree, whose leaves
    are ``(first + i, sgtin_ids[i])`` (the lot's leaf indexes, not from 0)."""
    n = len(sgtin_ids)
    if n == 0:
        raise ValueError("a Merkle tree needs at least one leaf")
    nodes: list[bytes] = [b""] * (2 * n - 1)
    last = 2 * n - 2
    for i, sgtin in enumerate(sgtin_ids):
        if len(sgtin) != NODE:
            raise ValueError(f"sgtin id {i} is {len(sgtin)} bytes, not 32")
        nodes[last - i] = lot_leaf(first + i, sgtin)
    for k in range(n - 2, -1, -1):
        a, b = nodes[2 * k + 1], nodes[2 * k + 2]
        nodes[k] = keccak(a + b if a <= b else b + a)
    return b"".join(nodes)


def implied_root(leaf: bytes, proof: Sequence[bytes]) -> bytes:
    """``app.merkle.process_proof`` with the direct keccak (the verification hot path checks every proof)."""
    node = bytes(leaf)
    for raw in proof:
        sibling = bytes(raw)
        node = keccak(node + sibling if node <= sibling else sibling + node)
    return node


def root_of(nodes: bytes) -> bytes:
    return bytes(nodes[:NODE])


def leaf_count(nodes: bytes) -> int:
    return (len(nodes) // NODE + 1) // 2


def store_tree(conn, lot_id: bytes, sgtin_ids: Sequence[bytes], nodes: bytes | None = None) -> bytes:
    """Build (unless `nodes`, built already, are given) and store the tree of a lot, in the caller's
    transaction; replaces a stored one. Returns its root, for the caller to check against the root it
    commits on chain."""
    nodes = tree_nodes(sgtin_ids) if nodes is None else nodes
    serials_db.store_tree(conn, bytes(lot_id), nodes)
    return root_of(nodes)


def proof(conn, lot_id: bytes, leaf_index: int) -> list[bytes] | None:
    """The Merkle proof of leaf ``leaf_index`` of the lot, siblings from the leaf up (what
    ``MerkleProof.verify`` and ``app.merkle.verify`` take), sliced out of the stored tree by SQL's
    ``lot_proof()``. None when the lot has no stored tree; IndexError when the lot has no such leaf. For a lot
    commissioned in batches: the proof in the tree of the batch that holds the leaf (checked against that batch's
    root, ``PharmaTrack.batch``)."""
    if leaf_index < 0:
        raise IndexError(f"leaf index {leaf_index} is negative")
    found = serials_db.proof_slice(conn, bytes(lot_id), leaf_index)
    if found is None:
        return None
    n, siblings = found
    if leaf_index >= n:
        raise IndexError(f"leaf index {leaf_index} is not in a lot of {n} serials")
    # lot_proof() answers NULL, not an empty array, for a one-serial lot: its root is its leaf.
    return siblings if siblings is not None else []


# -- bulk loading ---------------------------------------------------------------------------


@dataclass(frozen=True)
class LotSerials:
    """A lot's serial list with everything derived from it: pack ids and the tree (whose root is
    what ``commissionLot`` commits). Build it once, commission the root, then :func:`bulk_load` it."""

    gtin: str
    lot: str
    expiry: date
    serials: Sequence[str]
    organisation_id: int
    sgtin_ids: Sequence[bytes]
    nodes: bytes

    @classmethod
    def build(cls, gtin: str, lot: str, expiry: date, serials: Sequence[str], organisation_id: int) -> LotSerials:
        ids = sgtin_ids(gtin, serials)
        if len(set(ids)) != len(ids):
            raise ValueError(f"lot {lot} of {gtin}: serials must be unique within the lot")
        return cls(gtin, lot, expiry, serials, organisation_id, ids, tree_nodes(ids))

    @property
    def lot_id(self) -> bytes:
        return lgtin_id(self.gtin, self.lot)

    @property
    def root(self) -> bytes:
        return root_of(self.nodes)


def bulk_load(conn, lots: Iterable[LotSerials]) -> int:
    """COPY lots beside their on-chain commissioning (``lot_commissions`` with no operation: the
    lots were not commissioned through the API), their serials and their trees, in the caller's
    transaction. Returns the number of serials written. A lot or serial already present fails the
    COPY (unique violation), as a second commissioning would."""
    commissions, serials, trees = [], [], []
    for lot in lots:
        if len(lot.serials) != len(lot.sgtin_ids) or leaf_count(lot.nodes) != len(lot.serials):
            raise ValueError(f"lot {lot.lot} of {lot.gtin}: serials, ids and tree do not match")
        lot_id = lot.lot_id
        commissions.append((lot_id, int(lot.gtin), lot.lot, lot.expiry.isoformat(), len(lot.serials), lot.root,
                            lot.organisation_id))  # fmt: skip
        serials.extend((lot_id, i, s, sid) for i, (s, sid) in enumerate(zip(lot.serials, lot.sgtin_ids, strict=True)))
        trees.append((lot_id, lot.nodes))
    serials_db.copy_lots(conn, commissions, serials, trees)
    return len(serials)
