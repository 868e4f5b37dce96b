"""Per-serial state: dispense, destroy, pack quarantine, and the bitmaps behind `packState`."""

from __future__ import annotations

import pytest

from app.ids import pack_set
from tests.contracts.conftest import SERIALS
from tests.contracts.helpers import NO_PROOF, ZERO, events, only, reverts, role

PALLET = 2
UNKNOWN = b"\x05" * 32


@pytest.fixture
def held(world):
    """A run case of leaves 200 .. 799 (four bitmap words) delivered to the pharmacy."""
    case = world.pack_case(1, 200, 600)
    world.deliver([case], world.maker, world.pharmacy)
    return case


def case_call(world, fn: str, case: bytes, indexes, multiproof=NO_PROOF, lot_id=None):
    return action(world, fn)(case, lot_id or world.lot_id, pack_set(indexes), multiproof)


def action(world, fn: str):
    """The function `fn` taking (container, lot, packs, multiproof); "dispense" is a dispenseDay of one CaseDraw."""
    if fn == "dispense":
        return lambda *args: world.pt.functions.dispenseDay([args], [], [])
    return getattr(world.pt.functions, fn)


# ---------------------------------------------------------------- dispense


def test_dispense_sets_one_bit_per_pack(world, held):
    receipt = world.dispense(held, [200, 255, 256, 700])
    for i in (200, 255, 256, 700):
        assert world.pack_state(i) == (True, True, False, False)
    for i in (201, 254, 257, 699, 701):
        assert world.pack_state(i) == (True, False, False, False)
    first_word, masks = pack_set([200, 255, 256, 700])
    logged = events(world.pt, receipt)
    assert logged[0] == (
        "Dispensed",
        {"lotId": world.lot_id, "caseId": held, "by": world.pharmacy, "firstWord": first_word, "masks": masks},
    )
    word = world.pt.functions.dispenseChain(world.pharmacy).call()
    assert [name for name, _ in logged] == ["Dispensed", "DispenseChained"]
    assert (
        logged[1][1]["word"] == word and word >> 224 == world.w3.eth.get_block(receipt.blockNumber).timestamp // 86400
    )


def test_dispense_from_a_tree_case_with_a_multiproof(world):
    case, tree = world.pack_tree(1, [3, 9, 17, 260, 261, 900])
    world.deliver([case], world.maker, world.pharmacy)
    packs, multiproof = tree.children_proof([9, 260, 900])
    receipt = world.send(
        world.pt.functions.dispenseDay([(case, world.lot_id, packs, multiproof)], [], []), world.pharmacy
    )
    assert [world.pack_state(i)[1] for i in (3, 9, 17, 260, 261, 900)] == [False, True, False, True, False, True]
    assert only(world.pt, receipt, "Dispensed")[0]["masks"] == packs[1]


def test_dispense_without_dispenser_role_reverts(world):
    case = world.pack_case(1, 0, 10)
    world.deliver([case], world.maker, world.distributor)
    call = case_call(world, "dispense", case, [1])
    reverts(world.pt, call, world.distributor, "OrganisationMissingRole", world.distributor, role("DISPENSER_ROLE"))


def test_dispense_unknown_lot_reverts(world, held):
    call = case_call(world, "dispense", held, [200], lot_id=UNKNOWN)
    reverts(world.pt, call, world.pharmacy, "LotNotFound", UNKNOWN)


def test_dispense_case_quarantined_reverts(world, held):
    world.send(world.pt.functions.quarantineUnit(held), world.regulator)
    reverts(world.pt, case_call(world, "dispense", held, [200]), world.pharmacy, "UnitIsQuarantined", held)


def test_dispense_pallet_quarantined_reverts(world):
    case = world.pack_case(1, 0, 10)
    pallet = world.pack_pallet(1, [case])
    world.deliver([pallet], world.maker, world.pharmacy)
    world.send(world.pt.functions.quarantineUnit(pallet), world.pharmacy)
    reverts(world.pt, case_call(world, "dispense", case, [0]), world.pharmacy, "UnitIsQuarantined", pallet)


def test_dispense_pack_quarantined_reverts(world, held):
    world.send(world.pt.functions.quarantinePacks(ZERO, world.lot_id, pack_set([300]), NO_PROOF), world.regulator)
    call = case_call(world, "dispense", held, [299, 300])
    reverts(world.pt, call, world.pharmacy, "PackIsQuarantined", world.lot_id, 300)
    world.dispense(held, [299, 301])


