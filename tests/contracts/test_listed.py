"""The listed units of docs/gas-redesign.md: run cases a lot at a time (packCases), roll cages carrying their totes'
listings (packCageListed, dispenseDay and returnCaged through a CageDraw, detachTote), and the operations on a listed
unit's packs that leave its listing as it is (destroyListed, reportStolenListed, quarantineListed,
clearListedQuarantine). Each success path and each revert, by error and arguments."""

from __future__ import annotations

import pytest

from app.ids import pack_set, sscc_id
from tests.contracts.conftest import CASE_SSCC
from tests.contracts.helpers import ZERO, advance_time, events, only, reverts, role
from tests.contracts.picking import (
    CAGE_SSCC,
    DAY,
    TOTE_SSCC,
    Counter,
    Stock,
    cage_hash,
    group,
    listed,
    listing_hash,
    rest,
    taken,
)

CASE, PALLET, TOTE, CONSIGNMENT = 1, 2, 3, 4
UNKNOWN = b"\x05" * 32


@pytest.fixture
def stock(world):
    return Stock(world)


class Cage:
    """A roll cage of two totes (T0: L1 0, 1 of case A; T1: L1 2 of A and L2 0 of B) made by the distributor."""

    def __init__(self, world, stock, cases=()):
        self.world, self.stock = world, stock
        self.t0 = [listed(stock.a, stock.l1, [0, 1])]
        self.t1 = [listed(stock.a, stock.l1, [2]), listed(stock.b, stock.l2, [0])]
        self.order = (CAGE_SSCC, [TOTE_SSCC, TOTE_SSCC + 1], [self.t0, self.t1], list(cases))
        self.receipt = world.send(world.pt.functions.packCageListed(self.order), world.distributor)
        self.id = sscc_id(CAGE_SSCC)
        self.ids = [sscc_id(TOTE_SSCC), sscc_id(TOTE_SSCC + 1)]
        self.hashes = [listing_hash(self.t0), listing_hash(self.t1)]

    def draw(self, t: int, wanted, listing=None, hashes=None):
        """A CageDraw of tote `t` taking `wanted` [(lot, indexes)]."""
        listing = listing or [self.t0, self.t1][t]
        d = (self.ids[t], listing, taken(listing, wanted))
        return (self.id, self.ids, hashes or self.hashes, [t], [d])

    def deliver(self, to=None):
        self.world.deliver([self.id], self.world.distributor, to or self.world.pharmacy)


# ---------------------------------------------------------------- packCases


def test_packCases_packs_a_lots_run_cases_in_one_call(world):
    ssccs = [CASE_SSCC + 50, CASE_SSCC + 51, CASE_SSCC + 52]
    receipt = world.send(world.pt.functions.packCases(ssccs, world.lot_id, 500, 10), world.maker)
    assert events(world.pt, receipt) == [
        ("CasesPacked", {"lotId": world.lot_id, "packer": world.maker, "firstIndex": 500, "perCase": 10,
                         "ssccs": ssccs}),
    ]  # fmt: skip
    second = world.unit(sscc_id(CASE_SSCC + 51))
    assert (second["kind"], second["lotId"], second["firstIndex"], second["children"], second["custodian"]) == (
        CASE,
        world.lot_id,
        510,
        10,
        world.maker,
    )
    assert world.pack_state(529)[0] is True and world.pack_state(530)[0] is False


def test_packCases_reverts(world):
    pt, lot = world.pt, world.lot_id
    call = pt.functions.packCases([CASE_SSCC + 53], lot, 600, 10)
    reverts(pt, call, world.distributor, "LotNotManufacturer", lot, world.distributor)
    reverts(pt, pt.functions.packCases([], lot, 600, 10), world.maker, "UnitEmpty", ZERO)
    reverts(pt, pt.functions.packCases([CASE_SSCC + 53], lot, 600, 0), world.maker, "UnitEmpty", ZERO)
    call = pt.functions.packCases([CASE_SSCC + 53, CASE_SSCC + 54], lot, 1020, 4)
    reverts(pt, call, world.maker, "PackIndexOutOfRange", lot, 1027, 1024)
    world.pack_case(1, 605, 1)
    call = pt.functions.packCases([CASE_SSCC + 53], lot, 600, 10)
    reverts(pt, call, world.maker, "PackAlreadyAllocated", lot, 605)
    call = pt.functions.packCases([CASE_SSCC + 53, CASE_SSCC + 53], lot, 700, 10)
    reverts(pt, call, world.maker, "UnitAlreadyExists", sscc_id(CASE_SSCC + 53))
    world.send(pt.functions.recallLot(lot), world.maker)
    reverts(pt, pt.functions.packCases([CASE_SSCC + 53], lot, 700, 10), world.maker, "LotIsRecalled", lot)


