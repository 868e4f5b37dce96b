"""Packs leaving their case: listed totes (each-picking, mixed products and lots, packToteListed) and listed
consignments (shipListed). The old pointer-based packTote/shipPacks tests, kept where the behaviour is."""

from __future__ import annotations

import pytest

from app.ids import pack_set, sscc_id
from tests.contracts.conftest import (
    CASE_SSCC,
    FROZEN_MAX,
    MAX_TEMP,
    MIN_TEMP,
    PALLET_SSCC,
)
from tests.contracts.helpers import NO_PROOF, ZERO, events, only, reverts
from tests.contracts.picking import TOTE_SSCC, Stock, group, listed, listing_hash

TOTE, CONSIGNMENT, PALLET = 3, 4, 2
NOBODY = "0x" + "00" * 20
UNKNOWN = b"\x05" * 32


@pytest.fixture
def stock(world):
    return Stock(world)


def dispense(stock, container, lot_id, indexes, by=None):
    return stock.dispense(container, lot_id, indexes, by)


# ---------------------------------------------------------------- packTote


def test_packTote_picks_packs_of_several_products_and_lots(world, stock):
    pt = world.pt
    groups = [group(stock.a, stock.l1, [3, 4, 5]), group(stock.b, stock.l2, [10]), group(stock.f, stock.frozen, [0])]
    receipt = world.send(stock.tote_call(0, groups), world.distributor)
    tote = sscc_id(TOTE_SSCC)
    info = world.unit(tote)
    assert (info["kind"], info["custodian"], info["children"], info["unpacked"], info["inTransit"]) == (
        TOTE,
        world.distributor,
        5,
        False,
        False,
    )
    # the storage range is the intersection of the lots' (here empty: cold chain and frozen together)
    assert (info["minTemp"], info["maxTemp"]) == (MIN_TEMP, FROZEN_MAX)
    logged = events(pt, receipt)
    assert [name for name, _ in logged] == ["TotePacked", "PacksMoved", "PacksMoved", "PacksMoved"]
    listing = [(s, lot, ps) for s, lot, ps, _ in groups]
    assert pt.functions.listingOf(tote).call() == listing_hash(listing)
    assert logged[0][1] == {"toteId": tote, "packer": world.distributor, "sscc": TOTE_SSCC, "number": 1}
    first_word, masks = pack_set([3, 4, 5])
    assert logged[1][1] == {
        "lotId": stock.l1,
        "containerId": tote,
        "by": world.distributor,
        "source": stock.a,
        "firstWord": first_word,
        "masks": masks,
    }
    assert [args["source"] for _, args in logged[1:]] == [stock.a, stock.b, stock.f]


def test_packTote_returns_the_tote_id(world, stock):
    call = stock.tote_call(0, [group(stock.a, stock.l1, [1])])
    assert call.call({"from": world.distributor}) == sscc_id(TOTE_SSCC)


def test_packTote_packs_leave_their_case(world, stock):
    tote = stock.tote(0, [group(stock.a, stock.l1, [3, 4])])
    call = stock.tote_call(1, [group(stock.a, stock.l1, [2, 3])])
    reverts(world.pt, call, world.distributor, "PackMoved", stock.l1, 3, ZERO)
    assert tote == sscc_id(TOTE_SSCC)
    stock.tote(1, [group(stock.a, stock.l1, [2, 5])])  # the rest of the case is still there


def test_packTote_a_pack_named_twice_is_in_one_container(world, stock):
    groups = [group(stock.a, stock.l1, [7]), group(stock.a, stock.l1, [7])]
    call = stock.tote_call(0, groups)
    reverts(world.pt, call, world.distributor, "PackMoved", stock.l1, 7, ZERO)


def test_packTote_tote_travels_on_a_pallet_and_its_packs_dispense(world, stock):
    pt = world.pt
    tote = stock.tote(0, [group(stock.a, stock.l1, [3, 4]), group(stock.b, stock.l2, [9])])
    world.send(pt.functions.packPallet(PALLET_SSCC, [tote]), world.distributor)
    pallet = sscc_id(PALLET_SSCC)
    assert world.unit(tote)["container"] == pallet
    world.deliver([pallet], world.distributor, world.pharmacy)
    assert world.unit(tote)["custodian"] == world.pharmacy
    world.send(pt.functions.unpack([pallet]), world.pharmacy)
    receipt = dispense(stock, tote, stock.l1, [4])
    assert only(pt, receipt, "Dispensed")[0]["caseId"] == tote
    dispense(stock, tote, stock.l2, [9])
    assert world.pack_state(4) == (True, True, False, False)
    # the case the packs came from no longer holds them, and the distributor no longer holds them either
    reverts(pt, pt.functions.dispenseDay([(stock.a, stock.l1, pack_set([3]), NO_PROOF)], [], []), world.pharmacy, "UnitNotHeld",
            stock.a, world.pharmacy)  # fmt: skip


