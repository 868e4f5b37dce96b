"""Saleable returns: returnListed (packs of a listed unit) back to the supplier, acceptReturn, and a refused return."""

from __future__ import annotations

import pytest

from app.ids import pack_set, sscc_id
from tests.contracts.conftest import PALLET_SSCC
from tests.contracts.helpers import NO_PROOF, events, reverts, role
from tests.contracts.picking import Stock, group, listed, listing_hash

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


def return_call(shop, groups, to):
    """returnListed of `groups` (source, lot, packs, proof), all from one listed unit."""
    unit = groups[0][0]
    wanted = [(lot, indexes(packs)) for _, lot, packs, _ in groups]
    return shop.world.pt.functions.returnListed(shop.draw(unit, wanted), to)


def indexes(packs) -> list[int]:
    first, masks = packs
    return [(first + k) * 256 + b for k, m in enumerate(masks) for b in range(256) if m >> b & 1]


def send_return(shop, groups, to, by=None):
    unit = groups[0][0]
    return shop.give_back(unit, [(lot, indexes(packs)) for _, lot, packs, _ in groups], to, by)


# ---------------------------------------------------------------- returnPacks


def test_returnPacks_ships_a_return_to_the_supplier(world, shop):
    consignment, receipt = send_return(shop, [group(shop.tote_id, shop.l1, [3, 4])], world.distributor)
    assert world.pt.functions.listingOf(consignment).call() == listing_hash([listed(shop.tote_id, shop.l1, [3, 4])])
    rest = [listed(shop.a, shop.l1, [5]), listed(shop.b, shop.l2, [10])]
    assert world.pt.functions.listingOf(shop.tote_id).call() == listing_hash(rest)
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


def test_returnPacks_from_a_tote_delivered_on_a_pallet(world, shop):
    pt = world.pt
    tote = shop.tote(1, [group(shop.a, shop.l1, [60, 61])])
    world.send(pt.functions.packPallet(PALLET_SSCC, [tote]), world.distributor)
    pallet = sscc_id(PALLET_SSCC)
    world.deliver([pallet], world.distributor, world.pharmacy)
    world.send(pt.functions.unpack([pallet]), world.pharmacy)
    assert world.unit(tote)["sender"] == world.distributor  # through its pallet
    world.send(pt.functions.unpack([tote]), world.pharmacy)
    assert world.unit(tote)["sender"] == world.distributor  # kept when it leaves the pallet
    call = return_call(shop, [group(tote, shop.l1, [61])], world.maker)
    reverts(pt, call, world.pharmacy, "ReturnNotToSender", tote, world.maker, world.distributor)
    send_return(shop, [group(tote, shop.l1, [61])], world.distributor)


def test_returnFromCase_from_a_case_delivered_on_a_pallet(world, shop):
    pt = world.pt
    case = world.pack_case(7, 600, 20)
    world.deliver([case], world.maker, world.distributor)
    world.send(pt.functions.packPallet(PALLET_SSCC + 1, [case]), world.distributor)
    pallet = sscc_id(PALLET_SSCC + 1)
    world.deliver([pallet], world.distributor, world.pharmacy)
    world.send(pt.functions.unpack([pallet]), world.pharmacy)
    pick = (case, shop.l1, pack_set([601]), NO_PROOF)
    reverts(pt, pt.functions.returnFromCase(pick, world.distributor), world.pharmacy, "UnitNotUnpacked", case)
    world.send(pt.functions.unpack([case]), world.pharmacy)
    assert world.unit(case)["sender"] == world.distributor  # kept when it leaves the pallet
    call = pt.functions.returnFromCase(pick, world.maker)
    reverts(pt, call, world.pharmacy, "ReturnNotToSender", case, world.maker, world.distributor)
    call = pt.functions.returnFromCase(pick, world.distributor)
    consignment = call.call({"from": world.pharmacy})
    receipt = world.send(call, world.pharmacy)
    assert [n for n, _ in events(pt, receipt)] == ["ConsignmentCreated", "PacksMoved", "Shipped"]
    assert pt.functions.listingOf(consignment).call() == listing_hash([listed(case, shop.l1, [601])])
    info = world.unit(consignment)
    assert (info["returnPending"], info["recipient"], info["children"]) == (True, world.distributor, 1)
    reverts(pt, call, world.pharmacy, "PackMoved", shop.l1, 601, ZERO32)
    world.send(pt.functions.acceptReturn(consignment), world.distributor)


