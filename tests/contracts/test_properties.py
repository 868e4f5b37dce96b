"""Property tests against the real contract: the dispense bitmap and multiproof dispensing from tree cases."""

from __future__ import annotations

import pytest
from eth_abi import decode
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.ids import pack_set
from tests.contracts.conftest import SERIALS
from tests.contracts.helpers import NO_PROOF, reverts, snapshot

RUN_FIRST, RUN_COUNT = 100, 800  # leaves 100 .. 899: four bitmap words, partly filled at both ends
examples = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def pack_states(world) -> list[tuple[bool, bool, bool, bool]]:
    """packState of every leaf of the lot, in one eth_call (calls encoded by hand: 1,024 of them)."""
    pt = world.pt
    head = bytes.fromhex(pt.encode_abi("packState", args=[world.lot_id, 0])[2:])[:-32]
    calls = [head + i.to_bytes(32, "big") for i in range(SERIALS)]
    return [tuple(decode(["bool"] * 4, r)) for r in pt.functions.multicall(calls).call({"from": world.admin})]


@pytest.fixture
def run_case(world):
    case = world.pack_case(1, RUN_FIRST, RUN_COUNT)
    world.deliver([case], world.maker, world.pharmacy)
    return case


@examples
@given(
    batches=st.lists(
        st.sets(st.integers(RUN_FIRST, RUN_FIRST + RUN_COUNT - 1), min_size=1, max_size=80), min_size=1, max_size=4
    ),
    again=st.sets(st.integers(RUN_FIRST, RUN_FIRST + RUN_COUNT - 1), max_size=10),
)
def test_dispense_sets_each_bit_exactly_once_and_nothing_else(world, run_case, batches, again):
    with snapshot(world.w3):
        dispensed: set[int] = set()
        for batch in batches:
            fresh = batch - dispensed
            if not fresh:
                continue
            world.dispense(run_case, sorted(fresh))
            dispensed |= fresh
        states = pack_states(world)
        for i, (allocated, is_dispensed, destroyed, quarantined) in enumerate(states):
            assert allocated == (RUN_FIRST <= i < RUN_FIRST + RUN_COUNT)
            assert is_dispensed == (i in dispensed), i
            assert not destroyed and not quarantined
        # Dispensing any of them again reverts, naming the lowest one already dispensed.
        repeat = again | {min(dispensed)}
        call = world.pt.functions.dispenseDay([(run_case, world.lot_id, pack_set(repeat), NO_PROOF)], [], [])
        reverts(world.pt, call, world.pharmacy, "PackIsInactive", world.lot_id, min(repeat & dispensed))


@st.composite
def tree_case(draw):
    """A set of packs of the lot and a non-empty subset of it to dispense."""
    children = sorted(draw(st.sets(st.integers(0, SERIALS - 1), min_size=1, max_size=120)))
    chosen = draw(st.sets(st.sampled_from(children), min_size=1))
    return children, sorted(chosen)


@examples
@given(case=tree_case(), flip=st.integers(0, 2**16))
def test_dispense_from_tree_case_accepts_the_python_multiproof_and_rejects_a_tampered_one(world, case, flip):
    children, chosen = case
    with snapshot(world.w3):
        case_id, tree = world.pack_tree(1, children)
        world.deliver([case_id], world.maker, world.pharmacy)
        packs, (proof, flags) = tree.children_proof(chosen)
        if proof:
            # A flipped bit anywhere in the sibling hashes must break the proof.
            k, byte = divmod(flip, 32) if flip // 32 < len(proof) else (flip % len(proof), flip % 32)
            bad = bytearray(proof[k])
            bad[byte] ^= 1 << (flip % 8)
            tampered = [*proof[:k], bytes(bad), *proof[k + 1 :]]
            call = world.pt.functions.dispenseDay([(case_id, world.lot_id, packs, (tampered, flags))], [], [])
            reverts(world.pt, call, world.pharmacy, "PackProofInvalid", case_id, world.lot_id)
        outsider = next(i for i in range(SERIALS) if i not in children)  # children has at most 120 packs
        # The same proof does not cover a pack the case does not hold.
        swapped = sorted({*chosen[1:], outsider})
        call = world.pt.functions.dispenseDay([(case_id, world.lot_id, pack_set(swapped), (proof, flags))], [], [])
        reverts(world.pt, call, world.pharmacy, "PackProofInvalid", case_id, world.lot_id)
        world.send(
            world.pt.functions.dispenseDay([(case_id, world.lot_id, packs, (proof, flags))], [], []), world.pharmacy
        )
        for i in children:
            assert world.pack_state(i)[1] == (i in chosen)