# ---------------------------------------------------------------- packToteListed: draws out of listed units


def test_packToteListed_draw_checks_the_listing(world, stock):
    pt = world.pt
    first = stock.tote(0, [group(stock.a, stock.l1, [3, 4, 5])])
    world.send(pt.functions.unpack([first]), world.distributor)
    listing = stock.listings[first]
    stale = [listed(stock.a, stock.l1, [3, 4])]
    call = pt.functions.packToteListed(TOTE_SSCC + 1, [], [(first, stale, taken(stale, [(stock.l1, [3])]))])
    reverts(pt, call, world.distributor, "ListingMismatch", first)
    call = pt.functions.packToteListed(TOTE_SSCC + 1, [], [(first, listing, [])])
    reverts(pt, call, world.distributor, "ListingShape", first)
    call = pt.functions.packToteListed(TOTE_SSCC + 1, [], [(first, listing, [(0, [])])])
    reverts(pt, call, world.distributor, "UnitEmpty", sscc_id(TOTE_SSCC + 1))
    call = pt.functions.packToteListed(TOTE_SSCC + 1, [], [(first, listing, [(0, [0])])])
    reverts(pt, call, world.distributor, "PackSetEmpty", stock.l1)
    world.send(pt.functions.quarantineListed(stock.draw(first, [(stock.l1, [4])])), world.distributor)
    call = stock.tote_call(1, [group(first, stock.l1, [4])])
    reverts(pt, call, world.distributor, "PackIsQuarantined", stock.l1, 4)
    receipt = world.send(stock.tote_call(1, [group(first, stock.l1, [5])]), world.distributor)
    moved = only(pt, receipt, "PacksMoved")
    assert [(m["source"], m["containerId"]) for m in moved] == [(first, sscc_id(TOTE_SSCC + 1))]


# ---------------------------------------------------------------- packCageListed


def test_packCageListed_makes_the_totes_on_the_cage(world, stock):
    pt = world.pt
    case = world.pack_case(6, 500, 10)
    world.deliver([case], world.maker, world.distributor)
    cage = Cage(world, stock, cases=[case])
    logged = events(pt, cage.receipt)
    names = [name for name, _ in logged]
    assert names == ["TotePacked", "PacksMoved", "TotePacked", "PacksMoved", "PacksMoved", "CagePacked"]
    assert logged[-1][1] == {"cageId": cage.id, "packer": world.distributor, "sscc": CAGE_SSCC,
                             "toteIds": cage.ids, "hashes": cage.hashes, "caseIds": [case]}  # fmt: skip
    assert pt.functions.listingOf(cage.id).call() == cage_hash(cage.ids, cage.hashes)
    assert pt.functions.listingOf(cage.ids[0]).call() == ZERO  # a caged tote has no word of its own
    assert world.unit(cage.ids[0])["kind"] == 0
    info = world.unit(cage.id)
    assert (info["kind"], info["children"], info["custodian"]) == (PALLET, 3, world.distributor)
    assert world.unit(case)["container"] == cage.id
    assert world.pt.functions.pack(stock.l1, 2).call()[3] is True  # moved
    # a caged tote's SSCC stays used
    reverts(pt, stock.tote_call(0, [group(stock.a, stock.l1, [9])]), world.distributor, "SsccUsed", TOTE_SSCC)
    reverts(pt, pt.functions.packCase(TOTE_SSCC + 1, stock.l1, 900, 1), world.maker, "SsccUsed", TOTE_SSCC + 1)


