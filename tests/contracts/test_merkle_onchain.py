"""app.merkle's proofs verify with OpenZeppelin's MerkleProof on-chain, for random trees and subsets; tampered
proofs do not."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from web3.exceptions import ContractLogicError

from app.chain.compiler import compile_contracts
from app.ids import pack_set
from app.merkle import CASE_LEAF, LOT_LEAF, CaseTree, LotTree, process_multiproof, verify, verify_multiproof
from tests.conftest import deploy

ROOT = Path(__file__).resolve().parents[2]
examples = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def harness(w3):
    artifacts = compile_contracts(
        src_dir=ROOT / "tests" / "contracts" / "harness", out_dir=ROOT / "build" / "test-harness"
    )
    return deploy(w3, artifacts["MerkleHarness"])


@st.composite
def lot_and_subset(draw):
    ids = draw(st.lists(st.binary(min_size=32, max_size=32), min_size=1, max_size=300, unique=True))
    subset = draw(st.sets(st.integers(0, len(ids) - 1), min_size=1))
    return ids, sorted(subset)


def flip(data: bytes, bit: int) -> bytes:
    out = bytearray(data)
    out[(bit // 8) % len(out)] ^= 1 << (bit % 8)
    return bytes(out)


@examples
@given(case=lot_and_subset(), bit=st.integers(0, 255))
def test_lot_tree_single_proof_verifies_on_chain(harness, case, bit):
    ids, subset = case
    tree = LotTree(ids)
    i = subset[0]
    proof = tree.proof(i)
    assert harness.functions.verifyLotLeaf(proof, tree.root, i, ids[i]).call()
    assert verify(tree.root, LOT_LEAF, [i, ids[i]], proof)
    # Another serial at that index is not in the lot.
    assert not harness.functions.verifyLotLeaf(proof, tree.root, i, flip(ids[i], bit)).call()
    assert not verify(tree.root, LOT_LEAF, [i, flip(ids[i], bit)], proof)
    if proof:
        bad = [flip(proof[0], bit), *proof[1:]]
        assert not harness.functions.verifyLotLeaf(bad, tree.root, i, ids[i]).call()
        assert not verify(tree.root, LOT_LEAF, [i, ids[i]], bad)


@examples
@given(case=lot_and_subset(), bit=st.integers(0, 255))
def test_lot_tree_multiproof_verifies_on_chain(harness, case, bit):
    ids, subset = case
    tree = LotTree(ids)
    mp = tree.multiproof(subset)
    indexes = [int(v[0]) for v in mp.leaves]
    assert sorted(indexes) == subset
    args = (mp.proof, mp.flags, tree.root, indexes, [bytes(v[1]) for v in mp.leaves])
    assert harness.functions.multiVerifyLotLeaves(*args).call()
    assert verify_multiproof(tree.root, LOT_LEAF, mp)
    if mp.proof:
        k = bit % len(mp.proof)
        bad = [*mp.proof[:k], flip(mp.proof[k], bit), *mp.proof[k + 1 :]]
        assert not harness.functions.multiVerifyLotLeaves(bad, *args[1:]).call()
        assert not verify_multiproof(tree.root, LOT_LEAF, type(mp)(mp.leaves, bad, mp.flags))


@examples
@given(
    indexes=st.sets(st.integers(0, 2**32 - 1), min_size=1, max_size=200),
    lot_id=st.binary(min_size=32, max_size=32),
    data=st.data(),
)
def test_case_tree_multiproof_verifies_on_chain(harness, indexes, lot_id, data):
    tree = CaseTree(lot_id, sorted(indexes))
    chosen = data.draw(st.sets(st.sampled_from(tree.indexes), min_size=1))
    packs, (proof, flags) = tree.children_proof(sorted(chosen))
    ordered = sorted(chosen)
    assert packs == pack_set(ordered)
    assert harness.functions.multiVerifyCaseLeaves(proof, flags, tree.root, lot_id, ordered).call()
    mp = tree.multiproof([tree.indexes.index(i) for i in ordered])
    assert verify_multiproof(tree.root, CASE_LEAF, mp)
    # The same proof for another lot's packs fails.
    other = flip(lot_id, 0)
    assert not harness.functions.multiVerifyCaseLeaves(proof, flags, tree.root, other, ordered).call()


@examples
@given(
    leaves=st.lists(st.binary(min_size=32, max_size=32), max_size=6),
    proof=st.lists(st.binary(min_size=32, max_size=32), max_size=6),
    flags=st.lists(st.booleans(), max_size=12),
)
def test_process_multiproof_agrees_with_openzeppelin_on_any_input(harness, leaves, proof, flags):
    """Same root, or both refuse: Python raises ValueError exactly when OpenZeppelin reverts."""
    try:
        expected = harness.functions.processMultiProof(proof, flags, leaves).call()
    except ContractLogicError:
        with pytest.raises(ValueError):
            process_multiproof(leaves, proof, flags)
        return
    assert process_multiproof(leaves, proof, flags) == expected
