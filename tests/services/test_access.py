"""The access rule alone (app/services/access.py), table-driven over one made-up supply chain.

Case C of the maker's lot, and two pallets (positions are (block, log index); the rule sees only
positions, parties and when each container held C):

    ( 5,0) pallet Q received by `early`       before C is on Q: not C's
    (10,0) C packed                          maker
    (11,0) C palletised on P (P packed)      maker
    (12,0) P shipped                         maker -> distributor
    (13,0) P received                        distributor
    (14,0) P unpacked                        distributor          C leaves P
    (15,0) C shipped                         distributor -> pharmacy2
    (16,0) C refused                         pharmacy2 (sender: distributor)
    (17,0) C palletised on Q (Q packed)      distributor
    (17,5) C quarantined                     distributor          not a custody event
    (18,0) Q shipped                         distributor -> pharmacy
    (19,0) Q received                        pharmacy
    (20,0) Q unpacked                        pharmacy
    (21,0) a pack of C dispensed             pharmacy
    (30,0) P shipped, (31,0) P received      distributor -> `late`, after C left P: not C's
"""

from __future__ import annotations

import pytest

from app.services.access import (
    FULL,
    UP_TO,
    VERDICT_ONLY,
    Event,
    Record,
    Stay,
    Viewer,
    lot_scope,
    may_list_pack,
    may_see_activity,
    may_see_activity_row,
    may_see_alert,
    may_see_operation,
    may_see_recorded_event,
    shown_events,
    visibility,
)

MAKER, DIST, PHARM, PHARM2, EARLY, LATE, STRANGER, REG = (bytes([n]) * 20 for n in range(1, 9))
C, P, Q = b"C" * 32, b"P" * 32, b"Q" * 32

CASE_EVENTS = (
    Event("packed", (10, 0), MAKER),
    Event("palletised", (11, 0), MAKER),
    Event("shipped", (15, 0), DIST, PHARM2),
    Event("refused", (16, 0), PHARM2, DIST),
    Event("palletised", (17, 0), DIST),
    Event("quarantined", (17, 5), DIST),  # not a custody event: makes no one a participant
)
PALLET_P = (
    Event("packed", (11, 0), MAKER, container=P),
    Event("shipped", (12, 0), MAKER, DIST, container=P),
    Event("received", (13, 0), DIST, MAKER, container=P),
    Event("unpacked", (14, 0), DIST, container=P),
    Event("shipped", (30, 0), DIST, LATE, container=P),  # C left P at (14, 0): not C's
    Event("received", (31, 0), LATE, DIST, container=P),
)
PALLET_Q = (
    Event("received", (5, 0), EARLY, STRANGER, container=Q),  # before C joined Q
    Event("packed", (17, 0), DIST, container=Q),
    Event("shipped", (18, 0), DIST, PHARM, container=Q),
    Event("received", (19, 0), PHARM, DIST, container=Q),
    Event("unpacked", (20, 0), PHARM, container=Q),
)
STAYS = (Stay(P, (11, 0), (14, 0)), Stay(Q, (17, 0)))
CASE = Record(frozenset({MAKER}), CASE_EVENTS + PALLET_P + PALLET_Q, STAYS)
# a pack of C: the case's record, plus its own dispense; C holds it for good
PACK = Record(
    frozenset({MAKER}),
    tuple(Event(e.kind, e.position, e.actor, e.other, e.container or C) for e in CASE_EVENTS)
    + PALLET_P
    + PALLET_Q
    + (Event("dispensed", (21, 0), PHARM),),
    (Stay(C, (10, 0)), *STAYS),
)


def viewer(account: bytes, regulator: bool = False) -> Viewer:
    return Viewer(account, organisation_id=account[0], regulator=regulator)


