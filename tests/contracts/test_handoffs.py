"""Two-step handoffs: ship (in transit), receive by the named recipient, refuse back to the sender."""

from __future__ import annotations

from tests.contracts.helpers import ZERO, events, reverts

NOBODY = "0x" + "00" * 20


# ---------------------------------------------------------------- ship


def test_ship_puts_units_in_transit_to_the_recipient(world):
    pt = world.pt
    cases = [world.pack_case(n, n * 10, 10) for n in range(2)]
    receipt = world.send(pt.functions.ship(cases, world.distributor), world.maker)
    for case in cases:
        info = world.unit(case)
        assert (info["custodian"], info["recipient"], info["inTransit"]) == (world.maker, world.distributor, True)
    assert events(pt, receipt) == [
        ("Shipped", {"unitId": case, "from": world.maker, "to": world.distributor}) for case in cases
    ]


def test_ship_pallet_is_one_write_and_carries_its_cases(world):
    pt = world.pt
    cases = [world.pack_case(n, n * 10, 10) for n in range(10)]
    pallet = world.pack_pallet(1, cases)
    receipt = world.send(pt.functions.ship([pallet], world.distributor), world.maker)
    assert [name for name, _ in events(pt, receipt)] == ["Shipped"]
    assert all(world.unit(case)["inTransit"] for case in cases)
    world.send(pt.functions.receiveShipment([pallet]), world.distributor)
    assert all(world.unit(case)["custodian"] == world.distributor for case in cases)


def test_ship_released_case_from_an_unpacked_pallet(world):
    case = world.pack_case(1, 0, 10)
    pallet = world.pack_pallet(1, [case])
    world.deliver([pallet], world.maker, world.distributor)
    world.send(world.pt.functions.unpack([pallet]), world.distributor)
    world.send(world.pt.functions.ship([case], world.pharmacy), world.distributor)
    info = world.unit(case)
    assert (info["custodian"], info["recipient"], info["container"]) == (world.distributor, world.pharmacy, ZERO)


def test_ship_nothing_reverts(world):
    reverts(world.pt, world.pt.functions.ship([], world.distributor), world.maker, "ShipmentEmpty", world.distributor)


def test_ship_to_self_reverts(world):
    case = world.pack_case(1, 0, 1)
    reverts(world.pt, world.pt.functions.ship([case], world.maker), world.maker, "ShipmentToSelf", world.maker)


def test_ship_to_unregistered_reverts(world):
    case = world.pack_case(1, 0, 1)
    call = world.pt.functions.ship([case], world.outsider)
    reverts(world.pt, call, world.maker, "OrganisationNotRegistered", world.outsider)


def test_ship_to_suspended_reverts(world):
    case = world.pack_case(1, 0, 1)
    world.send(world.pt.functions.suspendOrganisation(world.distributor), world.admin)
    call = world.pt.functions.ship([case], world.distributor)
    reverts(world.pt, call, world.maker, "OrganisationIsSuspended", world.distributor)


def test_ship_unknown_unit_reverts(world):
    call = world.pt.functions.ship([b"\x05" * 32], world.distributor)
    reverts(world.pt, call, world.maker, "UnitNotFound", b"\x05" * 32)


def test_ship_case_on_a_pallet_reverts(world):
    case = world.pack_case(1, 0, 1)
    pallet = world.pack_pallet(1, [case])
    call = world.pt.functions.ship([case], world.distributor)
    reverts(world.pt, call, world.maker, "UnitInContainer", case, pallet)


def test_ship_unit_held_by_another_reverts(world):
    case = world.pack_case(1, 0, 1)
    call = world.pt.functions.ship([case], world.pharmacy)
    reverts(world.pt, call, world.distributor, "UnitNotHeld", case, world.distributor)


def test_ship_unit_in_transit_reverts(world):
    case = world.pack_case(1, 0, 1)
    world.send(world.pt.functions.ship([case], world.distributor), world.maker)
    call = world.pt.functions.ship([case], world.pharmacy)
    reverts(world.pt, call, world.maker, "UnitIsInTransit", case)


def test_ship_opened_case_reverts(world):
    case = world.pack_case(1, 0, 1)
    world.send(world.pt.functions.unpack([case]), world.maker)
    reverts(world.pt, world.pt.functions.ship([case], world.distributor), world.maker, "UnitIsUnpacked", case)


def test_ship_quarantined_unit_reverts(world):
    case = world.pack_case(1, 0, 1)
    world.send(world.pt.functions.quarantineUnit(case), world.maker)
    reverts(world.pt, world.pt.functions.ship([case], world.distributor), world.maker, "UnitIsQuarantined", case)


# ---------------------------------------------------------------- receiveShipment


def test_receiveShipment_transfers_custody_to_the_recipient(world):
    pt = world.pt
    case = world.pack_case(1, 0, 1)
    world.send(pt.functions.ship([case], world.distributor), world.maker)
    receipt = world.send(pt.functions.receiveShipment([case]), world.distributor)
    info = world.unit(case)
    assert (info["custodian"], info["recipient"], info["inTransit"]) == (world.distributor, NOBODY, False)
    assert events(pt, receipt) == [("Received", {"unitId": case, "from": world.maker, "by": world.distributor})]


def test_receiveShipment_unknown_unit_reverts(world):
    call = world.pt.functions.receiveShipment([b"\x05" * 32])
    reverts(world.pt, call, world.distributor, "UnitNotFound", b"\x05" * 32)


def test_receiveShipment_not_in_transit_reverts(world):
    case = world.pack_case(1, 0, 1)
    reverts(world.pt, world.pt.functions.receiveShipment([case]), world.distributor, "UnitNotInTransit", case)


def test_receiveShipment_by_other_than_recipient_reverts(world):
    case = world.pack_case(1, 0, 1)
    world.send(world.pt.functions.ship([case], world.distributor), world.maker)
    call = world.pt.functions.receiveShipment([case])
    reverts(world.pt, call, world.pharmacy, "UnitNotRecipient", case, world.pharmacy)


# ---------------------------------------------------------------- refuseShipment


def test_refuseShipment_returns_custody_to_the_sender(world):
    pt = world.pt
    case = world.pack_case(1, 0, 1)
    world.send(pt.functions.ship([case], world.distributor), world.maker)
    receipt = world.send(pt.functions.refuseShipment([case]), world.distributor)
    info = world.unit(case)
    assert (info["custodian"], info["recipient"], info["inTransit"]) == (world.maker, NOBODY, False)
    assert events(pt, receipt) == [("Refused", {"unitId": case, "sender": world.maker, "by": world.distributor})]
    # The sender may ship it again.
    world.send(pt.functions.ship([case], world.pharmacy), world.maker)


def test_refuseShipment_unknown_unit_reverts(world):
    call = world.pt.functions.refuseShipment([b"\x05" * 32])
    reverts(world.pt, call, world.distributor, "UnitNotFound", b"\x05" * 32)


def test_refuseShipment_not_in_transit_reverts(world):
    case = world.pack_case(1, 0, 1)
    reverts(world.pt, world.pt.functions.refuseShipment([case]), world.distributor, "UnitNotInTransit", case)


def test_refuseShipment_by_other_than_recipient_reverts(world):
    case = world.pack_case(1, 0, 1)
    world.send(world.pt.functions.ship([case], world.distributor), world.maker)
    call = world.pt.functions.refuseShipment([case])
    reverts(world.pt, call, world.maker, "UnitNotRecipient", case, world.maker)
