"""Stolen packs (reportStolen) and undoing a dispense within 10 days (undoDispenseDay, EU FMD)."""

from __future__ import annotations

import pytest

from app.ids import lgtin_id, pack_set
from tests.contracts.conftest import GTIN
from tests.contracts.helpers import NO_PROOF, ZERO, advance_time, events, only, reverts, role
from tests.contracts.picking import DAY, TOTE_SSCC, Counter, Stock, group

UNKNOWN = b"\x05" * 32


@pytest.fixture
def counter(world):
    """Case 1 (lot L1, leaves 0..99) at the pharmacy, opened, and its dispense records."""
    case = world.pack_case(1, 0, 100)
    world.deliver([case], world.maker, world.pharmacy)
    world.send(world.pt.functions.unpack([case]), world.pharmacy)
    c = Counter(world, world.pharmacy)
    c.case = case
    return c


def dispensed(world, index, lot_id=None) -> bool:
    return world.pack_state(index, lot_id)[1]


# ---------------------------------------------------------------- undoDispenseDay


def test_undoDispense_reactivates_the_packs(world, counter):
    which = counter.dispense(counter.case, world.lot_id, [3, 4, 50])
    receipt = counter.undo(which, counter.case, world.lot_id, [3])
    first_word, masks = pack_set([3])
    assert events(world.pt, receipt) == [
        (
            "DispenseUndone",
            {"lotId": world.lot_id, "containerId": counter.case, "by": world.pharmacy, "firstWord": first_word,
             "masks": masks},
        )
    ]  # fmt: skip
    assert (dispensed(world, 3), dispensed(world, 4)) == (False, True)
    counter.dispense(counter.case, world.lot_id, [3])  # sold again
    assert dispensed(world, 3)


def test_undoDispense_names_one_of_the_dispensers_calls(world, counter):
    counter.dispense(counter.case, world.lot_id, [1])
    counter.dispense(counter.case, world.lot_id, [2])
    which = counter.dispense(counter.case, world.lot_id, [10])
    assert which == 2
    counter.undo(1, counter.case, world.lot_id, [2])  # proved through the later call's link
    assert [dispensed(world, i) for i in (1, 2, 10)] == [True, False, True]


def test_undoDispense_within_ten_days(world, counter):
    which = counter.dispense(counter.case, world.lot_id, [3])
    advance_time(world.w3, 10 * DAY - 60)
    counter.undo(which, counter.case, world.lot_id, [3])
    assert not dispensed(world, 3)


def test_undoDispense_after_ten_days_reverts(world, counter):
    which = counter.dispense(counter.case, world.lot_id, [3])
    time = counter.calls[which]["time"]
    advance_time(world.w3, 10 * DAY + 1)
    call = counter.undo_call(which, counter.case, world.lot_id, [3])
    reverts(world.pt, call, world.pharmacy, "UndoWindowClosed", time, time + 10 * DAY)


def test_undoDispense_from_a_tote(world):
    stock = Stock(world)
    tote = stock.tote(0, [group(stock.a, stock.l1, [5, 6]), group(stock.b, stock.l2, [7])])
    world.deliver([tote], world.distributor, world.pharmacy)
    c = Counter(world, world.pharmacy, stock)
    which = c.dispense(tote, stock.l2, [7])
    c.undo(which, tote, stock.l2, [7])
    assert not dispensed(world, 7, stock.l2)
    c.dispense(tote, stock.l2, [7])  # still listed in the tote: sold again


def test_undoDispense_a_used_record_cannot_undo_another_partys_later_dispense(world):
    """Review 14-15 #4: P dispenses X from tote T and undoes it, ships T to Q, Q dispenses X, T comes back to P.
    P's proof of its own (undone) dispense must not undo Q's: a call undoes each of its packs once."""
    stock = Stock(world)
    tote = stock.tote(0, [group(stock.a, stock.l1, [5, 6]), group(stock.b, stock.l2, [7])])
    world.deliver([tote], world.distributor, world.pharmacy)
    p, q = Counter(world, world.pharmacy, stock), Counter(world, world.pharmacy2, stock)
    which = p.dispense(tote, stock.l2, [7])
    p.undo(which, tote, stock.l2, [7])
    world.deliver([tote], world.pharmacy, world.pharmacy2)
    q.dispense(tote, stock.l2, [7])
    world.deliver([tote], world.pharmacy2, world.pharmacy)
    call = p.undo_call(which, tote, stock.l2, [7])
    reverts(world.pt, call, world.pharmacy, "UndoRecordUsed", stock.l2, 7)
    assert dispensed(world, 7, stock.l2)