def test_dispense_twice_reverts(world, held):
    world.dispense(held, [500])
    call = case_call(world, "dispense", held, [499, 500])
    reverts(world.pt, call, world.pharmacy, "PackIsInactive", world.lot_id, 500)


def test_dispense_destroyed_pack_reverts(world, held):
    world.send(case_call(world, "destroy", held, [400]), world.pharmacy)
    reverts(world.pt, case_call(world, "dispense", held, [400]), world.pharmacy, "PackIsInactive", world.lot_id, 400)


@pytest.mark.parametrize("fn", ["dispense", "destroy", "quarantinePacks", "clearPacksQuarantine"])
def test_pack_action_proof_for_a_run_case_reverts(world, held, fn):
    for multiproof in (([b"\x01" * 32], []), ([], [False])):
        call = case_call(world, fn, held, [200], multiproof=multiproof)
        reverts(world.pt, call, world.pharmacy, "PackProofInvalid", held, world.lot_id)


# ---------------------------------------------------------------- shared by dispense and destroy (a case at rest)

CASE_ACTIONS = ["dispense", "destroy"]


@pytest.mark.parametrize("fn", CASE_ACTIONS)
def test_case_action_unknown_case_reverts(world, fn):
    reverts(world.pt, case_call(world, fn, UNKNOWN, [1]), world.pharmacy, "UnitNotFound", UNKNOWN)


@pytest.mark.parametrize("fn", CASE_ACTIONS)
def test_case_action_on_a_pallet_reverts(world, fn):
    pallet = world.pack_pallet(1, [world.pack_case(1, 0, 10)])
    world.deliver([pallet], world.maker, world.pharmacy)
    call = case_call(world, fn, pallet, [1])
    reverts(world.pt, call, world.pharmacy, "UnitWrongKind", pallet, PALLET)


@pytest.mark.parametrize("fn", CASE_ACTIONS)
def test_case_action_case_in_transit_reverts(world, held, fn):
    world.send(world.pt.functions.ship([held], world.pharmacy2), world.pharmacy)
    reverts(world.pt, case_call(world, fn, held, [200]), world.pharmacy, "UnitIsInTransit", held)


@pytest.mark.parametrize("fn", CASE_ACTIONS)
def test_case_action_pallet_in_transit_reverts(world, fn):
    case = world.pack_case(1, 0, 10)
    pallet = world.pack_pallet(1, [case])
    world.deliver([pallet], world.maker, world.pharmacy)
    world.send(world.pt.functions.ship([pallet], world.pharmacy2), world.pharmacy)
    reverts(world.pt, case_call(world, fn, case, [0]), world.pharmacy, "UnitIsInTransit", pallet)


@pytest.mark.parametrize("fn", CASE_ACTIONS)
def test_case_action_not_held_reverts(world, held, fn):
    reverts(world.pt, case_call(world, fn, held, [200]), world.pharmacy2, "UnitNotHeld", held, world.pharmacy2)


@pytest.mark.parametrize("fn", CASE_ACTIONS)
def test_case_action_empty_set_reverts(world, held, fn):
    call = action(world, fn)(held, world.lot_id, (0, []), NO_PROOF)
    reverts(world.pt, call, world.pharmacy, "PackSetEmpty", world.lot_id)


@pytest.mark.parametrize("fn", CASE_ACTIONS)
def test_case_action_pack_outside_the_run_reverts(world, held, fn):
    call = case_call(world, fn, held, [250, 800])
    reverts(world.pt, call, world.pharmacy, "PackNotInCase", held, world.lot_id, 800)
    call = case_call(world, fn, held, [199, 250])
    reverts(world.pt, call, world.pharmacy, "PackNotInCase", held, world.lot_id, 199)


@pytest.mark.parametrize("fn", CASE_ACTIONS)
def test_case_action_other_lot_reverts(world, held, fn):
    world.send(world.pt.functions.commissionLot(9506000134352, "L9", world.expiry, 1000, b"\x33" * 32), world.maker)
    other = world.pt.functions.lotIdOf(9506000134352, "L9").call()
    call = case_call(world, fn, held, [210, 220], lot_id=other)
    reverts(world.pt, call, world.pharmacy, "PackNotInCase", held, other, 210)