@pytest.mark.parametrize(
    ("who", "record", "expected"),
    [
        ("regulator", CASE, FULL),
        ("manufacturer", CASE, FULL),  # it also packed it: the manufacturer sees it whole all the same
        ("manufacturer", PACK, FULL),
        # the distributor's last custody event of C: shipping pallet Q (C on it) to the pharmacy; it does
        # not see the pharmacy's receipt, nor pallet P's later trip to `late`
        ("distributor", CASE, UP_TO((18, 0))),
        ("distributor", PACK, UP_TO((18, 0))),
        # the recipient who refused: up to its refusal, not what the sender did next
        ("refusing recipient", CASE, UP_TO((16, 0))),
        ("refusing recipient", PACK, UP_TO((16, 0))),
        # the recipient who received and unpacked, and dispensed from it: still in its hands
        ("receiving recipient", CASE, UP_TO((20, 0), current=True)),
        ("dispenser", PACK, UP_TO((21, 0), current=True)),
        # a party on pallet Q before C joined it, and one on pallet P after C left it
        ("party on Q before C", CASE, VERDICT_ONLY),
        ("party on P after C left", CASE, VERDICT_ONLY),
        ("party on P after C left", PACK, VERDICT_ONLY),
        ("stranger", CASE, VERDICT_ONLY),
        ("stranger", PACK, VERDICT_ONLY),
    ],
)
def test_visibility(who, record, expected):
    accounts = {"regulator": REG, "manufacturer": MAKER, "distributor": DIST, "refusing recipient": PHARM2,
                "receiving recipient": PHARM, "dispenser": PHARM, "party on Q before C": EARLY,
                "party on P after C left": LATE, "stranger": STRANGER}  # fmt: skip
    got = visibility(viewer(accounts[who], regulator=who == "regulator"), record)
    assert got == expected, (who, got)


def test_each_custody_kind_makes_a_participant_at_its_own_position():
    """packed, palletised, shipped (both ends), received (the receiver), refused (both ends), unpacked,
    dispensed, destroyed; quarantines and readings do not."""
    cases = [
        (Event("packed", (1, 1), DIST), DIST, UP_TO((1, 1), current=True)),
        (Event("palletised", (1, 2), DIST), DIST, UP_TO((1, 2), current=True)),
        (Event("shipped", (1, 3), DIST, PHARM), DIST, UP_TO((1, 3), current=True)),  # in transit: still its
        (Event("shipped", (1, 3), DIST, PHARM), PHARM, UP_TO((1, 3), current=True)),  # named recipient
        (Event("received", (1, 4), PHARM, DIST), PHARM, UP_TO((1, 4), current=True)),
        (Event("received", (1, 4), PHARM, DIST), DIST, VERDICT_ONLY),  # a receipt is the receiver's event
        (Event("refused", (1, 5), PHARM, DIST), PHARM, UP_TO((1, 5))),  # back in the sender's hands
        (Event("refused", (1, 5), PHARM, DIST), DIST, UP_TO((1, 5), current=True)),
        (Event("unpacked", (1, 6), PHARM), PHARM, UP_TO((1, 6), current=True)),
        (Event("dispensed", (1, 7), PHARM), PHARM, UP_TO((1, 7), current=True)),
        (Event("destroyed", (1, 8), PHARM), PHARM, UP_TO((1, 8), current=True)),
        (Event("quarantined", (1, 9), PHARM), PHARM, VERDICT_ONLY),
        (Event("readings", (1, 9), PHARM), PHARM, VERDICT_ONLY),
    ]
    for event, who, expected in cases:
        assert visibility(viewer(who), Record(frozenset({MAKER}), (event,))) == expected, event


def test_a_later_custody_event_by_someone_else_ends_the_current_view():
    record = Record(
        frozenset({MAKER}),
        (Event("received", (2, 0), PHARM, DIST), Event("quarantined", (3, 0), PHARM),
         Event("shipped", (4, 0), PHARM, PHARM2)),
    )  # fmt: skip
    assert visibility(viewer(PHARM), record) == UP_TO((4, 0), current=True)  # it shipped: in transit, still its
    later = Record(record.manufacturers, (*record.events, Event("received", (5, 0), PHARM2, PHARM)))
    vis = visibility(viewer(PHARM), later)
    assert vis == UP_TO((4, 0)) and not vis.current
    assert [vis.shows(p) for p in [(3, 0), (4, 0), (4, 1), (5, 0)]] == [True, True, False, False]


def test_what_a_cut_shows():
    vis = UP_TO((16, 0))
    assert vis.partial and not vis.full and not vis.verdict_only
    assert vis.shows((16, 0)) and vis.shows((15, 9)) and not vis.shows((16, 1))
    assert FULL.shows((10**9, 0)) and not VERDICT_ONLY.shows((0, 0))
    timeline = [("commissioned", (1, 0)), ("packed", (10, 0)), ("shipped", (15, 0)), ("refused", (16, 0)),
                ("quarantined", (17, 5)), ("recalled", (40, 0))]  # fmt: skip
    shown = shown_events(vis, timeline, position=lambda e: e[1], kind=lambda e: e[0])
    # the lot's status events are the current verdict; the later quarantine (of the case, here named
    # like a lot's) is kept too by kind: callers pass the kind only for the lot's own events
    assert [e[0] for e in shown] == ["commissioned", "packed", "shipped", "refused", "quarantined", "recalled"]
    shown = shown_events(vis, timeline, position=lambda e: e[1], kind=lambda e: "")
    assert [e[0] for e in shown] == ["commissioned", "packed", "shipped", "refused"]
    assert shown_events(VERDICT_ONLY, timeline) == [] and shown_events(FULL, timeline) == timeline
    assert repr(UP_TO((3, 1), current=True)) == "UP_TO((3, 1), current)" and repr(FULL) == "FULL"


