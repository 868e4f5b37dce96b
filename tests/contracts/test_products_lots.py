"""Products, lot commissioning, recall and lot quarantine."""

from __future__ import annotations

from app.ids import lgtin_id, pack_set
from tests.contracts.conftest import FROZEN_GTIN, GTIN, LOT, MAX_TEMP, MIN_TEMP, SERIALS
from tests.contracts.helpers import NO_PROOF, advance_time, events, reverts, role

NEW_GTIN = 9506000000017
ROOT = b"\x11" * 32


# ---------------------------------------------------------------- registerProduct


def test_registerProduct_records_manufacturer_and_range(world):
    pt = world.pt
    receipt = world.send(pt.functions.registerProduct(NEW_GTIN, -50, 2500), world.maker)
    assert pt.functions.product(NEW_GTIN).call() == [world.maker, -50, 2500]
    assert events(pt, receipt) == [
        ("ProductRegistered", {"gtin": NEW_GTIN, "manufacturer": world.maker, "minTemp": -50, "maxTemp": 2500})
    ]


def test_product_unknown_is_empty(world):
    assert world.pt.functions.product(NEW_GTIN).call() == ["0x" + "00" * 20, 0, 0]


def test_registerProduct_unregistered_caller_reverts(world):
    call = world.pt.functions.registerProduct(NEW_GTIN, 0, 1)
    reverts(world.pt, call, world.outsider, "OrganisationNotRegistered", world.outsider)


def test_registerProduct_without_manufacturer_role_reverts(world):
    call = world.pt.functions.registerProduct(NEW_GTIN, 0, 1)
    reverts(world.pt, call, world.distributor, "OrganisationMissingRole", world.distributor, role("MANUFACTURER_ROLE"))


def test_registerProduct_invalid_gtin_reverts(world):
    for gtin in (0, 10**14):
        reverts(world.pt, world.pt.functions.registerProduct(gtin, 0, 1), world.maker, "ProductInvalidGtin", gtin)


def test_registerProduct_twice_reverts(world):
    call = world.pt.functions.registerProduct(FROZEN_GTIN, 0, 1)
    reverts(world.pt, call, world.maker, "ProductAlreadyRegistered", FROZEN_GTIN)


def test_registerProduct_empty_range_reverts(world):
    call = world.pt.functions.registerProduct(NEW_GTIN, 801, 800)
    reverts(world.pt, call, world.maker, "ProductInvalidRange", 801, 800)


# ---------------------------------------------------------------- commissionLot


def test_commissionLot_records_the_lot_in_one_transaction(world):
    pt = world.pt
    expiry = world.expiry
    receipt = world.send(pt.functions.commissionLot(GTIN, "L2", expiry, 100_000, ROOT), world.maker)
    lot_id = lgtin_id(f"{GTIN:014d}", "L2")
    assert pt.functions.lot(lot_id).call() == (
        GTIN,
        world.maker,
        100_000,
        expiry,
        MIN_TEMP,
        MAX_TEMP,
        False,
        False,
        0,
        100_000,
        1,
        ROOT,
    )
    assert pt.functions.batch(lot_id, 0).call() == [0, 100_000, ROOT]
    assert events(pt, receipt) == [
        (
            "LotCommissioned",
            {
                "lotId": lot_id,
                "gtin": GTIN,
                "manufacturer": world.maker,
                "lotNumber": "L2",
                "expiry": expiry,
                "serialCount": 100_000,
                "serialsRoot": ROOT,
            },
        )
    ]


def test_lot_commissioned_in_setup_commits_the_python_serial_tree(world):
    info = world.pt.functions.lot(world.lot_id).call()
    assert info[2] == SERIALS
    assert info[-1] == world.lot_tree.root


def test_lot_unknown_is_empty(world):
    assert world.pt.functions.lot(b"\x01" * 32).call()[1] == "0x" + "00" * 20


def test_commissionLot_unregistered_caller_reverts(world):
    call = world.pt.functions.commissionLot(GTIN, "L2", world.expiry, 10, ROOT)
    reverts(world.pt, call, world.outsider, "OrganisationNotRegistered", world.outsider)


