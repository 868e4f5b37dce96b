"""app.merkle: OpenZeppelin standard trees (murky-tree), proofs and multiproofs, checked against an independent
re-implementation of OpenZeppelin's tree layout and against known vectors."""

from __future__ import annotations

import pytest
from eth_abi import encode
from eth_utils import keccak
from hypothesis import given
from hypothesis import strategies as st

from app.ids import pack_set
from app.merkle import (
    CASE_LEAF,
    LOT_LEAF,
    CaseTree,
    LotTree,
    MultiProof,
    Tree,
    case_leaf,
    leaf_hash,
    lot_leaf,
    process_multiproof,
    verify,
    verify_multiproof,
)


def pair(a: bytes, b: bytes) -> bytes:
    return keccak(min(a, b) + max(a, b))


def reference_root(leaves: list[bytes]) -> bytes:
    """OpenZeppelin's makeMerkleTree, written out: leaves reversed at the end of a 2n-1 array, parents upwards."""
    n = len(leaves)
    tree = [b""] * (2 * n - 1)
    for i, leaf in enumerate(leaves):
        tree[2 * n - 2 - i] = leaf
    for i in range(n - 2, -1, -1):
        tree[i] = pair(tree[2 * i + 1], tree[2 * i + 2])
    return tree[0]


def test_leaf_hash_is_double_keccak_of_abi_encode():
    lot_id = b"\x42" * 32
    assert case_leaf(lot_id, 7) == keccak(keccak(encode(["bytes32", "uint256"], [lot_id, 7])))
    assert lot_leaf(7, lot_id) == keccak(keccak(encode(["uint256", "bytes32"], [7, lot_id])))


def test_tree_matches_the_openzeppelin_readme_vector():
    # @openzeppelin/merkle-tree README: these two values give this root.
    values = [
        ["0x1111111111111111111111111111111111111111", 5000000000000000000],
        ["0x2222222222222222222222222222222222222222", 2500000000000000000],
    ]
    tree = Tree(values, ["address", "uint256"])
    assert tree.root.hex() == "d4dee0beab2d53f2cc83e567171bd2820e49898130a22622b10ead383e90bd77"


def test_three_leaf_tree_has_openzeppelin_shape():
    a, b, c = (lot_leaf(i, bytes([i]) * 32) for i in range(3))
    tree = LotTree([bytes([i]) * 32 for i in range(3)])
    assert tree.root == pair(pair(a, b), c)


@given(st.integers(1, 600))
def test_lot_tree_root_matches_reference_layout(n):
    ids = [keccak(i.to_bytes(4, "big")) for i in range(n)]
    assert LotTree(ids).root == reference_root([lot_leaf(i, s) for i, s in enumerate(ids)])


def test_lot_tree_of_ten_thousand_serials_builds():
    ids = [keccak(i.to_bytes(4, "big")) for i in range(10_000)]
    tree = LotTree(ids)
    assert len(tree) == 10_000
    assert tree.index_of(ids[9_999]) == 9_999
    assert verify(tree.root, LOT_LEAF, [9_999, ids[9_999]], tree.proof(9_999))


def test_lot_tree_rejects_duplicate_serials_and_unknown_lookups():
    with pytest.raises(ValueError, match="distinct"):
        LotTree([b"\x01" * 32, b"\x01" * 32])
    with pytest.raises(KeyError):
        LotTree([b"\x01" * 32]).index_of(b"\x02" * 32)


def test_tree_needs_a_leaf():
    with pytest.raises(ValueError, match="at least one leaf"):
        Tree([], LOT_LEAF)
    with pytest.raises(ValueError, match="at least one leaf"):
        LotTree([b"\x01" * 32]).multiproof([])


@st.composite
def tree_and_subset(draw):
    ids = draw(st.lists(st.binary(min_size=32, max_size=32), min_size=1, max_size=200, unique=True))
    subset = draw(st.sets(st.integers(0, len(ids) - 1), min_size=1))
    return ids, sorted(subset)


@given(tree_and_subset(), st.integers(0, 255))
def test_multiproof_verifies_and_tampering_breaks_it(case, bit):
    ids, subset = case
    tree = LotTree(ids)
    mp = tree.multiproof(subset)
    assert sorted(int(v[0]) for v in mp.leaves) == subset
    assert verify_multiproof(tree.root, LOT_LEAF, mp)
    leaves = [[*v] for v in mp.leaves]
    leaves[0][1] = bytes([leaves[0][1][0] ^ (1 << (bit % 8))]) + leaves[0][1][1:]
    assert not verify_multiproof(tree.root, LOT_LEAF, MultiProof(leaves, mp.proof, mp.flags))
    if mp.proof:
        k = bit % len(mp.proof)
        bad = [*mp.proof[:k], keccak(mp.proof[k]), *mp.proof[k + 1 :]]
        assert not verify_multiproof(tree.root, LOT_LEAF, MultiProof(mp.leaves, bad, mp.flags))


@given(tree_and_subset())
def test_single_proofs_verify(case):
    ids, subset = case
    tree = LotTree(ids)
    for i in subset[:5]:
        assert verify(tree.root, LOT_LEAF, [i, ids[i]], tree.proof(i))
        assert not verify(tree.root, LOT_LEAF, [i + 1, ids[i]], tree.proof(i))


def test_process_multiproof_checks_like_openzeppelin():
    a, b = b"\x01" * 32, b"\x02" * 32
    with pytest.raises(ValueError, match="do not fit"):
        process_multiproof([a, b], [], [True, True])
    with pytest.raises(ValueError, match="not fully consumed"):
        # Two leaves, two proof hashes, three flags: counts fit, but a flag pairs two queued nodes so a proof
        # hash is left over, which OpenZeppelin rejects.
        process_multiproof([a, b], [a, b], [True, True, False])
    assert process_multiproof([a], [], []) == a
    assert process_multiproof([], [b], []) == b
    assert not verify_multiproof(a, LOT_LEAF, MultiProof([[0, a]], [a, b], [True]))


def test_case_tree_children_proof_is_the_contract_input():
    lot_id = b"\x09" * 32
    tree = CaseTree(lot_id, [900, 3, 255, 256])
    assert tree.indexes == [3, 255, 256, 900]
    assert tree.packs == pack_set([3, 255, 256, 900])
    packs, (proof, flags) = tree.children_proof([900, 3])
    assert packs == pack_set([3, 900])
    mp = tree.multiproof([0, 3])
    assert (mp.proof, mp.flags) == (proof, flags)
    assert verify_multiproof(tree.root, CASE_LEAF, mp)
    assert tree.root == reference_root([case_leaf(lot_id, i) for i in [3, 255, 256, 900]])


def test_case_tree_rejects_duplicates_and_foreign_packs():
    with pytest.raises(ValueError, match="distinct"):
        CaseTree(b"\x09" * 32, [1, 1])
    with pytest.raises(ValueError, match="not in this case"):
        CaseTree(b"\x09" * 32, [1, 2]).children_proof([3])


def test_leaf_hash_of_a_tuple_value_matches_the_lot_leaf():
    assert leaf_hash(LOT_LEAF, (5, b"\x01" * 32)) == lot_leaf(5, b"\x01" * 32)