def test_packTote_from_an_opened_tote(world, stock):
    first = stock.tote(0, [group(stock.a, stock.l1, [3, 4, 5])])
    world.send(world.pt.functions.unpack([first]), world.distributor)
    second = stock.tote(1, [group(first, stock.l1, [4])])
    world.deliver([second], world.distributor, world.pharmacy)
    dispense(stock, second, stock.l1, [4])
    call = stock.tote_call(2, [group(first, stock.l1, [4, 5])])
    reverts(world.pt, call, world.distributor, "PackNotInCase", first, stock.l1, 4)
    rest = [listed(stock.a, stock.l1, [3, 5])]
    assert world.pt.functions.listingOf(first).call() == listing_hash(rest)
    assert world.pt.functions.listingOf(second).call() == listing_hash([listed(first, stock.l1, [4])])


def test_packTote_a_tree_case_is_not_a_pick_source(world, stock):
    """Listed picks carry no multiproof: a tree case's packs leave it by packToteFromCase (test_listed)."""
    packs, proof = stock.tree.children_proof([202, 260])
    call = stock.tote_call(0, [(stock.c, stock.l1, packs, proof)])
    reverts(world.pt, call, world.distributor, "PackNotInCase", stock.c, stock.l1, 202)


def test_packTote_loose_stock_is_not_a_pick_source(world):
    call = world.pt.functions.packToteListed(TOTE_SSCC, [listed(ZERO, world.lot_id, [900])], [])
    reverts(world.pt, call, world.maker, "UnitNotFound", ZERO)


def test_packTote_unpacked_tote_is_loose_at_its_holder(world, stock):
    tote = stock.tote(0, [group(stock.a, stock.l1, [3])])
    world.deliver([tote], world.distributor, world.pharmacy)
    world.send(world.pt.functions.unpack([tote]), world.pharmacy)
    assert world.unit(tote)["unpacked"] is True
    dispense(stock, tote, stock.l1, [3])


def test_packTote_quarantined_tote_cannot_be_dispensed_from(world, stock):
    tote = stock.tote(0, [group(stock.a, stock.l1, [3])])
    world.deliver([tote], world.distributor, world.pharmacy)
    world.send(world.pt.functions.quarantineUnit(tote), world.pharmacy)
    call = world.pt.functions.dispenseDay([(tote, stock.l1, pack_set([3]), NO_PROOF)], [], [])
    reverts(world.pt, call, world.pharmacy, "UnitIsQuarantined", tote)


def test_packTote_destroy_and_quarantine_packs_through_a_tote(world, stock):
    pt = world.pt
    tote = stock.tote(0, [group(stock.a, stock.l1, [3, 4])])
    world.send(pt.functions.quarantineListed(stock.draw(tote, [(stock.l1, [3])])), world.distributor)
    assert world.pack_state(3)[3] is True
    world.send(pt.functions.destroyListed(stock.draw(tote, [(stock.l1, [4])])), world.distributor)
    assert world.pack_state(4)[2] is True
    call = pt.functions.destroy(stock.a, stock.l1, pack_set([3]), NO_PROOF)
    reverts(pt, call, world.distributor, "PackMoved", stock.l1, 3, ZERO)
    call = pt.functions.destroy(tote, stock.l1, pack_set([3]), NO_PROOF)
    reverts(pt, call, world.distributor, "UnitWrongKind", tote, TOTE)