@pytest.mark.parametrize("tamper", ["missing link", "extra link", "altered args", "before", "time", "link time"])
def test_undoDispense_proof_not_the_chain_reverts(world, counter, tamper):
    counter.dispense(counter.case, world.lot_id, [1, 2])
    counter.dispense(counter.case, world.lot_id, [3])
    (before, time, cases, totes, caged), later = counter.proof(0)
    if tamper == "missing link":
        later = []
    elif tamper == "extra link":
        later = [*later, later[0]]
    elif tamper == "altered args":
        cases = [(counter.case, world.lot_id, pack_set([1, 2, 4]), NO_PROOF)]
    elif tamper == "before":
        before += 1
    elif tamper == "time":
        time += 1
    else:
        later = [(later[0][0] + 1, later[0][1])]
    proof = ((before, time, cases, totes, caged), later)
    call = counter.undo_call(0, counter.case, world.lot_id, [2], proof=proof)
    reverts(world.pt, call, world.pharmacy, "UndoProofInvalid", world.pharmacy)


def test_undoDispense_by_another_dispenser_reverts(world, counter):
    which = counter.dispense(counter.case, world.lot_id, [1])
    call = counter.undo_call(which, counter.case, world.lot_id, [1])
    reverts(world.pt, call, world.pharmacy2, "UndoProofInvalid", world.pharmacy2)


def test_undoDispense_without_dispenser_role_reverts(world, counter):
    which = counter.dispense(counter.case, world.lot_id, [1])
    call = counter.undo_call(which, counter.case, world.lot_id, [1])
    reverts(world.pt, call, world.distributor, "OrganisationMissingRole", world.distributor, role("DISPENSER_ROLE"))


def test_undoDispense_pack_not_in_the_record_reverts(world, counter):
    counter.dispense(counter.case, world.lot_id, [1])
    which = counter.dispense(counter.case, world.lot_id, [2])
    call = counter.undo_call(which, counter.case, world.lot_id, [1, 2])
    reverts(world.pt, call, world.pharmacy, "UndoPackNotInRecord", world.lot_id, 1)
    call = counter.undo_call(which, counter.case, world.lot_id, [600])
    reverts(world.pt, call, world.pharmacy, "UndoPackNotInRecord", world.lot_id, 600)
    call = counter.undo_call(which, UNKNOWN, world.lot_id, [2])
    reverts(world.pt, call, world.pharmacy, "UndoPackNotInRecord", world.lot_id, 2)


def test_undoDispense_empty_pack_set_reverts(world, counter):
    which = counter.dispense(counter.case, world.lot_id, [1])
    call, later = counter.proof(which)
    undo = world.pt.functions.undoDispenseDay(call, later, counter.case, world.lot_id, (0, [0]))
    reverts(world.pt, undo, world.pharmacy, "PackSetEmpty", world.lot_id)


def test_undoDispense_twice_reverts(world, counter):
    which = counter.dispense(counter.case, world.lot_id, [1, 2])
    counter.undo(which, counter.case, world.lot_id, [1])
    call = counter.undo_call(which, counter.case, world.lot_id, [2, 1])
    reverts(world.pt, call, world.pharmacy, "PackNotDispensed", world.lot_id, 1)


def test_undoDispense_destroyed_since_reverts(world, counter):
    which = counter.dispense(counter.case, world.lot_id, [1])
    counter.undo(which, counter.case, world.lot_id, [1])
    world.send(world.pt.functions.destroy(counter.case, world.lot_id, pack_set([1]), NO_PROOF), world.pharmacy)
    call = counter.undo_call(which, counter.case, world.lot_id, [1])
    reverts(world.pt, call, world.pharmacy, "PackIsDestroyed", world.lot_id, 1)


