"""Every action of a trading partner refuses an unregistered account and a suspended organisation."""

from __future__ import annotations

import pytest

from tests.contracts.helpers import NO_PROOF, reverts

X = b"\x05" * 32
PACKS = (0, [1])


def draw(w):
    """A ToteDraw: unit, its listing, the packs taken per group."""
    return (X, [(X, w.lot_id, PACKS)], [PACKS])


def cage_draw(w):
    """A CageDraw: cage, its totes and their hashes, the totes drawn from and their draws."""
    return (X, [X], [X], [0], [draw(w)])


# function name -> arguments (well-typed; the caller check comes before anything is looked at)
ACTIONS = {
    "registerProduct": lambda w: [9506000000017, 0, 1],
    "commissionLot": lambda w: [9506000134352, "L2", w.expiry, 10, X],
    "openLot": lambda w: [9506000134352, "L2", w.expiry, 10],
    "commissionBatch": lambda w: [w.lot_id, 0, 1, X],
    "recallLot": lambda w: [w.lot_id],
    "quarantineLot": lambda w: [w.lot_id],
    "clearLotQuarantine": lambda w: [w.lot_id],
    "packCase": lambda w: [1, w.lot_id, 0, 1],
    "packCaseTree": lambda w: [1, w.lot_id, PACKS],
    "packPallet": lambda w: [1, [X]],
    "unpack": lambda w: [[X]],
    "ship": lambda w: [[X], w.distributor],
    "receiveShipment": lambda w: [[X]],
    "refuseShipment": lambda w: [[X]],
    "destroy": lambda w: [X, w.lot_id, PACKS, NO_PROOF],
    "quarantinePacks": lambda w: [X, w.lot_id, PACKS, NO_PROOF],
    "clearPacksQuarantine": lambda w: [X, w.lot_id, PACKS, NO_PROOF],
    "quarantineUnit": lambda w: [X],
    "clearUnitQuarantine": lambda w: [X],
    "recordReadings": lambda w: [X, X, 1, 1, b"\x00\x01"],
    "acceptReturn": lambda w: [X],
    "reportStolen": lambda w: [[(X, w.lot_id, PACKS, NO_PROOF)]],
    "packCases": lambda w: [[1], w.lot_id, 0, 1],
    "packToteListed": lambda w: [1, [(X, w.lot_id, PACKS)], []],
    "packToteFromCase": lambda w: [1, (X, w.lot_id, PACKS, NO_PROOF)],
    "returnFromCase": lambda w: [(X, w.lot_id, PACKS, NO_PROOF), w.distributor],
    "packCageListed": lambda w: [(1, [2], [[(X, w.lot_id, PACKS)]], [])],
    "shipListed": lambda w: [[(X, w.lot_id, PACKS)], [], w.distributor],
    "returnListed": lambda w: [draw(w), w.distributor],
    "returnCaged": lambda w: [cage_draw(w), w.distributor],
    "dispenseDay": lambda w: [[(X, w.lot_id, PACKS, NO_PROOF)], [], []],
    "undoDispenseDay": lambda w: [(0, 1, [], [draw(w)], []), [], X, w.lot_id, PACKS],
    "detachTote": lambda w: [cage_draw(w)],
    "destroyListed": lambda w: [draw(w)],
    "reportStolenListed": lambda w: [[draw(w)]],
    "quarantineListed": lambda w: [draw(w)],
    "clearListedQuarantine": lambda w: [draw(w)],
}


@pytest.mark.parametrize("fn", sorted(ACTIONS))
def test_action_by_unregistered_account_reverts(world, fn):
    call = getattr(world.pt.functions, fn)(*ACTIONS[fn](world))
    reverts(world.pt, call, world.outsider, "OrganisationNotRegistered", world.outsider)


@pytest.mark.parametrize("fn", sorted(ACTIONS))
def test_action_by_suspended_organisation_reverts(world, fn):
    world.send(world.pt.functions.suspendOrganisation(world.maker), world.admin)
    call = getattr(world.pt.functions, fn)(*ACTIONS[fn](world))
    reverts(world.pt, call, world.maker, "OrganisationIsSuspended", world.maker)


def test_every_mutating_function_is_organisation_gated_or_access_controlled(world):
    mutating = {
        item["name"]
        for item in world.pt.abi
        if item["type"] == "function" and item["stateMutability"] not in ("view", "pure")
    }
    not_organisation_gated = {  # AccessControl checks its own; multicall runs each call as the caller
        "registerOrganisation",
        "suspendOrganisation",
        "reinstateOrganisation",
        "grantRole",
        "revokeRole",
        "renounceRole",
        "multicall",
    }
    assert mutating == set(ACTIONS) | not_organisation_gated