def test_packCageListed_reverts(world, stock):
    pt = world.pt
    t0 = [listed(stock.a, stock.l1, [0])]
    cage = sscc_id(CAGE_SSCC)
    call = pt.functions.packCageListed((CAGE_SSCC, [TOTE_SSCC], [t0, t0], []))
    reverts(pt, call, world.distributor, "ListingShape", cage)
    reverts(pt, pt.functions.packCageListed((CAGE_SSCC, [], [], [])), world.distributor, "UnitEmpty", cage)
    call = pt.functions.packCageListed((CAGE_SSCC, [TOTE_SSCC], [[]], []))
    reverts(pt, call, world.distributor, "UnitEmpty", sscc_id(TOTE_SSCC))
    call = pt.functions.packCageListed((CAGE_SSCC, [TOTE_SSCC, TOTE_SSCC], [t0, t0], []))
    reverts(pt, call, world.distributor, "SsccUsed", TOTE_SSCC)
    call = pt.functions.packCageListed((CAGE_SSCC, [TOTE_SSCC, TOTE_SSCC + 1], [t0, t0], []))
    reverts(pt, call, world.distributor, "PackMoved", stock.l1, 0, ZERO)
    call = pt.functions.packCageListed((CAGE_SSCC, [TOTE_SSCC], [t0], []))
    reverts(pt, call, world.pharmacy, "UnitNotHeld", stock.a, world.pharmacy)
    call = pt.functions.packCageListed((CAGE_SSCC, [], [], [stock.a]))
    reverts(pt, call, world.distributor, "UnitIsUnpacked", stock.a)
    held = world.pack_case(6, 500, 10)
    call = pt.functions.packCageListed((CAGE_SSCC, [], [], [held]))
    reverts(pt, call, world.distributor, "UnitNotHeld", held, world.distributor)


# ---------------------------------------------------------------- dispenseDay through a cage


def test_dispenseDay_through_a_cage(world, stock):
    pt = world.pt
    cage = Cage(world, stock)
    cage.deliver()
    receipt = world.send(pt.functions.dispenseDay([], [], [cage.draw(1, [(stock.l2, [0])])]), world.pharmacy)
    assert [(d["lotId"], d["caseId"]) for d in only(pt, receipt, "Dispensed")] == [(stock.l2, cage.ids[1])]
    assert world.pack_state(0, stock.l2)[1] is True
    assert pt.functions.listingOf(cage.id).call() == cage_hash(cage.ids, cage.hashes)  # listings unchanged
    reverts(pt, pt.functions.dispenseDay([], [], [cage.draw(1, [(stock.l2, [0])])]), world.pharmacy,
            "PackIsInactive", stock.l2, 0)  # fmt: skip


def test_dispenseDay_cage_reverts(world, stock):
    pt = world.pt
    cage = Cage(world, stock)

    def day(c):
        return pt.functions.dispenseDay([], [], [c])

    reverts(pt, pt.functions.dispenseDay([], [], []), world.pharmacy, "PackSetEmpty", ZERO)
    reverts(pt, day(cage.draw(0, [(stock.l1, [0])])), world.pharmacy, "UnitNotHeld", cage.id, world.pharmacy)
    world.send(pt.functions.ship([cage.id], world.pharmacy), world.distributor)
    reverts(pt, day(cage.draw(0, [(stock.l1, [0])])), world.pharmacy, "UnitNotHeld", cage.id, world.pharmacy)
    world.send(pt.functions.receiveShipment([cage.id]), world.pharmacy)
    forged = cage.draw(0, [(stock.l1, [0])], hashes=[cage.hashes[1], cage.hashes[0]])
    reverts(pt, day(forged), world.pharmacy, "ListingMismatch", cage.id)
    wrong = cage.draw(0, [(stock.l1, [0])], listing=cage.t1)
    reverts(pt, day(wrong), world.pharmacy, "ListingMismatch", cage.ids[0])
    cid, ids, hashes, _, draws = cage.draw(0, [(stock.l1, [0])])
    reverts(pt, day((cid, ids, hashes, [0, 1], draws)), world.pharmacy, "ListingShape", cage.id)
    reverts(pt, day((cid, ids, hashes, [2], draws)), world.pharmacy, "ListingShape", cage.id)
    reverts(pt, day((cid, ids, hashes, [1], draws)), world.pharmacy, "ListingShape", cage.id)
    bad_taken = [(draws[0][0], draws[0][1], [])]
    reverts(pt, day((cid, ids, hashes, [0], bad_taken)), world.pharmacy, "ListingShape", cage.ids[0])
    reverts(pt, day(cage.draw(0, [(stock.l1, [5])])), world.pharmacy, "PackNotInCase", cage.ids[0], stock.l1, 5)
    world.send(pt.functions.quarantineUnit(cage.id), world.pharmacy)
    reverts(pt, day(cage.draw(0, [(stock.l1, [0])])), world.pharmacy, "UnitIsQuarantined", cage.id)
    world.send(pt.functions.clearUnitQuarantine(cage.id), world.pharmacy)
    reverts(pt, day(cage.draw(0, [(stock.l1, [0])])), world.distributor, "OrganisationMissingRole",
            world.distributor, role("DISPENSER_ROLE"))  # fmt: skip
    advance_time(world.w3, 366 * DAY)
    reverts(pt, day(cage.draw(0, [(stock.l1, [0])])), world.pharmacy, "LotIsExpired", stock.l1, world.expiry)


