"""Unit quarantine: by its holder or a regulator; a quarantined unit cannot move and nothing in it is dispensed."""

from __future__ import annotations

from tests.contracts.helpers import events, reverts

UNKNOWN = b"\x05" * 32


def test_quarantineUnit_by_holder(world):
    pt = world.pt
    case = world.pack_case(1, 0, 10)
    receipt = world.send(pt.functions.quarantineUnit(case), world.maker)
    assert world.unit(case)["quarantined"] is True
    assert events(pt, receipt) == [("UnitQuarantined", {"unitId": case, "by": world.maker})]
    reverts(pt, pt.functions.ship([case], world.distributor), world.maker, "UnitIsQuarantined", case)


def test_quarantineUnit_by_regulator_of_a_unit_it_does_not_hold(world):
    case = world.pack_case(1, 0, 10)
    pallet = world.pack_pallet(1, [case])
    world.send(world.pt.functions.quarantineUnit(case), world.regulator)
    info = world.unit(case)
    assert (info["quarantined"], info["container"]) == (True, pallet)


def test_quarantineUnit_unknown_unit_reverts(world):
    reverts(world.pt, world.pt.functions.quarantineUnit(UNKNOWN), world.regulator, "UnitNotFound", UNKNOWN)


def test_quarantineUnit_by_other_party_reverts(world):
    case = world.pack_case(1, 0, 10)
    call = world.pt.functions.quarantineUnit(case)
    reverts(world.pt, call, world.distributor, "UnitNotHeld", case, world.distributor)


def test_quarantineUnit_twice_reverts(world):
    case = world.pack_case(1, 0, 10)
    world.send(world.pt.functions.quarantineUnit(case), world.maker)
    reverts(world.pt, world.pt.functions.quarantineUnit(case), world.regulator, "UnitIsQuarantined", case)


def test_clearUnitQuarantine_lets_the_unit_move_again(world):
    pt = world.pt
    case = world.pack_case(1, 0, 10)
    world.send(pt.functions.quarantineUnit(case), world.regulator)
    receipt = world.send(pt.functions.clearUnitQuarantine(case), world.regulator)
    assert world.unit(case)["quarantined"] is False
    assert events(pt, receipt) == [("UnitQuarantineCleared", {"unitId": case, "by": world.regulator})]
    world.send(pt.functions.ship([case], world.distributor), world.maker)


def test_clearUnitQuarantine_by_holder(world):
    case = world.pack_case(1, 0, 10)
    world.send(world.pt.functions.quarantineUnit(case), world.maker)
    world.send(world.pt.functions.clearUnitQuarantine(case), world.maker)
    assert world.unit(case)["quarantined"] is False


def test_clearUnitQuarantine_unknown_unit_reverts(world):
    reverts(world.pt, world.pt.functions.clearUnitQuarantine(UNKNOWN), world.regulator, "UnitNotFound", UNKNOWN)


def test_clearUnitQuarantine_by_other_party_reverts(world):
    case = world.pack_case(1, 0, 10)
    world.send(world.pt.functions.quarantineUnit(case), world.maker)
    call = world.pt.functions.clearUnitQuarantine(case)
    reverts(world.pt, call, world.pharmacy, "UnitNotHeld", case, world.pharmacy)


def test_clearUnitQuarantine_not_quarantined_reverts(world):
    case = world.pack_case(1, 0, 10)
    reverts(world.pt, world.pt.functions.clearUnitQuarantine(case), world.maker, "UnitNotQuarantined", case)