def test_undoDispense_stolen_since_reverts(world, counter):
    which = counter.dispense(counter.case, world.lot_id, [1])
    counter.undo(which, counter.case, world.lot_id, [1])
    world.send(world.pt.functions.reportStolen([group(counter.case, world.lot_id, [1])]), world.pharmacy)
    call = counter.undo_call(which, counter.case, world.lot_id, [1])
    reverts(world.pt, call, world.pharmacy, "PackIsStolen", world.lot_id, 1)


def test_undoDispense_recalled_lot_reverts(world, counter):
    which = counter.dispense(counter.case, world.lot_id, [1])
    world.send(world.pt.functions.recallLot(world.lot_id), world.regulator)
    call = counter.undo_call(which, counter.case, world.lot_id, [1])
    reverts(world.pt, call, world.pharmacy, "LotIsRecalled", world.lot_id)


def test_undoDispense_expired_pack_reverts(world):
    expiry = world.w3.eth.get_block("latest").timestamp + 2 * DAY
    world.send(world.pt.functions.commissionLot(GTIN, "SHORT", expiry, 10, b"\x01" * 32), world.maker)
    lot_id = lgtin_id(f"{GTIN:014d}", "SHORT")
    case = world.pack_case(1, 0, 10, lot_id=lot_id)
    world.deliver([case], world.maker, world.pharmacy)
    c = Counter(world, world.pharmacy)
    which = c.dispense(case, lot_id, [1])
    advance_time(world.w3, 3 * DAY)
    reverts(world.pt, c.undo_call(which, case, lot_id, [1]), world.pharmacy, "LotIsExpired", lot_id, expiry)


def test_undoDispense_container_no_longer_held_reverts(world, counter):
    case = world.pack_case(2, 200, 10)
    world.deliver([case], world.maker, world.pharmacy)
    which = counter.dispense(case, world.lot_id, [201])
    counter.undo(which, case, world.lot_id, [201])
    world.deliver([case], world.pharmacy, world.pharmacy2)
    world.dispense(case, [201], by=world.pharmacy2)
    call = counter.undo_call(which, case, world.lot_id, [201])
    reverts(world.pt, call, world.pharmacy, "UnitNotHeld", case, world.pharmacy)


def test_undoDispense_container_in_transit_reverts(world, counter):
    case = world.pack_case(2, 200, 10)
    world.deliver([case], world.maker, world.pharmacy)
    which = counter.dispense(case, world.lot_id, [201])
    world.send(world.pt.functions.ship([case], world.pharmacy2), world.pharmacy)
    call = counter.undo_call(which, case, world.lot_id, [201])
    reverts(world.pt, call, world.pharmacy, "UnitIsInTransit", case)


def test_undoDispense_pack_moved_since_reverts(world, counter):
    """An undone pack may move (here re-picked into a tote and sold from it): the old call's proof cannot undo the
    new dispense, since a call undoes each pack once."""
    pt = world.pt
    which = counter.dispense(counter.case, world.lot_id, [1])
    counter.undo(which, counter.case, world.lot_id, [1])
    picks = [(counter.case, world.lot_id, pack_set([1]))]
    world.send(pt.functions.packToteListed(TOTE_SSCC, picks, []), world.pharmacy)
    tote = pt.functions.ssccIdOf(TOTE_SSCC).call()
    counter.send([], [(tote, picks, [pack_set([1])])], [])
    call = counter.undo_call(which, counter.case, world.lot_id, [1])
    reverts(pt, call, world.pharmacy, "UndoRecordUsed", world.lot_id, 1)


# ---------------------------------------------------------------- reportStolen


def test_reportStolen_makes_the_packs_inactive_for_good(world, counter):
    pt = world.pt
    receipt = world.send(pt.functions.reportStolen([group(counter.case, world.lot_id, [3, 4])]), world.pharmacy)
    first_word, masks = pack_set([3, 4])
    assert events(pt, receipt) == [
        (
            "PacksStolen",
            {"lotId": world.lot_id, "containerId": counter.case, "by": world.pharmacy, "firstWord": first_word,
             "masks": masks},
        )
    ]  # fmt: skip
    assert world.pack_state(3) == (True, False, False, False)  # neither dispensed nor destroyed: stolen
    call = pt.functions.dispenseDay([(counter.case, world.lot_id, pack_set([3]), NO_PROOF)], [], [])
    reverts(pt, call, world.pharmacy, "PackIsInactive", world.lot_id, 3)