def test_returnFromCase_of_a_case_shipped_directly_and_a_tree_case(world, shop):
    pt = world.pt
    case = world.pack_case(7, 600, 20)
    world.deliver([case], world.maker, world.pharmacy)
    world.send(pt.functions.unpack([case]), world.pharmacy)
    assert world.unit(case)["sender"] == world.maker
    world.send(pt.functions.returnFromCase((case, shop.l1, pack_set([610]), NO_PROOF), world.maker), world.pharmacy)
    call = world.pt.functions.returnListed((case, [], []), world.maker)
    reverts(world.pt, call, world.pharmacy, "UnitWrongKind", case, 1)  # a case is no listed unit
    tree_case, tree = world.pack_tree(8, list(range(400, 420, 2)))
    world.deliver([tree_case], world.maker, world.pharmacy)
    world.send(pt.functions.unpack([tree_case]), world.pharmacy)
    packs, proof = tree.children_proof([404])
    world.send(pt.functions.returnFromCase((tree_case, shop.l1, packs, proof), world.maker), world.pharmacy)
    assert world.pt.functions.pack(shop.l1, 404).call()[3] is True  # moved


def test_returnFromCase_reverts(world, shop):
    pt = world.pt
    pick = (shop.a, shop.l1, pack_set([20]), NO_PROOF)
    call = pt.functions.returnFromCase(pick, world.maker)
    reverts(pt, call, world.distributor, "OrganisationMissingRole", world.distributor, role("DISPENSER_ROLE"))
    reverts(pt, pt.functions.returnFromCase(pick, world.pharmacy), world.pharmacy, "ShipmentToSelf", world.pharmacy)
    reverts(pt, call, world.pharmacy, "UnitNotHeld", shop.a, world.pharmacy)


def test_returnPacks_of_loose_stock_reverts(world, shop):
    """Loose stock never travelled and is no listed unit: it cannot be "returned" to anyone (review 14-15 #3)."""
    call = world.pt.functions.returnListed((ZERO32, [], []), world.distributor)
    reverts(world.pt, call, world.pharmacy, "UnitNotFound", ZERO32)


