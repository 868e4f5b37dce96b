"""Cases (runs of leaves, or trees) and pallets: packing, unpacking, what `unit` reports."""

from __future__ import annotations

import pytest

from app.ids import pack_set, sscc_id
from app.merkle import CaseTree
from tests.contracts.conftest import CASE_SSCC, FROZEN_GTIN, FROZEN_MAX, MAX_TEMP, MIN_TEMP, PALLET_SSCC, SERIALS
from tests.contracts.helpers import NO_PROOF, ZERO, events, reverts

NOBODY = "0x" + "00" * 20
CASE, PALLET = 1, 2


# ---------------------------------------------------------------- packCase


def test_packCase_makes_a_case_of_a_run_of_leaves(world):
    pt = world.pt
    receipt = world.send(pt.functions.packCase(CASE_SSCC + 1, world.lot_id, 100, 50), world.maker)
    case = sscc_id(CASE_SSCC + 1)
    info = world.unit(case)
    assert info == {
        "kind": CASE,
        "custodian": world.maker,
        "recipient": NOBODY,
        "container": ZERO,
        "inTransit": False,
        "quarantined": False,
        "excursion": False,
        "unpacked": False,
        "minTemp": MIN_TEMP,
        "maxTemp": MAX_TEMP,
        "lotId": world.lot_id,
        "firstIndex": 100,
        "children": 50,
        "childrenRoot": ZERO,
        "sender": NOBODY,
        "returnPending": False,
    }
    assert [world.pack_state(i)[0] for i in (99, 100, 149, 150)] == [False, True, True, False]
    assert events(pt, receipt) == [
        (
            "CasePacked",
            {
                "caseId": case,
                "lotId": world.lot_id,
                "packer": world.maker,
                "sscc": CASE_SSCC + 1,
                "firstIndex": 100,
                "count": 50,
            },
        )
    ]


def test_packCase_run_across_bitmap_words(world):
    world.pack_case(1, 200, 600)  # words 0 to 3
    assert [world.pack_state(i)[0] for i in (199, 200, 255, 256, 511, 512, 799, 800)] == [
        False,
        True,
        True,
        True,
        True,
        True,
        True,
        False,
    ]


PACKINGS = {
    "packCase": lambda w, sscc, lot_id: w.pt.functions.packCase(sscc, lot_id, 0, 1),
    "packCaseTree": lambda w, sscc, lot_id: w.pt.functions.packCaseTree(sscc, lot_id, pack_set([0])),
}


@pytest.mark.parametrize("fn", sorted(PACKINGS))
def test_case_packing_unknown_lot_reverts(world, fn):
    call = PACKINGS[fn](world, CASE_SSCC, b"\x01" * 32)
    reverts(world.pt, call, world.maker, "LotNotFound", b"\x01" * 32)


@pytest.mark.parametrize("fn", sorted(PACKINGS))
def test_case_packing_by_other_party_reverts(world, fn):
    call = PACKINGS[fn](world, CASE_SSCC, world.lot_id)
    reverts(world.pt, call, world.distributor, "LotNotManufacturer", world.lot_id, world.distributor)


@pytest.mark.parametrize("fn", sorted(PACKINGS))
def test_case_packing_recalled_lot_reverts(world, fn):
    world.send(world.pt.functions.recallLot(world.lot_id), world.regulator)
    call = PACKINGS[fn](world, CASE_SSCC, world.lot_id)
    reverts(world.pt, call, world.maker, "LotIsRecalled", world.lot_id)


@pytest.mark.parametrize("fn", sorted(PACKINGS))
def test_case_packing_quarantined_lot_reverts(world, fn):
    world.send(world.pt.functions.quarantineLot(world.lot_id), world.regulator)
    call = PACKINGS[fn](world, CASE_SSCC, world.lot_id)
    reverts(world.pt, call, world.maker, "LotIsQuarantined", world.lot_id)


@pytest.mark.parametrize("fn", sorted(PACKINGS))
def test_case_packing_invalid_sscc_reverts(world, fn):
    for sscc in (0, 10**18):
        reverts(world.pt, PACKINGS[fn](world, sscc, world.lot_id), world.maker, "UnitInvalidSscc", sscc)


def test_packCase_existing_sscc_reverts(world):
    case = world.pack_case(1, 0, 10)
    call = world.pt.functions.packCase(CASE_SSCC + 1, world.lot_id, 10, 10)
    reverts(world.pt, call, world.maker, "UnitAlreadyExists", case)


