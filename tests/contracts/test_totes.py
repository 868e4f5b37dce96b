"""Packs leaving their case: totes (each-picking, mixed products and lots) and loose consignments."""

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
from tests.contracts.picking import TOTE_SSCC, Stock, group

TOTE, CONSIGNMENT, PALLET = 3, 4, 2
NOBODY = "0x" + "00" * 20
UNKNOWN = b"\x05" * 32


@pytest.fixture
def stock(world):
    return Stock(world)


def dispense(world, container, lot_id, indexes, by=None):
    return world.send(
        world.pt.functions.dispenseDay([(container, lot_id, pack_set(indexes), NO_PROOF)], [], []), by or world.pharmacy
    )


# ---------------------------------------------------------------- packTote


def test_packTote_picks_packs_of_several_products_and_lots(world, stock):
    pt = world.pt
    groups = [group(stock.a, stock.l1, [3, 4, 5]), group(stock.b, stock.l2, [10]), group(stock.f, stock.frozen, [0])]
    receipt = world.send(pt.functions.packTote(TOTE_SSCC, groups), world.distributor)
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
    call = world.pt.functions.packTote(TOTE_SSCC, [group(stock.a, stock.l1, [1])])
    assert call.call({"from": world.distributor}) == sscc_id(TOTE_SSCC)


def test_packTote_packs_leave_their_case(world, stock):
    tote = stock.tote(0, [group(stock.a, stock.l1, [3, 4])])
    call = world.pt.functions.packTote(TOTE_SSCC + 1, [group(stock.a, stock.l1, [2, 3])])
    reverts(world.pt, call, world.distributor, "PackMoved", stock.l1, 3, tote)
    stock.tote(1, [group(stock.a, stock.l1, [2, 5])])  # the rest of the case is still there


def test_packTote_a_pack_named_twice_is_in_one_container(world, stock):
    groups = [group(stock.a, stock.l1, [7]), group(stock.a, stock.l1, [7])]
    call = world.pt.functions.packTote(TOTE_SSCC, groups)
    reverts(world.pt, call, world.distributor, "PackMoved", stock.l1, 7, sscc_id(TOTE_SSCC))


def test_packTote_tote_travels_on_a_pallet_and_its_packs_dispense(world, stock):
    pt = world.pt
    tote = stock.tote(0, [group(stock.a, stock.l1, [3, 4]), group(stock.b, stock.l2, [9])])
    world.send(pt.functions.packPallet(PALLET_SSCC, [tote]), world.distributor)
    pallet = sscc_id(PALLET_SSCC)
    assert world.unit(tote)["container"] == pallet
    world.deliver([pallet], world.distributor, world.pharmacy)
    assert world.unit(tote)["custodian"] == world.pharmacy
    world.send(pt.functions.unpack([pallet]), world.pharmacy)
    receipt = dispense(world, tote, stock.l1, [4])
    assert only(pt, receipt, "Dispensed")[0]["caseId"] == tote
    dispense(world, tote, stock.l2, [9])
    assert world.pack_state(4) == (True, True, False, False)
    # the case the packs came from no longer holds them, and the distributor no longer holds them either
    reverts(pt, pt.functions.dispenseDay([(stock.a, stock.l1, pack_set([3]), NO_PROOF)], [], []), world.pharmacy, "UnitNotHeld",
            stock.a, world.pharmacy)  # fmt: skip


def test_packTote_from_an_opened_tote(world, stock):
    first = stock.tote(0, [group(stock.a, stock.l1, [3, 4, 5])])
    world.send(world.pt.functions.unpack([first]), world.distributor)
    second = stock.tote(1, [group(first, stock.l1, [4])])
    world.deliver([second], world.distributor, world.pharmacy)
    dispense(world, second, stock.l1, [4])
    call = world.pt.functions.packTote(TOTE_SSCC + 2, [group(first, stock.l1, [4, 5])])
    reverts(world.pt, call, world.distributor, "PackNotInCase", first, stock.l1, 4)


def test_packTote_from_a_tree_case_with_a_multiproof(world, stock):
    packs, proof = stock.tree.children_proof([202, 260])
    tote = stock.tote(0, [(stock.c, stock.l1, packs, proof)])
    assert world.unit(tote)["children"] == 2
    world.deliver([tote], world.distributor, world.pharmacy)
    dispense(world, tote, stock.l1, [202, 260])


