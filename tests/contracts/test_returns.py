"""Saleable returns: returnPacks back to the supplier, acceptReturn, and a refused return."""

from __future__ import annotations

import pytest

from app.ids import lgtin_id, pack_set, sscc_id
from tests.contracts.conftest import PALLET_SSCC
from tests.contracts.helpers import NO_PROOF, events, reverts, role
from tests.contracts.picking import Stock, group

CONSIGNMENT = 4
NOBODY = "0x" + "00" * 20
ZERO32 = bytes(32)
HOSPITAL_GTIN = 9506000999995


@pytest.fixture
def shop(world):
    """The distributor's stock, and a tote of L1 packs 3, 4, 5 and L2 pack 10 it delivered to the pharmacy, opened."""
    stock = Stock(world)
    stock.tote_id = stock.tote(0, [group(stock.a, stock.l1, [3, 4, 5]), group(stock.b, stock.l2, [10])])
    world.deliver([stock.tote_id], world.distributor, world.pharmacy)
    world.send(world.pt.functions.unpack([stock.tote_id]), world.pharmacy)
    return stock


def send_return(world, groups, to, by=None):
    call = world.pt.functions.returnPacks(groups, to)
    consignment = call.call({"from": by or world.pharmacy})
    return consignment, world.send(call, by or world.pharmacy)


# ---------------------------------------------------------------- returnPacks


def test_returnPacks_ships_a_return_to_the_supplier(world, shop):
    consignment, receipt = send_return(world, [group(shop.tote_id, shop.l1, [3, 4])], world.distributor)
    info = world.unit(consignment)
    assert (info["kind"], info["custodian"], info["recipient"], info["inTransit"], info["returnPending"]) == (
        CONSIGNMENT,
        world.pharmacy,
        world.distributor,
        True,
        True,
    )
    logged = events(world.pt, receipt)
    assert [name for name, _ in logged] == ["ConsignmentCreated", "PacksMoved", "Shipped"]
    assert logged[0][1]["isReturn"] is True
    assert logged[1][1]["source"] == shop.tote_id


def test_returnPacks_from_a_case_delivered_on_a_pallet(world, shop):
    pt = world.pt
    case = world.pack_case(7, 600, 20)
    world.deliver([case], world.maker, world.distributor)
    world.send(pt.functions.packPallet(PALLET_SSCC, [case]), world.distributor)
    pallet = sscc_id(PALLET_SSCC)
    world.deliver([pallet], world.distributor, world.pharmacy)
    world.send(pt.functions.unpack([pallet]), world.pharmacy)
    assert world.unit(case)["sender"] == world.distributor  # through its pallet
    world.send(pt.functions.unpack([case]), world.pharmacy)
    assert world.unit(case)["sender"] == world.distributor  # kept when it leaves the pallet
    call = pt.functions.returnPacks([group(case, shop.l1, [601])], world.maker)
    reverts(pt, call, world.pharmacy, "ReturnNotToSender", case, world.maker, world.distributor)
    send_return(world, [group(case, shop.l1, [601])], world.distributor)


def test_returnPacks_of_loose_stock_reverts_whoever_is_named(world, shop):
    """A manufacturer that is also a dispenser (a compounding hospital) cannot "return" its never-shipped loose
    stock to any party (review 14-15 #3): ReturnNotToSender(0, to, 0)."""
    pt, hospital = world.pt, world.outsider
    roles = [role("MANUFACTURER_ROLE"), role("DISPENSER_ROLE")]
    world.send(pt.functions.registerOrganisation(hospital, 9506000000099, roles), world.admin)
    world.send(pt.functions.registerProduct(HOSPITAL_GTIN, 2, 8), hospital)
    world.send(pt.functions.commissionLot(HOSPITAL_GTIN, "H1", world.expiry, 16, b"\x01" * 32), hospital)
    lot = lgtin_id(f"{HOSPITAL_GTIN:014d}", "H1")
    for to in (world.distributor, world.pharmacy, world.maker):
        call = pt.functions.returnPacks([group(ZERO32, lot, [0, 1])], to)
        reverts(pt, call, hospital, "ReturnNotToSender", ZERO32, to, NOBODY)
    # the same stock may still be shipped (a consignment, not a return)
    world.send(pt.functions.shipPacks([group(ZERO32, lot, [0, 1])], world.distributor), hospital)