def test_packCase_no_packs_reverts(world):
    call = world.pt.functions.packCase(CASE_SSCC, world.lot_id, 0, 0)
    reverts(world.pt, call, world.maker, "UnitEmpty", sscc_id(CASE_SSCC))


def test_packCase_beyond_the_lot_reverts(world):
    call = world.pt.functions.packCase(CASE_SSCC, world.lot_id, SERIALS - 5, 6)
    reverts(world.pt, call, world.maker, "PackIndexOutOfRange", world.lot_id, SERIALS, SERIALS)


def test_packCase_overlapping_an_earlier_case_reverts(world):
    world.pack_case(1, 300, 100)
    call = world.pt.functions.packCase(CASE_SSCC + 2, world.lot_id, 250, 60)
    reverts(world.pt, call, world.maker, "PackAlreadyAllocated", world.lot_id, 300)


# ---------------------------------------------------------------- packCaseTree


def test_packCaseTree_commits_children_by_the_python_root(world):
    pt = world.pt
    indexes = [3, 7, 255, 256, 600, 1023]
    tree = CaseTree(world.lot_id, indexes)
    receipt = world.send(pt.functions.packCaseTree(CASE_SSCC + 1, world.lot_id, tree.packs), world.maker)
    case = sscc_id(CASE_SSCC + 1)
    info = world.unit(case)
    assert (info["kind"], info["custodian"], info["children"], info["childrenRoot"]) == (
        CASE,
        world.maker,
        6,
        tree.root,
    )
    assert info["lotId"] == world.lot_id
    assert [world.pack_state(i)[0] for i in (2, 3, 7, 8, 1023)] == [False, True, True, False, True]
    first_word, masks = tree.packs
    assert events(pt, receipt) == [
        (
            "CaseTreePacked",
            {
                "caseId": case,
                "lotId": world.lot_id,
                "packer": world.maker,
                "sscc": CASE_SSCC + 1,
                "childrenRoot": tree.root,
                "firstWord": first_word,
                "masks": masks,
            },
        )
    ]


def test_packCaseTree_single_pack_root_is_its_leaf(world):
    case, tree = world.pack_tree(1, [42])
    assert world.unit(case)["childrenRoot"] == tree.root


def test_packCaseTree_empty_set_reverts(world):
    call = world.pt.functions.packCaseTree(CASE_SSCC, world.lot_id, (0, [0, 0]))
    reverts(world.pt, call, world.maker, "PackSetEmpty", world.lot_id)


def test_packCaseTree_beyond_the_lot_reverts(world):
    call = world.pt.functions.packCaseTree(CASE_SSCC, world.lot_id, pack_set([5, SERIALS + 3]))
    reverts(world.pt, call, world.maker, "PackIndexOutOfRange", world.lot_id, SERIALS + 3, SERIALS)


def test_packCaseTree_allocated_pack_reverts(world):
    world.pack_case(1, 0, 10)
    call = world.pt.functions.packCaseTree(CASE_SSCC + 2, world.lot_id, pack_set([12, 9]))
    reverts(world.pt, call, world.maker, "PackAlreadyAllocated", world.lot_id, 9)


def test_packCaseTree_existing_sscc_reverts(world):
    case = world.pack_case(1, 0, 10)
    call = world.pt.functions.packCaseTree(CASE_SSCC + 1, world.lot_id, pack_set([20]))
    reverts(world.pt, call, world.maker, "UnitAlreadyExists", case)


# ---------------------------------------------------------------- packPallet


def test_packPallet_puts_cases_on_a_pallet(world):
    pt = world.pt
    cases = [world.pack_case(n, n * 10, 10) for n in range(3)]
    receipt = world.send(pt.functions.packPallet(PALLET_SSCC + 1, cases), world.maker)
    pallet = sscc_id(PALLET_SSCC + 1)
    info = world.unit(pallet)
    assert (info["kind"], info["custodian"], info["children"], info["container"]) == (PALLET, world.maker, 3, ZERO)
    assert (info["minTemp"], info["maxTemp"]) == (MIN_TEMP, MAX_TEMP)
    for case in cases:
        assert (world.unit(case)["container"], world.unit(case)["custodian"]) == (pallet, world.maker)
    assert events(pt, receipt) == [
        ("PalletPacked", {"palletId": pallet, "packer": world.maker, "sscc": PALLET_SSCC + 1, "caseIds": cases})
    ]