def test_commissionLot_without_manufacturer_role_reverts(world):
    call = world.pt.functions.commissionLot(GTIN, "L2", world.expiry, 10, ROOT)
    reverts(world.pt, call, world.regulator, "OrganisationMissingRole", world.regulator, role("MANUFACTURER_ROLE"))


def test_commissionLot_unknown_product_reverts(world):
    call = world.pt.functions.commissionLot(NEW_GTIN, "L2", world.expiry, 10, ROOT)
    reverts(world.pt, call, world.maker, "ProductNotRegistered", NEW_GTIN)


def test_commissionLot_other_manufacturers_product_reverts(world):
    call = world.pt.functions.commissionLot(GTIN, "L2", world.expiry, 10, ROOT)
    reverts(world.pt, call, world.maker2, "ProductNotManufacturer", GTIN, world.maker2)


def test_commissionLot_invalid_lot_number_reverts(world):
    for lot in ("", "X" * 21):
        call = world.pt.functions.commissionLot(GTIN, lot, world.expiry, 10, ROOT)
        reverts(world.pt, call, world.maker, "LotInvalidCode", lot)


def test_commissionLot_no_serials_reverts(world):
    call = world.pt.functions.commissionLot(GTIN, "L2", world.expiry, 0, ROOT)
    reverts(world.pt, call, world.maker, "LotInvalidSerialCount", 0)


def test_commissionLot_zero_root_reverts(world):
    call = world.pt.functions.commissionLot(GTIN, "L2", world.expiry, 10, b"\0" * 32)
    reverts(world.pt, call, world.maker, "LotInvalidRoot", b"\0" * 32)


def test_commissionLot_expiry_not_in_future_reverts(world):
    now = world.w3.eth.get_block("latest").timestamp
    call = world.pt.functions.commissionLot(GTIN, "L2", now, 10, ROOT)
    reverts(world.pt, call, world.maker, "LotInvalidExpiry", now)


def test_commissionLot_twice_reverts(world):
    call = world.pt.functions.commissionLot(GTIN, LOT, world.expiry, 10, ROOT)
    reverts(world.pt, call, world.maker, "LotAlreadyCommissioned", world.lot_id)


# ---------------------------------------------------------------- recallLot


def test_recallLot_by_manufacturer_blocks_dispensing(world):
    pt = world.pt
    case = world.pack_case(1, 0, 10)
    world.deliver([case], world.maker, world.pharmacy)
    receipt = world.send(pt.functions.recallLot(world.lot_id), world.maker)
    assert pt.functions.lot(world.lot_id).call()[6] is True
    assert events(pt, receipt) == [("LotRecalled", {"lotId": world.lot_id, "by": world.maker})]
    call = pt.functions.dispenseDay([(case, world.lot_id, pack_set([0]), NO_PROOF)], [], [])
    reverts(pt, call, world.pharmacy, "LotIsRecalled", world.lot_id)


def test_recallLot_by_regulator(world):
    receipt = world.send(world.pt.functions.recallLot(world.lot_id), world.regulator)
    assert world.pt.functions.lot(world.lot_id).call()[6] is True
    assert events(world.pt, receipt) == [("LotRecalled", {"lotId": world.lot_id, "by": world.regulator})]


def test_recallLot_unknown_lot_reverts(world):
    reverts(world.pt, world.pt.functions.recallLot(ROOT), world.regulator, "LotNotFound", ROOT)


def test_recallLot_by_other_party_reverts(world):
    call = world.pt.functions.recallLot(world.lot_id)
    reverts(world.pt, call, world.maker2, "LotNotManufacturer", world.lot_id, world.maker2)


def test_recallLot_twice_reverts(world):
    world.send(world.pt.functions.recallLot(world.lot_id), world.maker)
    reverts(world.pt, world.pt.functions.recallLot(world.lot_id), world.regulator, "LotIsRecalled", world.lot_id)