def test_undoDispenseDay_of_a_caged_tote(world, stock):
    cage = Cage(world, stock)
    cage.deliver()
    counter = Counter(world, world.pharmacy)
    which = counter.send([], [], [cage.draw(0, [(stock.l1, [1])])])
    counter.undo(which, cage.ids[0], stock.l1, [1])  # custody through the cage
    assert world.pack_state(1, stock.l1)[1] is False
    call = counter.undo_call(which, cage.ids[1], stock.l1, [1])
    reverts(world.pt, call, world.pharmacy, "UndoPackNotInRecord", stock.l1, 1)


# ---------------------------------------------------------------- returnCaged


def test_returnCaged_rewrites_the_cages_word(world, stock):
    pt = world.pt
    cage = Cage(world, stock)
    cage.deliver()
    back = cage.draw(1, [(stock.l1, [2])])
    reverts(pt, pt.functions.returnCaged(back, world.distributor), world.pharmacy, "UnitNotUnpacked", cage.id)
    world.send(pt.functions.unpack([cage.id]), world.pharmacy)
    call = pt.functions.returnCaged(back, world.maker)
    reverts(pt, call, world.pharmacy, "ReturnNotToSender", cage.id, world.maker, world.distributor)
    call = pt.functions.returnCaged(back, world.distributor)
    reverts(pt, call, world.pharmacy2, "UnitNotHeld", cage.id, world.pharmacy2)
    reverts(pt, call, world.distributor, "OrganisationMissingRole", world.distributor, role("DISPENSER_ROLE"))
    cid, ids, hashes, _, draws = cage.draw(0, [(stock.l1, [0])])
    two = (cid, ids, hashes, [0, 1], [draws[0], back[4][0]])
    reverts(pt, pt.functions.returnCaged(two, world.distributor), world.pharmacy, "ListingShape", cage.id)
    consignment = call.call({"from": world.pharmacy})
    receipt = world.send(call, world.pharmacy)
    assert [n for n, _ in events(pt, receipt)] == ["ConsignmentCreated", "PacksMoved", "Shipped"]
    left = rest(cage.t1, back[4][0][2])
    assert pt.functions.listingOf(cage.id).call() == cage_hash(cage.ids, [cage.hashes[0], listing_hash(left)])
    assert pt.functions.listingOf(consignment).call() == listing_hash([listed(cage.ids[1], stock.l1, [2])])
    info = world.unit(consignment)
    assert (info["kind"], info["returnPending"], info["recipient"]) == (CONSIGNMENT, True, world.distributor)
    world.send(pt.functions.acceptReturn(consignment), world.distributor)
    stale = pt.functions.dispenseDay([], [], [cage.draw(1, [(stock.l2, [0])])])
    reverts(pt, stale, world.pharmacy, "ListingMismatch", cage.id)


# ---------------------------------------------------------------- detachTote