@pytest.mark.parametrize("fn", CASE_ACTIONS)
def test_case_action_tampered_multiproof_reverts(world, fn):
    case, tree = world.pack_tree(1, list(range(0, 64, 3)))
    world.deliver([case], world.maker, world.pharmacy)
    packs, (proof, flags) = tree.children_proof([3, 30])
    assert proof, "the subset must need sibling hashes"
    tampered = [bytes([proof[0][0] ^ 1]) + proof[0][1:], *proof[1:]]
    call = action(world, fn)(case, world.lot_id, packs, (tampered, flags))
    reverts(world.pt, call, world.pharmacy, "PackProofInvalid", case, world.lot_id)


@pytest.mark.parametrize("fn", CASE_ACTIONS)
def test_case_action_pack_not_in_tree_reverts(world, fn):
    case, tree = world.pack_tree(1, [1, 2, 3, 4])
    world.deliver([case], world.maker, world.pharmacy)
    _, multiproof = tree.children_proof([2])
    call = action(world, fn)(case, world.lot_id, pack_set([5]), multiproof)
    reverts(world.pt, call, world.pharmacy, "PackProofInvalid", case, world.lot_id)


@pytest.mark.parametrize("fn", CASE_ACTIONS)
def test_case_action_malformed_multiproof_reverts(world, fn):
    case, tree = world.pack_tree(1, [1, 2, 3, 4, 5])
    world.deliver([case], world.maker, world.pharmacy)
    packs, (proof, flags) = tree.children_proof([2, 3])
    call = action(world, fn)(case, world.lot_id, packs, (proof, [*flags, True]))
    reverts(world.pt, call, world.pharmacy, "MerkleProofInvalidMultiproof")


# ---------------------------------------------------------------- destroy


def test_destroy_packs_of_a_case(world, held):
    receipt = world.send(case_call(world, "destroy", held, [333, 334]), world.pharmacy)
    assert world.pack_state(333) == (True, False, True, False)
    assert world.pack_state(335) == (True, False, False, False)
    first_word, masks = pack_set([333, 334])
    assert events(world.pt, receipt) == [
        (
            "Destroyed",
            {"lotId": world.lot_id, "containerId": held, "by": world.pharmacy, "firstWord": first_word, "masks": masks},
        )
    ]


def test_destroy_from_a_quarantined_case(world, held):
    world.send(world.pt.functions.quarantineUnit(held), world.regulator)
    world.send(case_call(world, "destroy", held, [210]), world.pharmacy)
    assert world.pack_state(210)[2] is True


def test_destroy_line_rejects_from_loose_stock(world):
    pt = world.pt
    receipt = world.send(pt.functions.destroy(ZERO, world.lot_id, pack_set([5, 6]), NO_PROOF), world.maker)
    assert world.pack_state(5) == (False, False, True, False)
    assert only(pt, receipt, "Destroyed")[0]["containerId"] == ZERO
    # A run over them is refused (issue 14 review #10: a destroyed pack must not travel again); a tree case packs
    # around them, and a run beside them is packed as usual.
    reverts(pt, pt.functions.packCase(100, world.lot_id, 0, 10), world.maker, "PackIsInactive", world.lot_id, 5)
    reverts(pt, pt.functions.packCase(100, world.lot_id, 6, 1), world.maker, "PackIsInactive", world.lot_id, 6)
    tree_call = pt.functions.packCaseTree(100, world.lot_id, pack_set([4, 6, 7]))
    reverts(pt, tree_call, world.maker, "PackIsInactive", world.lot_id, 6)
    world.pack_tree(1, [0, 1, 2, 3, 4, 7, 8, 9])
    world.pack_case(2, 10, 300)  # crosses a bitmap word: nothing ended there
    assert world.pack_state(5) == (False, False, True, False)


def test_packCase_refuses_a_pack_stolen_from_loose_stock(world):
    pt = world.pt
    world.send(pt.functions.reportStolen([(ZERO, world.lot_id, pack_set([300]), NO_PROOF)]), world.maker)
    call = pt.functions.packCase(100, world.lot_id, 200, 200)
    reverts(pt, call, world.maker, "PackIsInactive", world.lot_id, 300)
    call = pt.functions.packCaseTree(100, world.lot_id, pack_set([299, 300]))
    reverts(pt, call, world.maker, "PackIsInactive", world.lot_id, 300)
    world.pack_case(1, 200, 100)  # up to the stolen one
    world.pack_case(2, 301, 10)
    assert world.pack_state(300) == (False, False, False, False)
    assert pt.functions.pack(world.lot_id, 300).call()[6] is True  # stolen