def test_reportStolen_from_loose_stock_and_from_a_tote(world):
    stock = Stock(world)
    tote = stock.tote(0, [group(stock.a, stock.l1, [5, 6])])
    call = world.pt.functions.reportStolen([group(tote, stock.l1, [5])])
    reverts(world.pt, call, world.distributor, "UnitWrongKind", tote, 3)
    world.send(world.pt.functions.reportStolenListed([stock.draw(tote, [(stock.l1, [5])])]), world.distributor)
    assert world.pack_state(5) == (True, False, False, False)
    receipt = world.send(world.pt.functions.reportStolen([group(ZERO, stock.l1, [900])]), world.maker)
    assert only(world.pt, receipt, "PacksStolen")[0]["containerId"] == ZERO
    assert world.pack_state(900) == (False, False, False, False)
    call = world.pt.functions.packCase(TOTE_SSCC + 1, stock.l1, 900, 1)
    reverts(world.pt, call, world.maker, "PackIsInactive", stock.l1, 900)


def test_reportStolen_twice_reverts(world, counter):
    world.send(world.pt.functions.reportStolen([group(counter.case, world.lot_id, [3])]), world.pharmacy)
    call = world.pt.functions.reportStolen([group(counter.case, world.lot_id, [2, 3])])
    reverts(world.pt, call, world.pharmacy, "PackIsInactive", world.lot_id, 3)


def test_reportStolen_dispensed_pack_reverts(world, counter):
    counter.dispense(counter.case, world.lot_id, [3])
    call = world.pt.functions.reportStolen([group(counter.case, world.lot_id, [3])])
    reverts(world.pt, call, world.pharmacy, "PackIsInactive", world.lot_id, 3)


def test_reportStolen_not_held_reverts(world, counter):
    call = world.pt.functions.reportStolen([group(counter.case, world.lot_id, [3])])
    reverts(world.pt, call, world.pharmacy2, "UnitNotHeld", counter.case, world.pharmacy2)


def test_reportStolen_unknown_container_reverts(world, counter):
    call = world.pt.functions.reportStolen([group(UNKNOWN, world.lot_id, [3])])
    reverts(world.pt, call, world.pharmacy, "UnitNotFound", UNKNOWN)


def test_reportStolen_unknown_lot_reverts(world, counter):
    call = world.pt.functions.reportStolen([group(counter.case, UNKNOWN, [3])])
    reverts(world.pt, call, world.pharmacy, "LotNotFound", UNKNOWN)


def test_reportStolen_pack_not_in_the_container_reverts(world, counter):
    call = world.pt.functions.reportStolen([group(counter.case, world.lot_id, [99, 100])])
    reverts(world.pt, call, world.pharmacy, "PackNotInCase", counter.case, world.lot_id, 100)


def test_reportStolen_loose_stock_of_another_reverts(world, counter):
    call = world.pt.functions.reportStolen([group(ZERO, world.lot_id, [900])])
    reverts(world.pt, call, world.pharmacy, "LotNotManufacturer", world.lot_id, world.pharmacy)


def test_reportStolen_loose_stock_already_packed_reverts(world, counter):
    call = world.pt.functions.reportStolen([group(ZERO, world.lot_id, [99, 100])])
    reverts(world.pt, call, world.maker, "PackAlreadyAllocated", world.lot_id, 99)


def test_reportStolen_loose_stock_with_a_proof_reverts(world, counter):
    call = world.pt.functions.reportStolen([group(ZERO, world.lot_id, [900], ([b"\x01" * 32], []))])
    reverts(world.pt, call, world.maker, "PackProofInvalid", ZERO, world.lot_id)


def test_reportStolen_no_groups_reverts(world, counter):
    reverts(world.pt, world.pt.functions.reportStolen([]), world.pharmacy, "PackSetEmpty", ZERO)