def test_detachTote_gives_a_caged_tote_its_own_words(world, stock):
    pt = world.pt
    cage = Cage(world, stock)
    cage.deliver()
    world.send(pt.functions.unpack([cage.id]), world.pharmacy)
    receipt = world.send(pt.functions.detachTote(cage.draw(1, [])), world.pharmacy)
    assert events(pt, receipt) == [
        ("ToteDetached", {"toteId": cage.ids[1], "cageId": cage.id, "listingHash": cage.hashes[1]}),
    ]
    assert pt.functions.listingOf(cage.ids[1]).call() == cage.hashes[1]
    assert pt.functions.listingOf(cage.id).call() == cage_hash(cage.ids, [cage.hashes[0], ZERO])
    info = world.unit(cage.ids[1])
    assert (info["kind"], info["custodian"], info["unpacked"], info["children"], info["sender"]) == (
        TOTE,
        world.pharmacy,
        True,
        2,
        world.distributor,
    )
    hashes = [cage.hashes[0], ZERO]
    again = pt.functions.detachTote(cage.draw(1, [], hashes=hashes))
    reverts(pt, again, world.pharmacy, "ListingMismatch", cage.ids[1])
    stock.listings[cage.ids[1]] = cage.t1
    stock.dispense(cage.ids[1], stock.l2, [0])  # now as a listed unit of its own
    world.send(pt.functions.destroyListed(stock.draw(cage.ids[1], [(stock.l1, [2])])), world.pharmacy)
    assert world.pack_state(2, stock.l1)[2] is True


def test_detachTote_reverts(world, stock):
    pt = world.pt
    cage = Cage(world, stock)
    reverts(pt, pt.functions.detachTote(cage.draw(0, [])), world.pharmacy, "UnitNotHeld", cage.id, world.pharmacy)
    cid, ids, hashes, _, _ = cage.draw(0, [])
    call = pt.functions.detachTote((cid, ids, hashes, [], []))
    reverts(pt, call, world.distributor, "ListingShape", cage.id)
    world.send(pt.functions.ship([cage.id], world.pharmacy), world.distributor)
    reverts(pt, pt.functions.detachTote(cage.draw(0, [])), world.distributor, "UnitIsInTransit", cage.id)
    reverts(pt, pt.functions.detachTote((UNKNOWN, [], [], [], [])), world.distributor, "UnitNotFound", UNKNOWN)


# ---------------------------------------------------------------- destroy, stolen, quarantine of listed packs


def test_listed_packs_destroyed_stolen_quarantined_stay_listed(world, stock):
    pt = world.pt
    tote = stock.tote(0, [group(stock.a, stock.l1, [3, 4, 5, 6]), group(stock.b, stock.l2, [1])])
    word = pt.functions.listingOf(tote).call()
    receipt = world.send(pt.functions.destroyListed(stock.draw(tote, [(stock.l1, [3])])), world.distributor)
    assert [(n, a["containerId"]) for n, a in events(pt, receipt)] == [("Destroyed", tote)]
    receipt = world.send(pt.functions.reportStolenListed([stock.draw(tote, [(stock.l1, [4])])]), world.distributor)
    assert [(n, a["containerId"]) for n, a in events(pt, receipt)] == [("PacksStolen", tote)]
    receipt = world.send(pt.functions.quarantineListed(stock.draw(tote, [(stock.l2, [1])])), world.regulator)
    assert [(n, a["by"]) for n, a in events(pt, receipt)] == [("PacksQuarantined", world.regulator)]
    receipt = world.send(pt.functions.clearListedQuarantine(stock.draw(tote, [(stock.l2, [1])])), world.distributor)
    assert [n for n, _ in events(pt, receipt)] == ["PacksQuarantineCleared"]
    assert pt.functions.listingOf(tote).call() == word
    assert [world.pack_state(i) for i in (3, 4)] == [(True, False, True, False), (True, False, False, False)]