def test_packTote_from_a_tree_case_with_a_bad_proof_reverts(world, stock):
    _, proof = stock.tree.children_proof([202, 260])
    call = world.pt.functions.packTote(TOTE_SSCC, [(stock.c, stock.l1, pack_set([202, 262]), proof)])
    reverts(world.pt, call, world.distributor, "PackProofInvalid", stock.c, stock.l1)


def test_packTote_from_the_manufacturers_loose_stock(world):
    receipt = world.send(world.pt.functions.packTote(TOTE_SSCC, [group(ZERO, world.lot_id, [900, 901])]), world.maker)
    assert only(world.pt, receipt, "PacksMoved")[0]["source"] == ZERO
    assert world.pack_state(900)[0] is True  # left the loose stock for good
    call = world.pt.functions.packCase(CASE_SSCC + 9, world.lot_id, 899, 2)
    reverts(world.pt, call, world.maker, "PackAlreadyAllocated", world.lot_id, 900)
    world.deliver([sscc_id(TOTE_SSCC)], world.maker, world.pharmacy)
    dispense(world, sscc_id(TOTE_SSCC), world.lot_id, [901])


def test_packTote_unpacked_tote_is_loose_at_its_holder(world, stock):
    tote = stock.tote(0, [group(stock.a, stock.l1, [3])])
    world.deliver([tote], world.distributor, world.pharmacy)
    world.send(world.pt.functions.unpack([tote]), world.pharmacy)
    assert world.unit(tote)["unpacked"] is True
    dispense(world, tote, stock.l1, [3])


def test_packTote_quarantined_tote_cannot_be_dispensed_from(world, stock):
    tote = stock.tote(0, [group(stock.a, stock.l1, [3])])
    world.deliver([tote], world.distributor, world.pharmacy)
    world.send(world.pt.functions.quarantineUnit(tote), world.pharmacy)
    call = world.pt.functions.dispenseDay([(tote, stock.l1, pack_set([3]), NO_PROOF)], [], [])
    reverts(world.pt, call, world.pharmacy, "UnitIsQuarantined", tote)


def test_packTote_destroy_and_quarantine_packs_through_a_tote(world, stock):
    pt = world.pt
    tote = stock.tote(0, [group(stock.a, stock.l1, [3, 4])])
    world.send(pt.functions.quarantinePacks(tote, stock.l1, pack_set([3]), NO_PROOF), world.distributor)
    assert world.pack_state(3)[3] is True
    world.send(pt.functions.destroy(tote, stock.l1, pack_set([4]), NO_PROOF), world.distributor)
    assert world.pack_state(4)[2] is True
    call = pt.functions.destroy(stock.a, stock.l1, pack_set([3]), NO_PROOF)
    reverts(pt, call, world.distributor, "PackMoved", stock.l1, 3, tote)


def test_packTote_proof_for_a_tote_reverts(world, stock):
    tote = stock.tote(0, [group(stock.a, stock.l1, [3])])
    call = world.pt.functions.destroy(tote, stock.l1, pack_set([3]), ([b"\x01" * 32], []))
    reverts(world.pt, call, world.distributor, "PackProofInvalid", tote, stock.l1)


def test_packTote_pallet_as_a_pack_container_reverts(world, stock):
    world.send(world.pt.functions.packPallet(PALLET_SSCC, [stock.tote(0, [group(stock.a, stock.l1, [3])])]),
               world.distributor)  # fmt: skip
    pallet = sscc_id(PALLET_SSCC)
    call = world.pt.functions.destroy(pallet, stock.l1, pack_set([3]), NO_PROOF)
    reverts(world.pt, call, world.distributor, "UnitWrongKind", pallet, PALLET)
    world.send(world.pt.functions.unpack([pallet]), world.distributor)
    call = world.pt.functions.packTote(TOTE_SSCC + 1, [group(pallet, stock.l1, [3])])
    reverts(world.pt, call, world.distributor, "UnitWrongKind", pallet, PALLET)


@pytest.mark.parametrize("sscc", [0, 10**18])
def test_packTote_invalid_sscc_reverts(world, stock, sscc):
    call = world.pt.functions.packTote(sscc, [group(stock.a, stock.l1, [3])])
    reverts(world.pt, call, world.distributor, "UnitInvalidSscc", sscc)