def test_destroy_unknown_lot_reverts(world, held):
    call = case_call(world, "destroy", held, [200], lot_id=UNKNOWN)
    reverts(world.pt, call, world.pharmacy, "LotNotFound", UNKNOWN)


def test_destroy_loose_stock_by_other_party_reverts(world):
    call = world.pt.functions.destroy(ZERO, world.lot_id, pack_set([5]), NO_PROOF)
    reverts(world.pt, call, world.distributor, "LotNotManufacturer", world.lot_id, world.distributor)


def test_destroy_loose_stock_already_packed_reverts(world):
    world.pack_case(1, 0, 10)
    call = world.pt.functions.destroy(ZERO, world.lot_id, pack_set([12, 9]), NO_PROOF)
    reverts(world.pt, call, world.maker, "PackAlreadyAllocated", world.lot_id, 9)


def test_destroy_loose_stock_beyond_the_lot_reverts(world):
    call = world.pt.functions.destroy(ZERO, world.lot_id, pack_set([SERIALS]), NO_PROOF)
    reverts(world.pt, call, world.maker, "PackIndexOutOfRange", world.lot_id, SERIALS, SERIALS)


def test_destroy_loose_stock_empty_set_reverts(world):
    call = world.pt.functions.destroy(ZERO, world.lot_id, (3, [0]), NO_PROOF)
    reverts(world.pt, call, world.maker, "PackSetEmpty", world.lot_id)


def test_destroy_twice_reverts(world, held):
    world.send(case_call(world, "destroy", held, [640]), world.pharmacy)
    reverts(world.pt, case_call(world, "destroy", held, [640]), world.pharmacy, "PackIsInactive", world.lot_id, 640)


def test_destroy_dispensed_pack_reverts(world, held):
    world.dispense(held, [641])
    reverts(world.pt, case_call(world, "destroy", held, [641]), world.pharmacy, "PackIsInactive", world.lot_id, 641)


# ---------------------------------------------------------------- quarantinePacks / clearPacksQuarantine


def test_quarantinePacks_by_holder_through_its_case(world, held):
    pt = world.pt
    receipt = world.send(case_call(world, "quarantinePacks", held, [220, 221]), world.pharmacy)
    assert world.pack_state(220) == (True, False, False, True)
    assert pt.functions.lot(world.lot_id).call()[8] == 2
    first_word, masks = pack_set([220, 221])
    assert events(pt, receipt) == [
        (
            "PacksQuarantined",
            {"lotId": world.lot_id, "containerId": held, "by": world.pharmacy, "firstWord": first_word, "masks": masks},
        )
    ]


def test_quarantinePacks_by_regulator_by_lot_index(world, held):
    world.send(world.pt.functions.quarantinePacks(ZERO, world.lot_id, pack_set([7, 700]), NO_PROOF), world.regulator)
    assert (world.pack_state(7)[3], world.pack_state(700)[3]) == (True, True)


def test_quarantinePacks_by_regulator_through_a_case_it_does_not_hold(world, held):
    world.send(case_call(world, "quarantinePacks", held, [250]), world.regulator)
    assert world.pack_state(250)[3] is True


def test_quarantinePacks_loose_stock_by_manufacturer(world):
    world.send(world.pt.functions.quarantinePacks(ZERO, world.lot_id, pack_set([1000]), NO_PROOF), world.maker)
    assert world.pack_state(1000) == (False, False, False, True)


def test_clearPacksQuarantine_lets_the_pack_be_dispensed(world, held):
    pt = world.pt
    world.send(case_call(world, "quarantinePacks", held, [230, 231]), world.pharmacy)
    receipt = world.send(case_call(world, "clearPacksQuarantine", held, [230]), world.regulator)
    assert (world.pack_state(230)[3], world.pack_state(231)[3]) == (False, True)
    assert pt.functions.lot(world.lot_id).call()[8] == 1
    assert [name for name, _ in events(pt, receipt)] == ["PacksQuarantineCleared"]
    world.dispense(held, [230])