def test_packTote_pallet_as_a_pack_container_reverts(world, stock):
    world.send(world.pt.functions.packPallet(PALLET_SSCC, [stock.tote(0, [group(stock.a, stock.l1, [3])])]),
               world.distributor)  # fmt: skip
    pallet = sscc_id(PALLET_SSCC)
    call = world.pt.functions.destroy(pallet, stock.l1, pack_set([3]), NO_PROOF)
    reverts(world.pt, call, world.distributor, "UnitWrongKind", pallet, PALLET)
    world.send(world.pt.functions.unpack([pallet]), world.distributor)
    call = stock.tote_call(1, [group(pallet, stock.l1, [3])])
    reverts(world.pt, call, world.distributor, "UnitWrongKind", pallet, PALLET)
    call = world.pt.functions.packToteListed(TOTE_SSCC + 1, [], [(pallet, [], [])])
    reverts(world.pt, call, world.distributor, "UnitWrongKind", pallet, PALLET)


@pytest.mark.parametrize("sscc", [0, 10**18])
def test_packTote_invalid_sscc_reverts(world, stock, sscc):
    call = world.pt.functions.packToteListed(sscc, [listed(stock.a, stock.l1, [3])], [])
    reverts(world.pt, call, world.distributor, "UnitInvalidSscc", sscc)


def test_packTote_existing_sscc_reverts(world, stock):
    call = world.pt.functions.packToteListed(CASE_SSCC + 1, [listed(stock.a, stock.l1, [3])], [])
    reverts(world.pt, call, world.distributor, "UnitAlreadyExists", stock.a)


def test_packTote_no_groups_reverts(world, stock):
    call = stock.tote_call(0, [])
    reverts(world.pt, call, world.distributor, "UnitEmpty", sscc_id(TOTE_SSCC))


def test_packTote_empty_pack_set_reverts(world, stock):
    call = stock.tote_call(0, [(stock.a, stock.l1, (0, [0]), NO_PROOF)])
    reverts(world.pt, call, world.distributor, "PackSetEmpty", stock.l1)


def test_packTote_unknown_lot_reverts(world, stock):
    call = stock.tote_call(0, [group(stock.a, UNKNOWN, [3])])
    reverts(world.pt, call, world.distributor, "LotNotFound", UNKNOWN)


def test_packTote_recalled_lot_reverts(world, stock):
    world.send(world.pt.functions.recallLot(stock.l1), world.regulator)
    call = stock.tote_call(0, [group(stock.a, stock.l1, [3])])
    reverts(world.pt, call, world.distributor, "LotIsRecalled", stock.l1)


def test_packTote_quarantined_lot_reverts(world, stock):
    world.send(world.pt.functions.quarantineLot(stock.l1), world.regulator)
    call = stock.tote_call(0, [group(stock.a, stock.l1, [3])])
    reverts(world.pt, call, world.distributor, "LotIsQuarantined", stock.l1)


def test_packTote_unknown_source_reverts(world, stock):
    call = stock.tote_call(0, [group(UNKNOWN, stock.l1, [3])])
    reverts(world.pt, call, world.distributor, "UnitNotFound", UNKNOWN)


def test_packTote_source_held_by_another_reverts(world, stock):
    call = stock.tote_call(0, [group(stock.a, stock.l1, [3])])
    reverts(world.pt, call, world.pharmacy, "UnitNotHeld", stock.a, world.pharmacy)


def test_packTote_closed_case_reverts(world, stock):
    closed = world.pack_case(5, 400, 10)
    call = stock.tote_call(0, [group(closed, stock.l1, [401])])
    reverts(world.pt, call, world.maker, "UnitNotUnpacked", closed)


def test_packTote_source_in_transit_reverts(world, stock):
    consignment, _ = stock.consign([group(stock.a, stock.l1, [3])], world.pharmacy)
    call = stock.tote_call(0, [group(consignment, stock.l1, [3])])
    reverts(world.pt, call, world.distributor, "UnitIsInTransit", consignment)


def test_packTote_quarantined_source_reverts(world, stock):
    world.send(world.pt.functions.quarantineUnit(stock.a), world.regulator)
    call = stock.tote_call(0, [group(stock.a, stock.l1, [3])])
    reverts(world.pt, call, world.distributor, "UnitIsQuarantined", stock.a)


def test_packTote_pack_not_in_the_case_reverts(world, stock):
    call = stock.tote_call(0, [group(stock.a, stock.l1, [99, 100])])
    reverts(world.pt, call, world.distributor, "PackNotInCase", stock.a, stock.l1, 100)
    call = stock.tote_call(0, [group(stock.a, stock.l2, [3])])
    reverts(world.pt, call, world.distributor, "PackNotInCase", stock.a, stock.l2, 3)


