"""Merkle trees and proofs, the one implementation shared by the API, the indexer, the benchmarks and the tests.

Trees are OpenZeppelin "standard" Merkle trees, built by ``murky-tree`` (a maintained Python port of
``@openzeppelin/merkle-tree``, multiproofs included): leaves are ``keccak256(bytes.concat(keccak256(abi.encode(v))))``,
pairs are hashed sorted, the tree is complete and laid out as OpenZeppelin's ``makeMerkleTree`` lays it out, so
proofs verify with OpenZeppelin's ``MerkleProof.verify`` / ``multiProofVerify``. Leaves are kept in the order given
(``sort_leaves=False``), not sorted by hash: a case's packs are then neighbours in its tree and a batch of them needs
a short multiproof; soundness does not depend on position, because every leaf carries its own index.

Two kinds of tree:

- :class:`LotTree` — a lot's serials, leaf ``i`` = ``(uint256 i, bytes32 sgtin_id)``. Its root is committed by
  ``commissionLot``; a proof shows that serial X is leaf ``i`` of the lot.
- :class:`CaseTree` — a tree case's children, leaves ``(bytes32 lot_id, uint256 index)`` in ascending index order.
  The contract computes the same root in ``packCaseTree``; ``dispense``/``destroy``/``quarantinePacks`` take a
  multiproof against it. (A run case, ``packCase``, needs no tree: its packs are a run of the lot's leaves.)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from eth_utils import to_bytes
from murky_tree import StandardMerkleTree
from murky_tree.core import hash_pair
from murky_tree.standard import standard_leaf_hash

from app.ids import pack_set

LOT_LEAF = ["uint256", "bytes32"]
CASE_LEAF = ["bytes32", "uint256"]


@dataclass(frozen=True)
class MultiProof:
    """A multiproof in the order ``MerkleProof.multiProofVerify`` expects: ``leaves`` (values, as the contract
    rebuilds them), ``proof`` (sibling hashes) and ``flags``."""

    leaves: list[list]
    proof: list[bytes]
    flags: list[bool]


class Tree:
    """A standard Merkle tree over ``values`` encoded as ``types``, leaves in the given order."""

    def __init__(self, values: Sequence[Sequence], types: Sequence[str]):
        if not values:
            raise ValueError("a Merkle tree needs at least one leaf")
        self.types = list(types)
        self._tree = StandardMerkleTree.of([list(v) for v in values], self.types, sort_leaves=False)

    def __len__(self) -> int:
        return len(self._tree.values)

    @property
    def root(self) -> bytes:
        return self._tree.tree[0]

    def value(self, position: int) -> list:
        return self._tree.values[position].value

    def proof(self, position: int) -> list[bytes]:
        """Proof of the leaf at ``position`` for ``MerkleProof.verify``."""
        return [to_bytes(hexstr=p) for p in self._tree.get_proof(position)]

    def multiproof(self, positions: Sequence[int]) -> MultiProof:
        """Multiproof of the leaves at ``positions``; ``leaves`` come back in tree order (ascending position)."""
        if not positions:
            raise ValueError("a multiproof needs at least one leaf")
        proof = self._tree.get_multi_proof(list(positions))
        return MultiProof(
            leaves=[list(v) for v in proof.leaves],
            proof=[to_bytes(hexstr=p) for p in proof.proof],
            flags=list(proof.proof_flags),
        )


class LotTree(Tree):
    """A lot's serial tree: leaf ``i`` is ``(i, sgtin_ids[i])``."""

    def __init__(self, sgtin_ids: Sequence[bytes]):
        super().__init__([(i, bytes(s)) for i, s in enumerate(sgtin_ids)], LOT_LEAF)
        self._positions = {bytes(s): i for i, s in enumerate(sgtin_ids)}
        if len(self._positions) != len(sgtin_ids):
            raise ValueError("a lot's serials must be distinct")

    def index_of(self, sgtin_id: bytes) -> int:
        """The leaf index of a pack, or KeyError when the serial is not in the lot."""
        return self._positions[bytes(sgtin_id)]