def test_quarantinePacks_twice_reverts(world, held):
    world.send(case_call(world, "quarantinePacks", held, [240]), world.pharmacy)
    call = case_call(world, "quarantinePacks", held, [239, 240])
    reverts(world.pt, call, world.pharmacy, "PackIsQuarantined", world.lot_id, 240)


def test_clearPacksQuarantine_not_quarantined_reverts(world, held):
    world.send(case_call(world, "quarantinePacks", held, [240]), world.pharmacy)
    call = case_call(world, "clearPacksQuarantine", held, [240, 241])
    reverts(world.pt, call, world.pharmacy, "PackNotQuarantined", world.lot_id, 241)


QUARANTINE_ACTIONS = ["quarantinePacks", "clearPacksQuarantine"]


@pytest.mark.parametrize("fn", QUARANTINE_ACTIONS)
def test_pack_quarantine_unknown_lot_reverts(world, held, fn):
    call = case_call(world, fn, held, [200], lot_id=UNKNOWN)
    reverts(world.pt, call, world.pharmacy, "LotNotFound", UNKNOWN)


@pytest.mark.parametrize("fn", QUARANTINE_ACTIONS)
def test_pack_quarantine_case_not_held_reverts(world, held, fn):
    reverts(world.pt, case_call(world, fn, held, [200]), world.distributor, "UnitNotHeld", held, world.distributor)


@pytest.mark.parametrize("fn", QUARANTINE_ACTIONS)
def test_pack_quarantine_unknown_case_reverts(world, fn):
    reverts(world.pt, case_call(world, fn, UNKNOWN, [1]), world.regulator, "UnitNotFound", UNKNOWN)


@pytest.mark.parametrize("fn", QUARANTINE_ACTIONS)
def test_pack_quarantine_on_a_pallet_reverts(world, fn):
    pallet = world.pack_pallet(1, [world.pack_case(1, 0, 10)])
    reverts(world.pt, case_call(world, fn, pallet, [1]), world.maker, "UnitWrongKind", pallet, PALLET)


@pytest.mark.parametrize("fn", QUARANTINE_ACTIONS)
def test_pack_quarantine_pack_outside_the_case_reverts(world, held, fn):
    call = case_call(world, fn, held, [100])
    reverts(world.pt, call, world.pharmacy, "PackNotInCase", held, world.lot_id, 100)


@pytest.mark.parametrize("fn", QUARANTINE_ACTIONS)
def test_pack_quarantine_tampered_multiproof_reverts(world, fn):
    case, tree = world.pack_tree(1, [1, 2, 3, 4, 5, 6])
    packs, (proof, flags) = tree.children_proof([2])
    tampered = [b"\x07" * 32, *proof[1:]]
    call = action(world, fn)(case, world.lot_id, packs, (tampered, flags))
    reverts(world.pt, call, world.maker, "PackProofInvalid", case, world.lot_id)


@pytest.mark.parametrize("fn", QUARANTINE_ACTIONS)
def test_pack_quarantine_loose_stock_by_other_party_reverts(world, fn):
    call = action(world, fn)(ZERO, world.lot_id, pack_set([1]), NO_PROOF)
    reverts(world.pt, call, world.pharmacy, "LotNotManufacturer", world.lot_id, world.pharmacy)


@pytest.mark.parametrize("fn", QUARANTINE_ACTIONS)
def test_pack_quarantine_loose_stock_already_packed_reverts(world, held, fn):
    call = action(world, fn)(ZERO, world.lot_id, pack_set([300]), NO_PROOF)
    reverts(world.pt, call, world.maker, "PackAlreadyAllocated", world.lot_id, 300)


@pytest.mark.parametrize("fn", QUARANTINE_ACTIONS)
def test_pack_quarantine_beyond_the_lot_reverts(world, fn):
    call = action(world, fn)(ZERO, world.lot_id, pack_set([SERIALS + 1]), NO_PROOF)
    reverts(world.pt, call, world.regulator, "PackIndexOutOfRange", world.lot_id, SERIALS + 1, SERIALS)


@pytest.mark.parametrize("fn", QUARANTINE_ACTIONS)
def test_pack_quarantine_empty_set_reverts(world, fn):
    call = action(world, fn)(ZERO, world.lot_id, (0, []), NO_PROOF)
    reverts(world.pt, call, world.regulator, "PackSetEmpty", world.lot_id)


def test_packState_unknown_lot_is_all_false(world):
    assert world.pack_state(0, lot_id=UNKNOWN) == (False, False, False, False)