def test_listed_packs_marks_reverts(world, stock):
    pt = world.pt
    tote = stock.tote(0, [group(stock.a, stock.l1, [3, 4])])
    d = stock.draw(tote, [(stock.l1, [3])])
    reverts(pt, pt.functions.destroyListed(d), world.pharmacy, "UnitNotHeld", tote, world.pharmacy)
    reverts(pt, pt.functions.quarantineListed(d), world.pharmacy, "UnitNotHeld", tote, world.pharmacy)
    reverts(pt, pt.functions.reportStolenListed([]), world.distributor, "PackSetEmpty", ZERO)
    stale = (tote, [listed(stock.a, stock.l1, [3])], [pack_set([3])])
    reverts(pt, pt.functions.destroyListed(stale), world.distributor, "ListingMismatch", tote)
    reverts(pt, pt.functions.destroyListed((tote, d[1], [])), world.distributor, "ListingShape", tote)
    stray = stock.draw(tote, [(stock.l1, [5])])
    reverts(pt, pt.functions.reportStolenListed([stray]), world.distributor, "PackNotInCase", tote, stock.l1, 5)
    reverts(pt, pt.functions.clearListedQuarantine(d), world.distributor, "PackNotQuarantined", stock.l1, 3)
    world.send(pt.functions.quarantineListed(d), world.distributor)
    reverts(pt, pt.functions.quarantineListed(d), world.distributor, "PackIsQuarantined", stock.l1, 3)
    world.send(pt.functions.destroyListed(d), world.distributor)
    reverts(pt, pt.functions.destroyListed(d), world.distributor, "PackIsInactive", stock.l1, 3)
    reverts(pt, pt.functions.destroyListed((stock.a, [], [])), world.distributor, "UnitWrongKind", stock.a, CASE)
    world.send(pt.functions.ship([tote], world.pharmacy), world.distributor)
    d4 = stock.draw(tote, [(stock.l1, [4])])
    reverts(pt, pt.functions.destroyListed(d4), world.distributor, "UnitIsInTransit", tote)


def test_dispenseDay_tote_draw_reverts(world, stock):
    pt = world.pt
    tote = stock.tote(0, [group(stock.a, stock.l1, [3, 4])])
    world.deliver([tote], world.distributor, world.pharmacy)
    d = stock.draw(tote, [(stock.l1, [3])])
    reverts(pt, pt.functions.dispenseDay([], [d], []), world.pharmacy2, "UnitNotHeld", tote, world.pharmacy2)
    stale = (tote, [listed(stock.a, stock.l1, [3])], [pack_set([3])])
    reverts(pt, pt.functions.dispenseDay([], [stale], []), world.pharmacy, "ListingMismatch", tote)
    reverts(pt, pt.functions.dispenseDay([], [(tote, d[1], [])], []), world.pharmacy, "ListingShape", tote)
    case = world.pack_case(6, 500, 10)
    world.deliver([case], world.maker, world.pharmacy)
    reverts(pt, pt.functions.dispenseDay([], [(case, [], [])], []), world.pharmacy, "UnitWrongKind", case, CASE)
    call = pt.functions.dispenseDay([(tote, stock.l1, pack_set([3]), ([], []))], [], [])
    reverts(pt, call, world.pharmacy, "UnitWrongKind", tote, TOTE)


def test_dispenseDay_a_moved_pack_from_its_case_reverts(world, stock):
    stock.tote(0, [group(stock.a, stock.l1, [3])])
    call = world.pt.functions.dispenseDay([(stock.a, stock.l1, pack_set([2, 3]), ([], []))], [], [])
    world.send(world.pt.functions.grantRole(role("DISPENSER_ROLE"), world.distributor), world.admin)
    reverts(world.pt, call, world.distributor, "PackMoved", stock.l1, 3, ZERO)


def test_packCases_in_leaf_order_moves_the_watermark(world):
    """Run cases packed in leaf order from the lowest unpacked leaf write no bitmap word: every leaf below the
    watermark counts as allocated for every other packing, loose-stock and view path."""
    pt, lot = world.pt, world.lot_id
    world.send(pt.functions.packCases([CASE_SSCC + 50, CASE_SSCC + 51], lot, 0, 10), world.maker)
    assert world.pack_state(19)[0] is True and world.pack_state(20)[0] is False
    assert pt.functions.pack(lot, 5).call()[2] is True  # allocated
    reverts(pt, pt.functions.packCase(CASE_SSCC + 52, lot, 15, 10), world.maker, "PackAlreadyAllocated", lot, 15)
    call = pt.functions.packCaseTree(CASE_SSCC + 52, lot, pack_set([3, 40]))
    reverts(pt, call, world.maker, "PackAlreadyAllocated", lot, 3)
    call = pt.functions.destroy(ZERO, lot, pack_set([7]), ([], []))
    reverts(pt, call, world.maker, "PackAlreadyAllocated", lot, 7)
    call = pt.functions.packCases([CASE_SSCC + 52], lot, 10, 10)
    reverts(pt, call, world.maker, "PackAlreadyAllocated", lot, 10)
    world.pack_case(3, 25, 1)  # above the watermark: a bit
    call = pt.functions.packCases([CASE_SSCC + 52], lot, 20, 10)
    reverts(pt, call, world.maker, "PackAlreadyAllocated", lot, 25)
    world.send(pt.functions.packCases([CASE_SSCC + 52], lot, 30, 10), world.maker)  # out of order: bitmap
    reverts(pt, pt.functions.packCase(CASE_SSCC + 53, lot, 35, 1), world.maker, "PackAlreadyAllocated", lot, 35)
    world.send(pt.functions.packCases([CASE_SSCC + 53], lot, 20, 5), world.maker)  # at the watermark again
    assert world.pack_state(24)[0] is True and world.pack_state(40)[0] is False