def test_packPallet_range_is_the_intersection_of_its_cases(world):
    pt = world.pt
    cold = world.pack_case(1, 0, 10)
    world.send(pt.functions.commissionLot(FROZEN_GTIN, "F1", world.expiry, 10, b"\x22" * 32), world.maker2)
    frozen_lot = pt.functions.lotIdOf(FROZEN_GTIN, "F1").call()
    frozen = world.pack_case(2, 0, 10, lot_id=frozen_lot, by=world.maker2)
    world.deliver([cold], world.maker, world.distributor)
    world.deliver([frozen], world.maker2, world.distributor)
    pallet = world.pack_pallet(1, [cold, frozen], by=world.distributor)
    info = world.unit(pallet)
    # No temperature suits both: every reading will be an excursion, as it should.
    assert (info["minTemp"], info["maxTemp"]) == (MIN_TEMP, FROZEN_MAX)


def test_packPallet_no_cases_reverts(world):
    call = world.pt.functions.packPallet(PALLET_SSCC, [])
    reverts(world.pt, call, world.maker, "UnitEmpty", sscc_id(PALLET_SSCC))


def test_packPallet_invalid_sscc_reverts(world):
    call = world.pt.functions.packPallet(0, [world.pack_case(1, 0, 1)])
    reverts(world.pt, call, world.maker, "UnitInvalidSscc", 0)


def test_packPallet_existing_sscc_reverts(world):
    case = world.pack_case(1, 0, 1)
    call = world.pt.functions.packPallet(CASE_SSCC + 1, [case])
    reverts(world.pt, call, world.maker, "UnitAlreadyExists", case)


def test_packPallet_unknown_case_reverts(world):
    call = world.pt.functions.packPallet(PALLET_SSCC, [b"\x05" * 32])
    reverts(world.pt, call, world.maker, "UnitNotFound", b"\x05" * 32)


def test_packPallet_pallet_on_pallet_reverts(world):
    case = world.pack_case(1, 0, 1)
    inner = world.pack_pallet(1, [case])
    world.send(world.pt.functions.unpack([inner]), world.maker)
    call = world.pt.functions.packPallet(PALLET_SSCC + 2, [case, inner])
    # The released case may go on the new pallet; the (unpacked) pallet may not.
    reverts(world.pt, call, world.maker, "UnitIsUnpacked", inner)
    other = world.pack_pallet(3, [world.pack_case(4, 10, 1)])
    reverts(
        world.pt, world.pt.functions.packPallet(PALLET_SSCC + 2, [other]), world.maker, "UnitWrongKind", other, PALLET
    )


def test_packPallet_case_already_on_a_pallet_reverts(world):
    case = world.pack_case(1, 0, 1)
    pallet = world.pack_pallet(1, [case])
    call = world.pt.functions.packPallet(PALLET_SSCC + 2, [case])
    reverts(world.pt, call, world.maker, "UnitInContainer", case, pallet)


def test_packPallet_same_case_twice_reverts(world):
    case = world.pack_case(1, 0, 1)
    call = world.pt.functions.packPallet(PALLET_SSCC + 2, [case, case])
    reverts(world.pt, call, world.maker, "UnitInContainer", case, sscc_id(PALLET_SSCC + 2))


def test_packPallet_case_held_by_another_reverts(world):
    case = world.pack_case(1, 0, 1)
    call = world.pt.functions.packPallet(PALLET_SSCC, [case])
    reverts(world.pt, call, world.distributor, "UnitNotHeld", case, world.distributor)


def test_packPallet_case_in_transit_reverts(world):
    case = world.pack_case(1, 0, 1)
    world.send(world.pt.functions.ship([case], world.distributor), world.maker)
    reverts(world.pt, world.pt.functions.packPallet(PALLET_SSCC, [case]), world.maker, "UnitIsInTransit", case)


def test_packPallet_opened_case_reverts(world):
    case = world.pack_case(1, 0, 1)
    world.send(world.pt.functions.unpack([case]), world.maker)
    reverts(world.pt, world.pt.functions.packPallet(PALLET_SSCC, [case]), world.maker, "UnitIsUnpacked", case)


def test_packPallet_quarantined_case_reverts(world):
    case = world.pack_case(1, 0, 1)
    world.send(world.pt.functions.quarantineUnit(case), world.maker)
    reverts(world.pt, world.pt.functions.packPallet(PALLET_SSCC, [case]), world.maker, "UnitIsQuarantined", case)


# ---------------------------------------------------------------- unpack