def test_packTote_existing_sscc_reverts(world, stock):
    call = world.pt.functions.packTote(CASE_SSCC + 1, [group(stock.a, stock.l1, [3])])
    reverts(world.pt, call, world.distributor, "UnitAlreadyExists", stock.a)


def test_packTote_no_groups_reverts(world, stock):
    call = world.pt.functions.packTote(TOTE_SSCC, [])
    reverts(world.pt, call, world.distributor, "UnitEmpty", sscc_id(TOTE_SSCC))


def test_packTote_empty_pack_set_reverts(world, stock):
    call = world.pt.functions.packTote(TOTE_SSCC, [(stock.a, stock.l1, (0, [0]), NO_PROOF)])
    reverts(world.pt, call, world.distributor, "PackSetEmpty", stock.l1)


def test_packTote_unknown_lot_reverts(world, stock):
    call = world.pt.functions.packTote(TOTE_SSCC, [group(stock.a, UNKNOWN, [3])])
    reverts(world.pt, call, world.distributor, "LotNotFound", UNKNOWN)


def test_packTote_recalled_lot_reverts(world, stock):
    world.send(world.pt.functions.recallLot(stock.l1), world.regulator)
    call = world.pt.functions.packTote(TOTE_SSCC, [group(stock.a, stock.l1, [3])])
    reverts(world.pt, call, world.distributor, "LotIsRecalled", stock.l1)


def test_packTote_quarantined_lot_reverts(world, stock):
    world.send(world.pt.functions.quarantineLot(stock.l1), world.regulator)
    call = world.pt.functions.packTote(TOTE_SSCC, [group(stock.a, stock.l1, [3])])
    reverts(world.pt, call, world.distributor, "LotIsQuarantined", stock.l1)


def test_packTote_loose_stock_of_another_manufacturer_reverts(world, stock):
    call = world.pt.functions.packTote(TOTE_SSCC, [group(ZERO, stock.l1, [500])])
    reverts(world.pt, call, world.distributor, "LotNotManufacturer", stock.l1, world.distributor)


def test_packTote_loose_stock_with_a_proof_reverts(world):
    call = world.pt.functions.packTote(TOTE_SSCC, [group(ZERO, world.lot_id, [500], ([b"\x01" * 32], []))])
    reverts(world.pt, call, world.maker, "PackProofInvalid", ZERO, world.lot_id)


def test_packTote_loose_stock_out_of_range_reverts(world):
    call = world.pt.functions.packTote(TOTE_SSCC, [group(ZERO, world.lot_id, [1023, 1024])])
    reverts(world.pt, call, world.maker, "PackIndexOutOfRange", world.lot_id, 1024, 1024)


def test_packTote_loose_stock_already_packed_reverts(world, stock):
    call = world.pt.functions.packTote(TOTE_SSCC, [group(ZERO, stock.l1, [99, 100])])
    reverts(world.pt, call, world.maker, "PackAlreadyAllocated", stock.l1, 99)


def test_packTote_loose_stock_destroyed_reverts(world):
    world.send(world.pt.functions.destroy(ZERO, world.lot_id, pack_set([700]), NO_PROOF), world.maker)
    call = world.pt.functions.packTote(TOTE_SSCC, [group(ZERO, world.lot_id, [700])])
    reverts(world.pt, call, world.maker, "PackIsInactive", world.lot_id, 700)


def test_packTote_unknown_source_reverts(world, stock):
    call = world.pt.functions.packTote(TOTE_SSCC, [group(UNKNOWN, stock.l1, [3])])
    reverts(world.pt, call, world.distributor, "UnitNotFound", UNKNOWN)


def test_packTote_source_held_by_another_reverts(world, stock):
    call = world.pt.functions.packTote(TOTE_SSCC, [group(stock.a, stock.l1, [3])])
    reverts(world.pt, call, world.pharmacy, "UnitNotHeld", stock.a, world.pharmacy)


def test_packTote_closed_case_reverts(world, stock):
    closed = world.pack_case(5, 400, 10)
    call = world.pt.functions.packTote(TOTE_SSCC, [group(closed, stock.l1, [401])])
    reverts(world.pt, call, world.maker, "UnitNotUnpacked", closed)