def test_returnPacks_from_a_case_shipped_directly(world, shop):
    case = world.pack_case(7, 600, 20)
    world.deliver([case], world.maker, world.pharmacy)
    world.send(world.pt.functions.unpack([case]), world.pharmacy)
    assert world.unit(case)["sender"] == world.maker
    send_return(world, [group(case, shop.l1, [610])], world.maker)


def test_acceptReturn_makes_the_packs_saleable_stock_again(world, shop):
    pt = world.pt
    consignment, _ = send_return(world, [group(shop.tote_id, shop.l1, [3]), group(shop.tote_id, shop.l2, [10])],
                                 world.distributor)  # fmt: skip
    receipt = world.send(pt.functions.acceptReturn(consignment), world.distributor)
    assert events(pt, receipt) == [
        ("ReturnAccepted", {"consignmentId": consignment, "from": world.pharmacy, "by": world.distributor}),
        ("Unpacked", {"unitId": consignment, "by": world.distributor}),
    ]
    info = world.unit(consignment)
    assert (info["custodian"], info["inTransit"], info["returnPending"], info["unpacked"], info["sender"]) == (
        world.distributor,
        False,
        False,
        True,
        world.pharmacy,
    )
    # restocked: picked again for another pharmacy, which sells it
    tote = shop.tote(1, [group(consignment, shop.l1, [3])])
    world.deliver([tote], world.distributor, world.pharmacy2)
    world.send(pt.functions.dispenseDay([(tote, shop.l1, pack_set([3]), NO_PROOF)], [], []), world.pharmacy2)


def test_refuseShipment_of_a_return_leaves_the_packs_with_the_returner(world, shop):
    pt = world.pt
    consignment, _ = send_return(world, [group(shop.tote_id, shop.l1, [3])], world.distributor)
    receipt = world.send(pt.functions.refuseShipment([consignment]), world.distributor)
    assert [name for name, _ in events(pt, receipt)] == ["Refused", "Unpacked"]
    info = world.unit(consignment)
    assert (info["custodian"], info["inTransit"], info["returnPending"], info["unpacked"], info["sender"]) == (
        world.pharmacy,
        False,
        False,
        True,
        world.distributor,
    )
    world.send(pt.functions.dispenseDay([(consignment, shop.l1, pack_set([3]), NO_PROOF)], [], []), world.pharmacy)


def test_refuseShipment_of_a_return_it_may_be_returned_again(world, shop):
    consignment, _ = send_return(world, [group(shop.tote_id, shop.l1, [3])], world.distributor)
    world.send(world.pt.functions.refuseShipment([consignment]), world.distributor)
    again, _ = send_return(world, [group(consignment, shop.l1, [3])], world.distributor)
    world.send(world.pt.functions.acceptReturn(again), world.distributor)


def test_returnPacks_not_to_the_sender_reverts(world, shop):
    call = world.pt.functions.returnPacks([group(shop.tote_id, shop.l1, [3])], world.maker)
    reverts(world.pt, call, world.pharmacy, "ReturnNotToSender", shop.tote_id, world.maker, world.distributor)


def test_returnPacks_from_a_container_that_never_travelled_reverts(world, shop):
    pt = world.pt
    repacked = shop.tote(2, [group(shop.tote_id, shop.l1, [5])], by=world.pharmacy)
    world.send(pt.functions.unpack([repacked]), world.pharmacy)
    call = pt.functions.returnPacks([group(repacked, shop.l1, [5])], world.distributor)
    reverts(pt, call, world.pharmacy, "ReturnNotToSender", repacked, world.distributor, NOBODY)