def test_unpack_pallet_releases_its_cases_to_its_holder(world):
    pt = world.pt
    cases = [world.pack_case(n, n * 10, 10) for n in range(2)]
    pallet = world.pack_pallet(1, cases)
    world.deliver([pallet], world.maker, world.distributor)
    receipt = world.send(pt.functions.unpack([pallet]), world.distributor)
    assert world.unit(pallet)["unpacked"] is True
    for case in cases:
        info = world.unit(case)
        assert (info["container"], info["custodian"]) == (ZERO, world.distributor)
    assert events(pt, receipt) == [("Unpacked", {"unitId": pallet, "by": world.distributor})]
    # The released cases move on their own.
    world.deliver(cases, world.distributor, world.pharmacy)
    assert world.unit(cases[0])["custodian"] == world.pharmacy


def test_unpack_case_opens_it_and_its_packs_stay_dispensable(world):
    pt = world.pt
    case = world.pack_case(1, 0, 10)
    world.deliver([case], world.maker, world.pharmacy)
    receipt = world.send(pt.functions.unpack([case]), world.pharmacy)
    assert world.unit(case)["unpacked"] is True
    assert events(pt, receipt) == [("Unpacked", {"unitId": case, "by": world.pharmacy})]
    world.dispense(case, [4])
    assert world.pack_state(4) == (True, True, False, False)


def test_unpack_unknown_unit_reverts(world):
    reverts(world.pt, world.pt.functions.unpack([b"\x05" * 32]), world.maker, "UnitNotFound", b"\x05" * 32)


def test_unpack_case_on_a_pallet_reverts(world):
    case = world.pack_case(1, 0, 1)
    pallet = world.pack_pallet(1, [case])
    reverts(world.pt, world.pt.functions.unpack([case]), world.maker, "UnitInContainer", case, pallet)


def test_unpack_unit_held_by_another_reverts(world):
    case = world.pack_case(1, 0, 1)
    reverts(world.pt, world.pt.functions.unpack([case]), world.pharmacy, "UnitNotHeld", case, world.pharmacy)


def test_unpack_unit_in_transit_reverts(world):
    case = world.pack_case(1, 0, 1)
    world.send(world.pt.functions.ship([case], world.pharmacy), world.maker)
    reverts(world.pt, world.pt.functions.unpack([case]), world.maker, "UnitIsInTransit", case)


def test_unpack_twice_reverts(world):
    case = world.pack_case(1, 0, 1)
    world.send(world.pt.functions.unpack([case]), world.maker)
    reverts(world.pt, world.pt.functions.unpack([case]), world.maker, "UnitIsUnpacked", case)


def test_unpack_quarantined_unit_reverts(world):
    case = world.pack_case(1, 0, 1)
    world.send(world.pt.functions.quarantineUnit(case), world.regulator)
    reverts(world.pt, world.pt.functions.unpack([case]), world.maker, "UnitIsQuarantined", case)


def test_unit_unknown_is_empty(world):
    info = world.unit(b"\x05" * 32)
    assert (info["kind"], info["custodian"], info["children"]) == (0, NOBODY, 0)


def test_multicall_batches_calls_as_the_caller(world):
    pt = world.pt
    calls = [pt.encode_abi("packCase", args=[CASE_SSCC + n, world.lot_id, n * 10, 10]) for n in range(3)]
    receipt = world.send(pt.functions.multicall(calls), world.maker)
    assert [name for name, _ in events(pt, receipt)] == ["CasePacked"] * 3
    assert all(world.unit(sscc_id(CASE_SSCC + n))["custodian"] == world.maker for n in range(3))


def test_multicall_bubbles_the_failing_calls_error(world):
    pt = world.pt
    calls = [pt.encode_abi("packCase", args=[CASE_SSCC, world.lot_id, 0, 10])] * 2
    reverts(pt, pt.functions.multicall(calls), world.maker, "UnitAlreadyExists", sscc_id(CASE_SSCC))


def test_dispense_through_a_pallet_the_dispenser_holds(world):
    cases = [world.pack_case(n, n * 10, 10) for n in range(2)]
    pallet = world.pack_pallet(1, cases)
    world.deliver([pallet], world.maker, world.pharmacy)
    world.dispense(cases[1], [10, 19])
    assert [world.pack_state(i)[1] for i in (9, 10, 11, 19, 20)] == [False, True, False, True, False]
    assert world.unit(cases[1])["container"] == pallet
    call = world.pt.functions.dispenseDay([(cases[0], world.lot_id, pack_set([1]), NO_PROOF)], [], [])
    reverts(world.pt, call, world.pharmacy2, "UnitNotHeld", cases[0], world.pharmacy2)