def test_packTote_source_in_transit_reverts(world, stock):
    consignment, _ = stock.consign([group(stock.a, stock.l1, [3])], world.pharmacy)
    call = world.pt.functions.packTote(TOTE_SSCC, [group(consignment, stock.l1, [3])])
    reverts(world.pt, call, world.distributor, "UnitIsInTransit", consignment)


def test_packTote_quarantined_source_reverts(world, stock):
    world.send(world.pt.functions.quarantineUnit(stock.a), world.regulator)
    call = world.pt.functions.packTote(TOTE_SSCC, [group(stock.a, stock.l1, [3])])
    reverts(world.pt, call, world.distributor, "UnitIsQuarantined", stock.a)


def test_packTote_pack_not_in_the_case_reverts(world, stock):
    call = world.pt.functions.packTote(TOTE_SSCC, [group(stock.a, stock.l1, [99, 100])])
    reverts(world.pt, call, world.distributor, "PackNotInCase", stock.a, stock.l1, 100)
    call = world.pt.functions.packTote(TOTE_SSCC, [group(stock.a, stock.l2, [3])])
    reverts(world.pt, call, world.distributor, "PackNotInCase", stock.a, stock.l2, 3)


def test_packTote_inactive_pack_reverts(world, stock):
    world.send(world.pt.functions.destroy(stock.a, stock.l1, pack_set([8]), NO_PROOF), world.distributor)
    call = world.pt.functions.packTote(TOTE_SSCC, [group(stock.a, stock.l1, [7, 8])])
    reverts(world.pt, call, world.distributor, "PackIsInactive", stock.l1, 8)


def test_packTote_quarantined_pack_reverts(world, stock):
    world.send(world.pt.functions.quarantinePacks(ZERO, stock.l1, pack_set([8]), NO_PROOF), world.regulator)
    call = world.pt.functions.packTote(TOTE_SSCC, [group(stock.a, stock.l1, [7, 8])])
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
    dispense(world, consignment, stock.l1, [3])
    # the receiver may move them on
    world.send(pt.functions.shipPacks([group(consignment, stock.l1, [4])], world.pharmacy2), world.pharmacy)


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
    call = world.pt.functions.shipPacks([group(stock.a, stock.l1, [3])], world.pharmacy2)
    reverts(world.pt, call, world.distributor, "PackMoved", stock.l1, 3, consignment)
    call = world.pt.functions.shipPacks([group(consignment, stock.l1, [3])], world.pharmacy2)
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
    call = world.pt.functions.shipPacks([], world.pharmacy)
    reverts(world.pt, call, world.distributor, "ShipmentEmpty", world.pharmacy)


def test_shipPacks_to_self_reverts(world, stock):
    call = world.pt.functions.shipPacks([group(stock.a, stock.l1, [3])], world.distributor)
    reverts(world.pt, call, world.distributor, "ShipmentToSelf", world.distributor)


def test_shipPacks_to_unregistered_reverts(world, stock):
    call = world.pt.functions.shipPacks([group(stock.a, stock.l1, [3])], world.outsider)
    reverts(world.pt, call, world.distributor, "OrganisationNotRegistered", world.outsider)


def test_shipPacks_to_suspended_reverts(world, stock):
    world.send(world.pt.functions.suspendOrganisation(world.pharmacy), world.admin)
    call = world.pt.functions.shipPacks([group(stock.a, stock.l1, [3])], world.pharmacy)
    reverts(world.pt, call, world.distributor, "OrganisationIsSuspended", world.pharmacy)


def test_shipPacks_pack_checks_are_those_of_packTote(world, stock):
    world.send(world.pt.functions.destroy(stock.a, stock.l1, pack_set([8]), NO_PROOF), world.distributor)
    call = world.pt.functions.shipPacks([group(stock.a, stock.l1, [8])], world.pharmacy)
    reverts(world.pt, call, world.distributor, "PackIsInactive", stock.l1, 8)
    call = world.pt.functions.shipPacks([group(stock.a, stock.l1, [3])], world.pharmacy)
    reverts(world.pt, call, world.pharmacy2, "UnitNotHeld", stock.a, world.pharmacy2)


def test_contract_code_fits_the_size_limit(world):
    """EIP-170: the pack-level functions live in PharmaTrackPacks so that PharmaTrack stays deployable."""
    code = world.w3.eth.get_code(world.pt.address)
    assert len(code) <= 24_576