class CaseTree(Tree):
    """A case's children tree over packs ``indexes`` of ``lot_id`` (strictly ascending)."""

    def __init__(self, lot_id: bytes, indexes: Sequence[int]):
        self.lot_id = bytes(lot_id)
        self.indexes = sorted(set(indexes))
        if len(self.indexes) != len(indexes):
            raise ValueError("a case's packs must be distinct")
        self.packs = pack_set(self.indexes)
        super().__init__([(self.lot_id, i) for i in self.indexes], CASE_LEAF)
        self._positions = {index: position for position, index in enumerate(self.indexes)}

    def children_proof(self, indexes: Sequence[int]) -> tuple[tuple[int, list[int]], tuple[list[bytes], list[bool]]]:
        """``(packs, multiproof)`` as ``dispense``/``destroy``/``quarantinePacks`` take them: the ``PackSet`` and the
        ``Multiproof`` of those packs' leaves, which OpenZeppelin takes in ascending index order."""
        try:
            positions = sorted(self._positions[i] for i in set(indexes))
        except KeyError as exc:
            raise ValueError(f"pack {exc.args[0]} is not in this case") from None
        mp = self.multiproof(positions)
        ordered = [int(leaf[1]) for leaf in mp.leaves]
        if ordered != sorted(ordered):  # the contract rebuilds the leaves in ascending order
            raise AssertionError("multiproof leaves are not in ascending index order")
        return pack_set(ordered), (mp.proof, mp.flags)


def lot_leaf(index: int, sgtin_id: bytes) -> bytes:
    return leaf_hash(LOT_LEAF, [index, sgtin_id])


def case_leaf(lot_id: bytes, index: int) -> bytes:
    return leaf_hash(CASE_LEAF, [lot_id, index])


def leaf_hash(types: Sequence[str], value: Sequence) -> bytes:
    """``keccak256(bytes.concat(keccak256(abi.encode(value))))``."""
    return standard_leaf_hash(list(value), list(types))


def process_proof(leaf: bytes, proof: Sequence[bytes]) -> bytes:
    """The root implied by a single proof (``MerkleProof.processProof``)."""
    node = leaf
    for sibling in proof:
        node = hash_pair(node, sibling)
    return node


def process_multiproof(leaves: Sequence[bytes], proof: Sequence[bytes], flags: Sequence[bool]) -> bytes:
    """The root implied by a multiproof of leaf hashes, step for step as OpenZeppelin 5's
    ``MerkleProof.processMultiProof`` computes it: the queue of computed hashes is preallocated (a slot read before
    it is written reads as zero, as in Solidity), and where Solidity would revert (counts that do not fit, an index
    out of bounds, a proof hash left over) this raises ValueError. So the service never calls valid a proof the
    chain would reject, nor the reverse."""
    if len(leaves) + len(proof) != len(flags) + 1:
        raise ValueError("leaves, proof and flags do not fit together")
    hashes = [bytes(32)] * len(flags)
    pos = {"leaf": 0, "hash": 0, "proof": 0}

    def take(source: Sequence[bytes], key: str) -> bytes:
        if pos[key] >= len(source):
            raise ValueError(f"multiproof reads past its {key}s")
        pos[key] += 1
        return source[pos[key] - 1]

    def next_queued() -> bytes:
        return take(leaves, "leaf") if pos["leaf"] < len(leaves) else take(hashes, "hash")

    for i, flag in enumerate(flags):
        a = next_queued()
        b = next_queued() if flag else take(proof, "proof")
        hashes[i] = hash_pair(a, b)
    if flags:
        if pos["proof"] != len(proof):
            raise ValueError("proof not fully consumed")
        return hashes[-1]
    return leaves[0] if leaves else proof[0]


def verify(root: bytes, types: Sequence[str], value: Sequence, proof: Sequence[bytes]) -> bool:
    """Whether ``value`` is a leaf of the tree with ``root`` (what ``MerkleProof.verify`` answers)."""
    return process_proof(leaf_hash(types, value), proof) == bytes(root)


def verify_multiproof(root: bytes, types: Sequence[str], multiproof: MultiProof) -> bool:
    """Whether every leaf of ``multiproof`` is in the tree with ``root`` (``MerkleProof.multiProofVerify``)."""
    try:
        implied = process_multiproof(
            [leaf_hash(types, v) for v in multiproof.leaves], multiproof.proof, multiproof.flags
        )
    except ValueError:
        return False
    return implied == bytes(root)