def test_returns_of_listed_units_more_reverts(world, stock):
    pt = world.pt
    tote = stock.tote(0, [group(stock.a, stock.l1, [3, 4])])
    world.send(pt.functions.ship([tote], world.pharmacy), world.distributor)
    d = stock.draw(tote, [(stock.l1, [3])])
    call = pt.functions.returnListed(d, world.distributor)
    reverts(pt, call, world.pharmacy, "UnitNotHeld", tote, world.pharmacy)
    world.send(pt.functions.receiveShipment([tote]), world.pharmacy)
    reverts(pt, call, world.pharmacy, "UnitNotUnpacked", tote)
    world.send(pt.functions.unpack([tote]), world.pharmacy)
    world.send(pt.functions.quarantineUnit(tote), world.pharmacy)
    reverts(pt, call, world.pharmacy, "UnitIsQuarantined", tote)
    world.send(pt.functions.clearUnitQuarantine(tote), world.pharmacy)
    reverts(pt, pt.functions.returnListed(d, world.pharmacy), world.pharmacy, "ShipmentToSelf", world.pharmacy)
    nothing = pt.functions.returnListed(stock.draw(tote, []), world.distributor)
    reverts(pt, nothing, world.pharmacy, "ShipmentEmpty", world.distributor)
    consignment, _ = stock.give_back(tote, [(stock.l1, [3])], world.distributor)
    again = pt.functions.returnListed(stock.draw(consignment, [(stock.l1, [3])]), world.distributor)
    reverts(pt, again, world.pharmacy, "UnitIsInTransit", consignment)


def test_returnCaged_and_cage_cases_more_reverts(world, stock):
    pt = world.pt
    tote = stock.tote(5, [group(stock.a, stock.l1, [40])])
    call = pt.functions.packCageListed((CAGE_SSCC + 1, [], [], [tote]))
    reverts(pt, call, world.distributor, "UnitWrongKind", tote, TOTE)
    cage = Cage(world, stock)
    cage.deliver()
    world.send(pt.functions.unpack([cage.id]), world.pharmacy)
    back = cage.draw(0, [(stock.l1, [0])])
    world.send(pt.functions.quarantineUnit(cage.id), world.pharmacy)
    reverts(pt, pt.functions.returnCaged(back, world.distributor), world.pharmacy, "UnitIsQuarantined", cage.id)
    world.send(pt.functions.clearUnitQuarantine(cage.id), world.pharmacy)
    reverts(pt, pt.functions.returnCaged(back, world.pharmacy), world.pharmacy, "ShipmentToSelf", world.pharmacy)
    nothing = pt.functions.returnCaged(cage.draw(0, []), world.distributor)
    reverts(pt, nothing, world.pharmacy, "ShipmentEmpty", world.distributor)
    forged = cage.draw(0, [(stock.l1, [0])], hashes=[cage.hashes[0], cage.hashes[0]])
    reverts(pt, pt.functions.returnCaged(forged, world.distributor), world.pharmacy, "ListingMismatch", cage.id)
    reverts(pt, pt.functions.detachTote(forged), world.pharmacy, "ListingMismatch", cage.id)