def test_recallLot_unregistered_caller_reverts(world):
    call = world.pt.functions.recallLot(world.lot_id)
    reverts(world.pt, call, world.outsider, "OrganisationNotRegistered", world.outsider)


# ---------------------------------------------------------------- quarantineLot / clearLotQuarantine


def test_quarantineLot_blocks_dispensing_and_packing(world):
    pt = world.pt
    case = world.pack_case(1, 0, 10)
    world.deliver([case], world.maker, world.pharmacy)
    receipt = world.send(pt.functions.quarantineLot(world.lot_id), world.regulator)
    assert pt.functions.lot(world.lot_id).call()[7] is True
    assert events(pt, receipt) == [("LotQuarantined", {"lotId": world.lot_id, "by": world.regulator})]
    call = pt.functions.dispenseDay([(case, world.lot_id, pack_set([0]), NO_PROOF)], [], [])
    reverts(pt, call, world.pharmacy, "LotIsQuarantined", world.lot_id)
    reverts(pt, pt.functions.packCase(2, world.lot_id, 10, 10), world.maker, "LotIsQuarantined", world.lot_id)


def test_quarantineLot_by_manufacturer(world):
    receipt = world.send(world.pt.functions.quarantineLot(world.lot_id), world.maker)
    assert events(world.pt, receipt) == [("LotQuarantined", {"lotId": world.lot_id, "by": world.maker})]


def test_quarantineLot_unknown_lot_reverts(world):
    reverts(world.pt, world.pt.functions.quarantineLot(ROOT), world.maker, "LotNotFound", ROOT)


def test_quarantineLot_by_other_party_reverts(world):
    call = world.pt.functions.quarantineLot(world.lot_id)
    reverts(world.pt, call, world.pharmacy, "LotNotManufacturer", world.lot_id, world.pharmacy)


def test_quarantineLot_twice_reverts(world):
    world.send(world.pt.functions.quarantineLot(world.lot_id), world.maker)
    reverts(world.pt, world.pt.functions.quarantineLot(world.lot_id), world.maker, "LotIsQuarantined", world.lot_id)


def test_clearLotQuarantine_lets_dispensing_resume(world):
    pt = world.pt
    case = world.pack_case(1, 0, 10)
    world.deliver([case], world.maker, world.pharmacy)
    world.send(pt.functions.quarantineLot(world.lot_id), world.maker)
    receipt = world.send(pt.functions.clearLotQuarantine(world.lot_id), world.regulator)
    assert pt.functions.lot(world.lot_id).call()[7] is False
    assert events(pt, receipt) == [("LotQuarantineCleared", {"lotId": world.lot_id, "by": world.regulator})]
    world.dispense(case, [0])
    assert world.pack_state(0)[1] is True


def test_clearLotQuarantine_not_quarantined_reverts(world):
    call = world.pt.functions.clearLotQuarantine(world.lot_id)
    reverts(world.pt, call, world.maker, "LotNotQuarantined", world.lot_id)


def test_clearLotQuarantine_by_other_party_reverts(world):
    world.send(world.pt.functions.quarantineLot(world.lot_id), world.maker)
    call = world.pt.functions.clearLotQuarantine(world.lot_id)
    reverts(world.pt, call, world.distributor, "LotNotManufacturer", world.lot_id, world.distributor)


def test_clearLotQuarantine_unknown_lot_reverts(world):
    reverts(world.pt, world.pt.functions.clearLotQuarantine(ROOT), world.maker, "LotNotFound", ROOT)


# ---------------------------------------------------------------- expiry


def test_dispense_after_expiry_reverts(world):
    case = world.pack_case(1, 0, 10)
    world.deliver([case], world.maker, world.pharmacy)
    now = world.w3.eth.get_block("latest").timestamp
    advance_time(world.w3, world.expiry - now + 1)
    call = world.pt.functions.dispenseDay([(case, world.lot_id, pack_set([0]), NO_PROOF)], [], [])
    reverts(world.pt, call, world.pharmacy, "LotIsExpired", world.lot_id, world.expiry)