def test_packTote_inactive_pack_reverts(world, stock):
    world.send(world.pt.functions.destroy(stock.a, stock.l1, pack_set([8]), NO_PROOF), world.distributor)
    call = stock.tote_call(0, [group(stock.a, stock.l1, [7, 8])])
    reverts(world.pt, call, world.distributor, "PackIsInactive", stock.l1, 8)


def test_packTote_quarantined_pack_reverts(world, stock):
    world.send(world.pt.functions.quarantinePacks(ZERO, stock.l1, pack_set([8]), NO_PROOF), world.regulator)
    call = stock.tote_call(0, [group(stock.a, stock.l1, [7, 8])])
    reverts(world.pt, call, world.distributor, "PackIsQuarantined", stock.l1, 8)


def test_packPallet_accepts_totes_and_cases(world, stock):
    tote = stock.tote(0, [group(stock.a, stock.l1, [3])])
    case = world.pack_case(6, 500, 10)
    world.deliver([case], world.maker, world.distributor)
    receipt = world.send(world.pt.functions.packPallet(PALLET_SSCC, [tote, case]), world.distributor)
    assert only(world.pt, receipt, "PalletPacked")[0]["caseIds"] == [tote, case]
    assert world.unit(sscc_id(PALLET_SSCC))["children"] == 2


# ---------------------------------------------------------------- shipPacks


def test_shipPacks_sends_loose_packs_as_a_consignment(world, stock):
    pt = world.pt
    groups = [group(stock.a, stock.l1, [3, 4]), group(stock.b, stock.l2, [5])]
    consignment, receipt = stock.consign(groups, world.pharmacy)
    assert consignment == pt.functions.consignmentIdOf(1).call()
    info = world.unit(consignment)
    assert (info["kind"], info["custodian"], info["recipient"], info["inTransit"], info["children"]) == (
        CONSIGNMENT,
        world.distributor,
        world.pharmacy,
        True,
        3,
    )
    logged = events(pt, receipt)
    assert [name for name, _ in logged] == ["ConsignmentCreated", "PacksMoved", "PacksMoved", "Shipped"]
    assert logged[0][1] == {
        "consignmentId": consignment,
        "from": world.distributor,
        "to": world.pharmacy,
        "number": 1,
        "isReturn": False,
    }
    assert logged[3][1] == {"unitId": consignment, "from": world.distributor, "to": world.pharmacy}


def test_shipPacks_received_consignment_is_opened_at_the_receiver(world, stock):
    pt = world.pt
    consignment, _ = stock.consign([group(stock.a, stock.l1, [3, 4])], world.pharmacy)
    receipt = world.send(pt.functions.receiveShipment([consignment]), world.pharmacy)
    assert [name for name, _ in events(pt, receipt)] == ["Received", "Unpacked"]
    info = world.unit(consignment)
    assert (info["custodian"], info["unpacked"], info["inTransit"], info["sender"], info["recipient"]) == (
        world.pharmacy,
        True,
        False,
        world.distributor,
        NOBODY,
    )
    dispense(stock, consignment, stock.l1, [3])
    # the receiver may move them on
    stock.consign([group(consignment, stock.l1, [4])], world.pharmacy2, by=world.pharmacy)


def test_shipPacks_refused_consignment_is_back_at_the_sender(world, stock):
    pt = world.pt
    consignment, _ = stock.consign([group(stock.a, stock.l1, [3, 4])], world.pharmacy)
    receipt = world.send(pt.functions.refuseShipment([consignment]), world.pharmacy)
    assert [name for name, _ in events(pt, receipt)] == ["Refused", "Unpacked"]
    info = world.unit(consignment)
    assert (info["custodian"], info["unpacked"], info["inTransit"]) == (world.distributor, True, False)
    stock.tote(0, [group(consignment, stock.l1, [3, 4])])


def test_shipPacks_readings_on_the_way(world, stock):
    consignment, _ = stock.consign([group(stock.a, stock.l1, [3])], world.pharmacy)
    call = world.pt.functions.recordReadings(consignment, ZERO, 1, 60, (900).to_bytes(2, "big"))
    receipt = world.send(call, world.pharmacy)
    assert only(world.pt, receipt, "ExcursionDetected")[0]["maxTemp"] == MAX_TEMP
    assert world.unit(consignment)["excursion"] is True