def test_returnPacks_dispensed_pack_reverts(world, shop):
    world.send(
        world.pt.functions.dispenseDay([(shop.tote_id, shop.l1, pack_set([4]), NO_PROOF)], [], []), world.pharmacy
    )
    call = world.pt.functions.returnPacks([group(shop.tote_id, shop.l1, [3, 4])], world.distributor)
    reverts(world.pt, call, world.pharmacy, "PackIsInactive", shop.l1, 4)


def test_returnPacks_pack_never_shipped_to_the_returner_reverts(world, shop):
    call = world.pt.functions.returnPacks([group(shop.tote_id, shop.l1, [3])], world.distributor)
    reverts(world.pt, call, world.pharmacy2, "UnitNotHeld", shop.tote_id, world.pharmacy2)
    call = world.pt.functions.returnPacks([group(shop.tote_id, shop.l1, [6])], world.distributor)
    reverts(world.pt, call, world.pharmacy, "PackNotInCase", shop.tote_id, shop.l1, 6)


def test_returnPacks_recalled_lot_reverts(world, shop):
    world.send(world.pt.functions.recallLot(shop.l1), world.regulator)
    call = world.pt.functions.returnPacks([group(shop.tote_id, shop.l1, [3])], world.distributor)
    reverts(world.pt, call, world.pharmacy, "LotIsRecalled", shop.l1)


def test_returnPacks_without_dispenser_role_reverts(world, shop):
    call = world.pt.functions.returnPacks([group(shop.a, shop.l1, [20])], world.maker)
    reverts(world.pt, call, world.distributor, "OrganisationMissingRole", world.distributor, role("DISPENSER_ROLE"))


def test_returnPacks_no_groups_reverts(world, shop):
    call = world.pt.functions.returnPacks([], world.distributor)
    reverts(world.pt, call, world.pharmacy, "ShipmentEmpty", world.distributor)


def test_returnPacks_to_self_reverts(world, shop):
    call = world.pt.functions.returnPacks([group(shop.tote_id, shop.l1, [3])], world.pharmacy)
    reverts(world.pt, call, world.pharmacy, "ShipmentToSelf", world.pharmacy)


def test_returnPacks_to_unregistered_reverts(world, shop):
    call = world.pt.functions.returnPacks([group(shop.tote_id, shop.l1, [3])], world.outsider)
    reverts(world.pt, call, world.pharmacy, "OrganisationNotRegistered", world.outsider)


# ---------------------------------------------------------------- acceptReturn / receiveShipment


def test_receiveShipment_of_a_return_reverts(world, shop):
    consignment, _ = send_return(world, [group(shop.tote_id, shop.l1, [3])], world.distributor)
    call = world.pt.functions.receiveShipment([consignment])
    reverts(world.pt, call, world.distributor, "ReturnNeedsAcceptance", consignment)


def test_acceptReturn_of_an_ordinary_shipment_reverts(world, shop):
    consignment, _ = shop.consign([group(shop.tote_id, shop.l1, [3])], world.distributor, by=world.pharmacy)
    reverts(world.pt, world.pt.functions.acceptReturn(consignment), world.distributor, "ReturnNotPending", consignment)


def test_acceptReturn_by_another_party_reverts(world, shop):
    consignment, _ = send_return(world, [group(shop.tote_id, shop.l1, [3])], world.distributor)
    call = world.pt.functions.acceptReturn(consignment)
    reverts(world.pt, call, world.maker, "UnitNotRecipient", consignment, world.maker)


def test_acceptReturn_twice_reverts(world, shop):
    consignment, _ = send_return(world, [group(shop.tote_id, shop.l1, [3])], world.distributor)
    world.send(world.pt.functions.acceptReturn(consignment), world.distributor)
    reverts(world.pt, world.pt.functions.acceptReturn(consignment), world.distributor, "UnitNotInTransit", consignment)


def test_acceptReturn_unknown_unit_reverts(world, shop):
    unknown = b"\x05" * 32
    reverts(world.pt, world.pt.functions.acceptReturn(unknown), world.distributor, "UnitNotFound", unknown)