def test_list_level_questions():
    regulator, dist = viewer(REG, regulator=True), viewer(DIST)
    assert lot_scope(regulator) is None and lot_scope(dist) == DIST
    assert lot_scope(Viewer(None, 7)) == bytes(20)  # no chain account: no lot names it
    assert may_see_activity(regulator, PHARM) and may_see_activity(dist, DIST) and not may_see_activity(dist, PHARM)
    receipt_of_its_shipment = {"event": "received", "role": "counterparty"}
    assert not may_see_activity_row(dist, DIST, receipt_of_its_shipment)
    assert may_see_activity_row(regulator, DIST, receipt_of_its_shipment)
    assert may_see_activity_row(dist, DIST, {"event": "received", "role": "actor"})
    assert not may_see_activity_row(dist, PHARM, {"event": "shipped", "role": "actor"})
    # alerts: regulators, the parties named, the manufacturers of what it is about
    assert may_see_alert(regulator, [], [])
    assert may_see_alert(dist, [DIST[0]], [MAKER]) and not may_see_alert(dist, [PHARM[0]], [MAKER])
    assert may_see_alert(viewer(MAKER), [], [MAKER])
    # operations: the submitting organisation and regulators
    assert may_see_operation(dist, DIST[0]) and not may_see_operation(dist, PHARM[0])
    assert may_see_operation(regulator, PHARM[0])
    # EPCIS events recorded without a custody effect (purchase orders, sensor associations): the same
    assert may_see_recorded_event(dist, DIST[0]) and not may_see_recorded_event(dist, PHARM[0])
    assert may_see_recorded_event(regulator, PHARM[0]) and not may_see_recorded_event(Viewer(MAKER), DIST[0])


def test_viewer_from_a_principal_or_a_requester():
    from app.services.orgs import Principal
    from app.services.verify import Requester

    principal = Principal(3, "Northwind", "9500000000017", "0x" + DIST.hex(), ("distributor",), "abc")
    assert Viewer.of(principal) == Viewer(DIST, 3, False)
    assert Viewer.of(Requester(4, REG, "9500000000024", ("regulator",))) == Viewer(REG, 4, True)


def test_issue_14_moves_are_custody_events_of_who_made_them():
    """A pack picked into a tote by the distributor, the tote to a pharmacy, returned to the distributor and
    accepted, as its record lists them (the fold's steps of every container while it held the pack)."""
    maker, dist, pharm, other = b"m" * 20, b"d" * 20, b"p" * 20, b"o" * 20
    record = Record(
        frozenset({maker}),
        (
            Event("packed", (10, 0), maker),  # its case
            Event("moved", (20, 1), dist),  # picked into the tote
            Event("shipped", (21, 0), dist, pharm),
            Event("received", (22, 0), pharm, dist),
            Event("returned", (23, 1), pharm),  # its pack event, moved into a return consignment
            Event("shipped", (23, 2), pharm, dist),
            Event("accepted", (24, 0), dist, pharm),
            Event("stolen", (25, 0), dist),
        ),
    )
    assert visibility(Viewer(pharm), record) == UP_TO((23, 2))  # up to its return, not the acceptance
    assert visibility(Viewer(dist), record) == UP_TO((25, 0), current=True)
    assert visibility(Viewer(other), record) == VERDICT_ONLY
    assert Event("accepted", (24, 0), dist, pharm).parties == frozenset({dist})  # the receiver's, like received
    assert Event("undone", (26, 0), pharm).names(pharm)


def test_a_pack_s_serial_among_an_event_s_objects():
    """Review 14-15 #1: regulators, the pack's manufacturer, its asker and a party that acted on it list it."""
    assert may_list_pack(Viewer(REG, regulator=True), MAKER, asked=False, held=False)
    assert may_list_pack(Viewer(MAKER), MAKER, asked=False, held=False)
    assert may_list_pack(Viewer(DIST), MAKER, asked=True, held=False)
    assert may_list_pack(Viewer(DIST), MAKER, asked=False, held=True)
    assert not may_list_pack(Viewer(DIST), MAKER, asked=False, held=False)
    assert not may_list_pack(Viewer(STRANGER), MAKER, asked=False, held=False)  # a manufacturer, not of this pack
    assert not may_list_pack(Viewer(None), MAKER, asked=False, held=False)