def test_shipPacks_a_pack_shipped_twice_reverts(world, stock):
    consignment, _ = stock.consign([group(stock.a, stock.l1, [3])], world.pharmacy)
    call = stock.consign_call([group(stock.a, stock.l1, [3])], world.pharmacy2)
    reverts(world.pt, call, world.distributor, "PackMoved", stock.l1, 3, ZERO)
    call = stock.consign_call([group(consignment, stock.l1, [3])], world.pharmacy2)
    reverts(world.pt, call, world.distributor, "UnitIsInTransit", consignment)
    world.send(world.pt.functions.receiveShipment([consignment]), world.pharmacy)
    reverts(world.pt, call, world.distributor, "UnitNotHeld", consignment, world.distributor)


def test_shipPacks_receive_twice_reverts(world, stock):
    consignment, _ = stock.consign([group(stock.a, stock.l1, [3])], world.pharmacy)
    world.send(world.pt.functions.receiveShipment([consignment]), world.pharmacy)
    call = world.pt.functions.receiveShipment([consignment])
    reverts(world.pt, call, world.pharmacy, "UnitNotInTransit", consignment)


def test_shipPacks_received_consignment_cannot_be_shipped_as_a_unit(world, stock):
    consignment, _ = stock.consign([group(stock.a, stock.l1, [3])], world.pharmacy)
    world.send(world.pt.functions.receiveShipment([consignment]), world.pharmacy)
    call = world.pt.functions.ship([consignment], world.pharmacy2)
    reverts(world.pt, call, world.pharmacy, "UnitIsUnpacked", consignment)


def test_shipPacks_consignment_ids_are_numbered_with_the_containers(world, stock):
    stock.tote(0, [group(stock.a, stock.l1, [1])])  # number 1
    consignment, receipt = stock.consign([group(stock.a, stock.l1, [3])], world.pharmacy)
    assert only(world.pt, receipt, "ConsignmentCreated")[0]["number"] == 2
    assert consignment == world.pt.functions.consignmentIdOf(2).call()


def test_shipPacks_no_groups_reverts(world, stock):
    call = world.pt.functions.shipListed([], [], world.pharmacy)
    reverts(world.pt, call, world.distributor, "ShipmentEmpty", world.pharmacy)


def test_shipPacks_to_self_reverts(world, stock):
    call = stock.consign_call([group(stock.a, stock.l1, [3])], world.distributor)
    reverts(world.pt, call, world.distributor, "ShipmentToSelf", world.distributor)


def test_shipPacks_to_unregistered_reverts(world, stock):
    call = stock.consign_call([group(stock.a, stock.l1, [3])], world.outsider)
    reverts(world.pt, call, world.distributor, "OrganisationNotRegistered", world.outsider)


def test_shipPacks_to_suspended_reverts(world, stock):
    world.send(world.pt.functions.suspendOrganisation(world.pharmacy), world.admin)
    call = stock.consign_call([group(stock.a, stock.l1, [3])], world.pharmacy)
    reverts(world.pt, call, world.distributor, "OrganisationIsSuspended", world.pharmacy)


def test_shipPacks_pack_checks_are_those_of_packTote(world, stock):
    world.send(world.pt.functions.destroy(stock.a, stock.l1, pack_set([8]), NO_PROOF), world.distributor)
    call = stock.consign_call([group(stock.a, stock.l1, [8])], world.pharmacy)
    reverts(world.pt, call, world.distributor, "PackIsInactive", stock.l1, 8)
    call = stock.consign_call([group(stock.a, stock.l1, [3])], world.pharmacy)
    reverts(world.pt, call, world.pharmacy2, "UnitNotHeld", stock.a, world.pharmacy2)


def test_contract_code_fits_the_size_limit(world, artifacts):
    """EIP-170 / EIP-3860: PharmaTrack, PharmaTrackPacks and PharmaTrackListed each under 24 KiB of code, and
    PharmaTrack's initcode (which embeds PharmaTrackPacks') under 48 KiB."""
    assert len(world.w3.eth.get_code(world.pt.address)) <= 24_576
    for name in ("PharmaTrackPacks", "PharmaTrackListed"):
        assert len(bytes.fromhex(artifacts[name].deployed_bytecode.removeprefix("0x"))) <= 24_576, name
    assert len(bytes.fromhex(artifacts["PharmaTrack"].bytecode.removeprefix("0x"))) <= 49_152