def test_acceptReturn_makes_the_packs_saleable_stock_again(world, shop):
    pt = world.pt
    consignment, _ = send_return(shop, [group(shop.tote_id, shop.l1, [3]), group(shop.tote_id, shop.l2, [10])],
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
    shop.dispense(tote, shop.l1, [3], by=world.pharmacy2)


def test_refuseShipment_of_a_return_leaves_the_packs_with_the_returner(world, shop):
    pt = world.pt
    consignment, _ = send_return(shop, [group(shop.tote_id, shop.l1, [3])], world.distributor)
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
    shop.dispense(consignment, shop.l1, [3])


def test_refuseShipment_of_a_return_it_may_be_returned_again(world, shop):
    consignment, _ = send_return(shop, [group(shop.tote_id, shop.l1, [3])], world.distributor)
    world.send(world.pt.functions.refuseShipment([consignment]), world.distributor)
    again, _ = send_return(shop, [group(consignment, shop.l1, [3])], world.distributor)
    world.send(world.pt.functions.acceptReturn(again), world.distributor)


def test_returnPacks_not_to_the_sender_reverts(world, shop):
    call = return_call(shop, [group(shop.tote_id, shop.l1, [3])], world.maker)
    reverts(world.pt, call, world.pharmacy, "ReturnNotToSender", shop.tote_id, world.maker, world.distributor)


def test_returnPacks_from_a_container_that_never_travelled_reverts(world, shop):
    pt = world.pt
    repacked = shop.tote(2, [group(shop.tote_id, shop.l1, [5])], by=world.pharmacy)
    world.send(pt.functions.unpack([repacked]), world.pharmacy)
    call = return_call(shop, [group(repacked, shop.l1, [5])], world.distributor)
    reverts(pt, call, world.pharmacy, "ReturnNotToSender", repacked, world.distributor, NOBODY)


def test_returnPacks_dispensed_pack_reverts(world, shop):
    shop.dispense(shop.tote_id, shop.l1, [4])
    call = return_call(shop, [group(shop.tote_id, shop.l1, [3, 4])], world.distributor)
    reverts(world.pt, call, world.pharmacy, "PackIsInactive", shop.l1, 4)


def test_returnPacks_pack_never_shipped_to_the_returner_reverts(world, shop):
    call = return_call(shop, [group(shop.tote_id, shop.l1, [3])], world.distributor)
    reverts(world.pt, call, world.pharmacy2, "UnitNotHeld", shop.tote_id, world.pharmacy2)
    call = return_call(shop, [group(shop.tote_id, shop.l1, [6])], world.distributor)
    reverts(world.pt, call, world.pharmacy, "PackNotInCase", shop.tote_id, shop.l1, 6)


def test_returnPacks_recalled_lot_reverts(world, shop):
    world.send(world.pt.functions.recallLot(shop.l1), world.regulator)
    call = return_call(shop, [group(shop.tote_id, shop.l1, [3])], world.distributor)
    reverts(world.pt, call, world.pharmacy, "LotIsRecalled", shop.l1)


def test_returnPacks_without_dispenser_role_reverts(world, shop):
    call = return_call(shop, [group(shop.tote_id, shop.l1, [3])], world.maker)
    reverts(world.pt, call, world.distributor, "OrganisationMissingRole", world.distributor, role("DISPENSER_ROLE"))


def test_returnPacks_no_groups_reverts(world, shop):
    call = world.pt.functions.returnListed(shop.draw(shop.tote_id, []), world.distributor)
    reverts(world.pt, call, world.pharmacy, "ShipmentEmpty", world.distributor)


def test_returnPacks_to_self_reverts(world, shop):
    call = return_call(shop, [group(shop.tote_id, shop.l1, [3])], world.pharmacy)
    reverts(world.pt, call, world.pharmacy, "ShipmentToSelf", world.pharmacy)


def test_returnPacks_to_unregistered_reverts(world, shop):
    call = return_call(shop, [group(shop.tote_id, shop.l1, [3])], world.outsider)
    reverts(world.pt, call, world.pharmacy, "OrganisationNotRegistered", world.outsider)


# ---------------------------------------------------------------- acceptReturn / receiveShipment


def test_receiveShipment_of_a_return_reverts(world, shop):
    consignment, _ = send_return(shop, [group(shop.tote_id, shop.l1, [3])], world.distributor)
    call = world.pt.functions.receiveShipment([consignment])
    reverts(world.pt, call, world.distributor, "ReturnNeedsAcceptance", consignment)


def test_acceptReturn_of_an_ordinary_shipment_reverts(world, shop):
    consignment, _ = shop.consign([group(shop.tote_id, shop.l1, [3])], world.distributor, by=world.pharmacy)
    reverts(world.pt, world.pt.functions.acceptReturn(consignment), world.distributor, "ReturnNotPending", consignment)


def test_acceptReturn_by_another_party_reverts(world, shop):
    consignment, _ = send_return(shop, [group(shop.tote_id, shop.l1, [3])], world.distributor)
    call = world.pt.functions.acceptReturn(consignment)
    reverts(world.pt, call, world.maker, "UnitNotRecipient", consignment, world.maker)


def test_acceptReturn_twice_reverts(world, shop):
    consignment, _ = send_return(shop, [group(shop.tote_id, shop.l1, [3])], world.distributor)
    world.send(world.pt.functions.acceptReturn(consignment), world.distributor)
    reverts(world.pt, world.pt.functions.acceptReturn(consignment), world.distributor, "UnitNotInTransit", consignment)


def test_acceptReturn_unknown_unit_reverts(world, shop):
    unknown = b"\x05" * 32
    reverts(world.pt, world.pt.functions.acceptReturn(unknown), world.distributor, "UnitNotFound", unknown)