def test_undoDispenseDay_pallet_in_transit_reverts(world, stock):
    pt = world.pt
    tote = stock.tote(0, [group(stock.a, stock.l1, [3])])
    world.deliver([tote], world.distributor, world.pharmacy)
    counter = Counter(world, world.pharmacy, stock)
    which = counter.dispense(tote, stock.l1, [3])
    world.send(pt.functions.packPallet(CAGE_SSCC + 2, [tote]), world.pharmacy)
    world.send(pt.functions.ship([sscc_id(CAGE_SSCC + 2)], world.pharmacy2), world.pharmacy)
    call = counter.undo_call(which, tote, stock.l1, [3])
    reverts(pt, call, world.pharmacy, "UnitIsInTransit", sscc_id(CAGE_SSCC + 2))
    world.send(pt.functions.refuseShipment([sscc_id(CAGE_SSCC + 2)]), world.pharmacy2)
    counter.undo(which, tote, stock.l1, [3])


# ---------------------------------------------------------------- packToteFromCase: a tree case's packs


def test_packToteFromCase_picks_a_tree_cases_packs_with_a_multiproof(world, stock):
    pt = world.pt
    packs, proof = stock.tree.children_proof([202, 260])
    receipt = world.send(pt.functions.packToteFromCase(TOTE_SSCC, (stock.c, stock.l1, packs, proof)), world.distributor)
    tote = sscc_id(TOTE_SSCC)
    logged = events(pt, receipt)
    assert [n for n, _ in logged] == ["TotePacked", "PacksMoved"]
    assert (logged[1][1]["source"], logged[1][1]["containerId"]) == (stock.c, tote)
    listing = [(stock.c, stock.l1, packs)]
    assert pt.functions.listingOf(tote).call() == listing_hash(listing)
    assert (world.unit(tote)["kind"], world.unit(tote)["children"]) == (TOTE, 2)
    again = pt.functions.packToteFromCase(TOTE_SSCC + 1, (stock.c, stock.l1, packs, proof))
    reverts(pt, again, world.distributor, "PackMoved", stock.l1, 202, ZERO)
    stock.listings[tote] = listing
    world.send(pt.functions.unpack([tote]), world.distributor)
    second = stock.tote(1, [group(tote, stock.l1, [260])])  # re-picked like any listed unit
    world.deliver([second], world.distributor, world.pharmacy)
    stock.dispense(second, stock.l1, [260])
    assert world.pack_state(260)[1] is True


def test_packToteFromCase_reverts(world, stock):
    pt = world.pt
    packs, proof = stock.tree.children_proof([202, 260])
    _, other = stock.tree.children_proof([204, 260])
    call = pt.functions.packToteFromCase(TOTE_SSCC, (stock.c, stock.l1, packs, other))
    reverts(pt, call, world.distributor, "PackProofInvalid", stock.c, stock.l1)
    call = pt.functions.packToteFromCase(TOTE_SSCC, (stock.c, stock.l1, packs, proof))
    reverts(pt, call, world.pharmacy, "UnitNotHeld", stock.c, world.pharmacy)
    run = pt.functions.packToteFromCase(TOTE_SSCC, (stock.a, stock.l1, pack_set([3, 100]), ([], [])))
    reverts(pt, run, world.distributor, "PackNotInCase", stock.a, stock.l1, 100)
    tote = stock.tote(5, [group(stock.a, stock.l1, [3])])
    call = pt.functions.packToteFromCase(TOTE_SSCC, (tote, stock.l1, pack_set([3]), ([], [])))
    reverts(pt, call, world.distributor, "UnitWrongKind", tote, TOTE)
    closed = world.pack_case(7, 700, 10)
    call = pt.functions.packToteFromCase(TOTE_SSCC, (closed, stock.l1, pack_set([701]), ([], [])))
    reverts(pt, call, world.maker, "UnitNotUnpacked", closed)
    world.send(pt.functions.destroy(stock.c, stock.l1, *stock.tree.children_proof([202])), world.distributor)
    call = pt.functions.packToteFromCase(TOTE_SSCC, (stock.c, stock.l1, packs, proof))
    reverts(pt, call, world.distributor, "PackIsInactive", stock.l1, 202)
    world.send(pt.functions.quarantineLot(stock.l1), world.regulator)
    reverts(pt, call, world.distributor, "LotIsQuarantined", stock.l1)
