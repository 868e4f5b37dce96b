"""Verification of packs that left their case (issue 14): picked into a tote, shipped loose, returned,
reported stolen. The moves are made straight on the chain (tests/world.py `act`), the answers read
through the API."""

from __future__ import annotations

from app.ids import lgtin_id, pack_readings, sscc_id
from tests.api.test_verify import ask, code, reasons
from tests.world import World, group


def _hex(value: bytes) -> str:
    return "0x" + value.hex()


def _at_distributor(world: World, stock) -> tuple[bytes, bytes, bytes]:
    """The pallet to the distributor (an excursion on the way), received and opened, both cases opened."""
    pallet, cases = sscc_id(stock["pallet"]), [sscc_id(c) for c in stock["cases"]]
    world.act("maker", world.pt.functions.ship([pallet], world.account("distributor")))
    hot = pack_readings([500, 1500])
    world.act("maker", world.pt.functions.recordReadings(pallet, b"\1" * 32, 1_700_000_000, 60, hot))
    world.act("distributor", world.pt.functions.receiveShipment([pallet]))
    world.act("distributor", world.pt.functions.unpack([pallet, *cases]))
    return lgtin_id(stock["gtin"], stock["lot"]), cases[0], cases[1]


def test_a_pack_in_a_tote_is_followed_to_the_pharmacy(world: World, stock):
    lot_id, case_a, _ = _at_distributor(world, stock)
    _, tote = world.tote("distributor", [group(case_a, lot_id, [1, 2, 3])])
    world.deliver([tote], "distributor", "pharmacy")

    at_pharmacy = ask(world, "pharmacy", code(stock, 1))
    assert "not_received_by_requester" not in reasons(at_pharmacy)
    assert reasons(at_pharmacy) == ["temperature_excursion"]  # the pallet that carried its case, on the way
    custody = at_pharmacy["custody"]
    assert custody["container"] == _hex(tote) and custody["container_kind"] == "tote"
    assert custody["case"] == _hex(case_a)
    assert custody["holder"]["gln"] == world.parties["pharmacy"].gln and not custody["in_transit"]
    events = [(s["event"], s["unit"]) for s in custody["path"]]
    assert ("packed", _hex(case_a)) in events and ("packed", _hex(tote)) in events
    assert ("received", _hex(tote)) in events and ("shipped", _hex(sscc_id(stock["pallet"]))) in events
    assert [x["unit"] for x in at_pharmacy["excursions"]] == [_hex(sscc_id(stock["pallet"]))]

    # a pack left in the case is not the pharmacy's; nor is the tote's pack another pharmacy's
    assert reasons(ask(world, "pharmacy", code(stock, 4))) == ["temperature_excursion", "not_received_by_requester"]
    assert "not_received_by_requester" in reasons(ask(world, "pharmacy2", code(stock, 1)))
    # the distributor sees the record up to its shipment of the tote; the case's events after the pick
    # (none here) and the pharmacy's receipt are not its
    seen = ask(world, "distributor", code(stock, 1))["custody"]
    assert ("received", _hex(tote)) not in [(s["event"], s["unit"]) for s in seen["path"]]

    # a quarantined tote holds its packs back
    world.act("pharmacy", world.pt.functions.quarantineUnit(tote))
    assert "quarantined" in reasons(ask(world, "pharmacy", code(stock, 2)))


def test_a_pack_in_a_caged_tote_is_followed_through_its_roll_cage(world: World, stock):
    """A roll cage carrying a tote's listing (packCageListed, docs/gas-redesign.md): the tote has no word of its own
    on chain, rides with its cage and is opened with it. Verify shows the tote as the pack's container and the cage
    on its path; the pharmacy then dispenses out of the tote (dispenseDay with the cage's draw) and returns a pack
    (returnCaged) through the write API, each built on the mirror's listings."""
    from app.ids import pack_set

    lot_id, case_a, _ = _at_distributor(world, stock)
    cage_sscc, tote_sscc = world.sscc(), world.sscc()
    cage, tote = sscc_id(cage_sscc), sscc_id(tote_sscc)
    order = (int(cage_sscc), [int(tote_sscc)], [[(case_a, lot_id, pack_set([1, 2, 3]))]], [])
    world.act("distributor", world.pt.functions.packCageListed(order))
    world.deliver([cage], "distributor", "pharmacy")

    at_pharmacy = ask(world, "pharmacy", code(stock, 1))
    assert "not_received_by_requester" not in reasons(at_pharmacy)
    custody = at_pharmacy["custody"]
    assert custody["container"] == _hex(tote) and custody["container_kind"] == "tote"
    assert custody["holder"]["gln"] == world.parties["pharmacy"].gln and not custody["in_transit"]
    events = [(s["event"], s["unit"]) for s in custody["path"]]
    assert ("packed", _hex(tote)) in events and ("received", _hex(cage)) in events

    p = world.parties
    world.done("pharmacy", world.post("pharmacy", "/v1/dispensations", {"packs": [code(stock, 1)]}))
    assert ask(world, "pharmacy", code(stock, 1))["verdict"] == "dispensed"
    back = world.done("pharmacy", world.post("pharmacy", "/v1/returns", {"packs": [code(stock, 2)],
                                                                         "to": p["distributor"].gln}))  # fmt: skip
    returned = ask(world, "distributor", code(stock, 2))
    assert returned["state"]["return_pending"] and returned["custody"]["container"] == back["consignment"]
    assert world.pt.functions.listingOf(tote).call() == bytes(32)  # its listing lives in its cage's word
    world.done("pharmacy", world.post("pharmacy", "/v1/dispensation-undos", {"packs": [code(stock, 1)]}))
    undone = ask(world, "pharmacy", code(stock, 1))  # active again (its excursion on the way still counts)
    assert reasons(undone) == ["temperature_excursion"] and not undone["state"]["dispensed"]


def test_loose_packs_a_return_and_a_stolen_pack(world: World, stock):
    lot_id, case_a, case_b = _at_distributor(world, stock)
    loose = world.consign("distributor", [group(case_a, lot_id, [5, 6]), group(case_b, lot_id, [41])], "pharmacy")
    moving = ask(world, "pharmacy", code(stock, 5))  # goods-in: shipped to it, not yet received
    assert moving["custody"]["in_transit"] and moving["custody"]["container_kind"] == "consignment"
    assert moving["custody"]["recipient"]["gln"] == world.parties["pharmacy"].gln
    world.act("pharmacy", world.pt.functions.receiveShipment([loose]))
    received = ask(world, "pharmacy", code(stock, 41))
    assert reasons(received) == ["temperature_excursion"]
    assert received["custody"]["container"] == _hex(loose) and received["custody"]["unpacked"]

    # returned to the distributor: shown as a pending return until accepted
    back = world.consign("pharmacy", [group(loose, lot_id, [5])], "distributor", returning=True)
    pending = ask(world, "distributor", code(stock, 5))
    assert pending["state"]["return_pending"] and pending["custody"]["return_pending"]
    assert pending["custody"]["in_transit"] and pending["custody"]["container"] == _hex(back)
    world.act("distributor", world.pt.functions.acceptReturn(back))
    restocked = ask(world, "distributor", code(stock, 5))
    assert not restocked["state"]["return_pending"] and not restocked["custody"]["in_transit"]
    assert restocked["custody"]["holder"]["gln"] == world.parties["distributor"].gln
    assert restocked["custody"]["path"][-2]["event"] == "accepted"
    # the pharmacy sees the pack up to its return, not the acceptance
    mine = ask(world, "pharmacy", code(stock, 5))
    assert "not_received_by_requester" not in reasons(mine)
    assert "accepted" not in [s["event"] for s in mine["custody"]["path"]]

    # stolen: suspect, for everyone
    world.act("pharmacy", world.pt.functions.reportStolenListed([world.draw(loose, lot_id, [6])]))
    for who in ("pharmacy", "regulator"):
        stolen = ask(world, who, code(stock, 6))
        assert stolen["verdict"] == "suspect" and "stolen" in reasons(stolen) and stolen["state"]["stolen"]
    from tests.api.test_provenance import lot_url, ok

    counts = ok(world, "maker", lot_url(stock))["pack_counts"]
    assert (counts["stolen"], counts["serials"], counts["cased"]) == (1, 100, 80), counts


# ---------------------------------------------------------------- provenance


def test_provenance_follows_a_pack_through_a_tote_and_a_return(world: World, stock):
    from tests.api.test_provenance import get, ok, pack_url

    lot_id, case_a, _ = _at_distributor(world, stock)
    tote_sscc, tote = world.tote("distributor", [group(case_a, lot_id, [1, 2])])
    world.deliver([tote], "distributor", "pharmacy")
    back = world.consign("pharmacy", [group(tote, lot_id, [2])], "distributor", returning=True)
    world.act("distributor", world.pt.functions.acceptReturn(back))

    full = ok(world, "regulator", pack_url(stock, 2))
    held = [(c["container"]["kind"], c["until"] and c["until"]["event"]) for c in full["containment"]]
    assert held == [("case", "moved"), ("pallet", "pallet_unpacked"), ("tote", "moved"), ("consignment", None)]
    assert full["containment"][2]["container"]["sscc"] == tote_sscc
    assert full["containment"][3]["container"]["sscc"] is None  # a consignment has no SSCC: it is named by its id
    assert full["containment"][3]["container"]["id"] == _hex(back)
    returned = next(e for e in full["timeline"] if e["event"] == "returned" and e["subject"]["kind"] == "consignment")
    assert returned["subject"]["id"] == _hex(back)
    events = [(e["event"], (e["subject"] or {}).get("kind")) for e in full["timeline"]]
    for step in [("moved", "pack"), ("returned", "pack"), ("received", "tote"), ("returned", "consignment"),
                 ("accepted", "consignment"), ("unpacked", "case")]:  # fmt: skip
        assert step in events, step
    # the case's events after the pack left it are not the pack's
    assert next(e for e in full["timeline"] if e["event"] == "moved")["tx_hash"] == next(
        e["tx_hash"] for e in full["timeline"] if e["event"] == "packed" and e["subject"]["kind"] == "tote"
    )
    assert any(x["unit"]["kind"] == "pallet" for x in full["excursions"])  # the pallet that carried its case

    # the pharmacy received it in a tote: it sees the pack, up to its return (not the acceptance)
    mine = ok(world, "pharmacy", pack_url(stock, 2))
    assert ("returned", "pack") in [(e["event"], e["subject"]["kind"]) for e in mine["timeline"]]
    assert "accepted" not in [e["event"] for e in mine["timeline"]]
    # another pharmacy was never on its path
    assert get(world, "pharmacy2", pack_url(stock, 2)).status_code == 403

    # a tote's own provenance: its packing with its packs, the handoffs, the pick out of it
    tote_prov = ok(
        world, "distributor", f"/v1/units/(00){tote_sscc}/provenance".replace("(", "%28").replace(")", "%29")
    )
    tote_events = [e["event"] for e in tote_prov["timeline"]]
    assert tote_events[:1] == ["packed"] and "shipped" in tote_events and "moved" in tote_events


def test_a_tote_and_its_lots_are_listed_to_the_parties_that_handled_it(world: World, stock):
    """The lot lists and a tote's verification follow the same participation: the pharmacy that received a
    tote sees its packs' lot listed; the lot's manufacturer sees a tote holding its packs whole."""
    from tests.api.test_provenance import ok

    lot_id, case_a, _ = _at_distributor(world, stock)
    tote_sscc, tote = world.tote("distributor", [group(case_a, lot_id, [1, 2])])
    listed = [item["lot"] for item in ok(world, "pharmacy", "/v1/lots")["items"]]
    assert stock["lot"] not in listed
    world.deliver([tote], "distributor", "pharmacy")
    listed = [item["lot"] for item in ok(world, "pharmacy", "/v1/lots")["items"]]
    assert stock["lot"] in listed
    as_maker = ask(world, "maker", f"(00){tote_sscc}")
    assert as_maker["verdict"] != "suspect" and "custody" in as_maker
    assert ask(world, "pharmacy", f"(00){tote_sscc}")["custody"]["holder"]["gln"] == world.parties["pharmacy"].gln
    assert "not_received_by_requester" in reasons(ask(world, "pharmacy2", f"(00){tote_sscc}"))


def test_partner_activity_shows_totes_loose_moves_returns_and_stolen_packs(world: World, stock):
    from tests.api.test_regulator import activity

    lot_id, case_a, _ = _at_distributor(world, stock)
    _, tote = world.tote("distributor", [group(case_a, lot_id, [1, 2, 3])])
    world.deliver([tote], "distributor", "pharmacy")
    back = world.consign("pharmacy", [group(tote, lot_id, [2])], "distributor", returning=True)
    world.act("distributor", world.pt.functions.acceptReturn(back))
    world.act("pharmacy", world.pt.functions.reportStolenListed([world.draw(tote, lot_id, [3])]))
    p = world.parties
    mine = [(i["event"], i["role"], i.get("packs")) for i in activity(world, "regulator", p["pharmacy"].gln)]
    for row in [("packs_returned", "actor", None), ("packs_moved", "actor", 1), ("packs_stolen", "actor", 1),
                ("return_accepted", "counterparty", None)]:  # fmt: skip
        assert row in mine, row
    dist = [(i["event"], i["role"], i.get("packs")) for i in activity(world, "regulator", p["distributor"].gln)]
    for row in [("tote_packed", "actor", None), ("packs_moved", "actor", 3), ("return_accepted", "actor", None),
                ("packs_returned", "counterparty", None)]:  # fmt: skip
        assert row in dist, row
    # its own activity: the pharmacy does not see the acceptance of what it returned (the receiver's event)
    own = [i["event"] for i in activity(world, "pharmacy", p["pharmacy"].gln)]
    assert "return_accepted" not in own and "packs_returned" in own


def test_an_undone_dispense_and_a_refused_return(world: World, stock):

    lot_id, case_a, _ = _at_distributor(world, stock)
    _, tote = world.tote("distributor", [group(case_a, lot_id, [7, 8])])
    world.deliver([tote], "distributor", "pharmacy")
    receipt = world.dispense("pharmacy", tote, lot_id, [7])
    assert ask(world, "pharmacy", code(stock, 7))["verdict"] == "dispensed"
    world.undo("pharmacy", receipt, tote, lot_id, [7])
    undone = ask(world, "pharmacy", code(stock, 7))
    assert "dispensed" not in reasons(undone) and not undone["state"]["dispensed"]
    assert undone["custody"]["container"] == _hex(tote) and undone["custody"]["holder"]["gln"] == world.parties[
        "pharmacy"].gln  # fmt: skip

    back = world.consign("pharmacy", [group(tote, lot_id, [8])], "distributor", returning=True)
    world.act("distributor", world.pt.functions.refuseShipment([back]))
    refused = ask(world, "pharmacy", code(stock, 8))  # back at the pharmacy, in the refused return
    assert not refused["state"]["return_pending"] and not refused["custody"]["in_transit"]
    assert refused["custody"]["holder"]["gln"] == world.parties["pharmacy"].gln
    assert [s["event"] for s in refused["custody"]["path"]][-2:] == ["refused", "unpacked"]


def test_a_lots_pack_counts_leave_out_undone_dispenses(world: World, stock):
    from tests.api.test_provenance import lot_url, ok

    lot_id, case_a, _ = _at_distributor(world, stock)
    _, tote = world.tote("distributor", [group(case_a, lot_id, [1, 2])])
    world.deliver([tote], "distributor", "pharmacy")
    receipt = world.dispense("pharmacy", tote, lot_id, [1, 2])
    assert ok(world, "maker", lot_url(stock))["pack_counts"]["dispensed"] == 2
    world.undo("pharmacy", receipt, tote, lot_id, [2])
    assert ok(world, "maker", lot_url(stock))["pack_counts"]["dispensed"] == 1


def test_a_containers_readings_count_for_a_pack_only_while_the_pack_was_in_it(world: World, stock):
    """Issue 14 review #5: provenance's cold chain and its EPCIS export count a unit's readings and excursions for
    a pack only while that unit carried it (custody.carried), as verification's temperature_excursion does."""
    from app import gs1
    from app.services import provenance
    from app.services.epcis import export
    from tests.api.test_provenance import ok, pack_url

    lot_id, case_a, _ = _at_distributor(world, stock)  # the pallet's excursion: case A sat on it then
    tote_sscc, tote = world.tote("distributor", [group(case_a, lot_id, [1, 2])])
    # after the pick: a hot reading on the case (pack 3 is still in it, packs 1 and 2 are not), a cool one on the tote
    world.act("distributor", world.pt.functions.recordReadings(case_a, b"\2" * 32, 1_700_100_000, 60,
                                                               pack_readings([1900, 600])))  # fmt: skip
    world.act("distributor", world.pt.functions.recordReadings(tote, b"\3" * 32, 1_700_200_000, 60,
                                                               pack_readings([500])))  # fmt: skip
    pallet, case_sscc = sscc_id(stock["pallet"]), stock["cases"][0]
    # and a hot one on the pallet, unpacked long since: it carries nothing any more
    world.act("distributor", world.pt.functions.recordReadings(pallet, b"\4" * 32, 1_700_300_000, 60,
                                                               pack_readings([2500])))  # fmt: skip

    picked = ask(world, "regulator", code(stock, 1))
    assert [x["unit"] for x in picked["excursions"]] == [_hex(pallet)]
    body = ok(world, "regulator", pack_url(stock, 1))
    assert [x["unit"]["kind"] for x in body["excursions"]] == ["pallet"]
    assert {s["sensor_id"] for s in body["readings"]["sensors"]} == {_hex(b"\1" * 32), _hex(b"\3" * 32)}
    assert body["readings"]["overall"]["count"] == 3  # the pallet's two, the tote's one: not the case's after

    left = ask(world, "regulator", code(stock, 3))
    assert [x["unit"] for x in left["excursions"]] == [_hex(pallet), _hex(case_a)]
    body = ok(world, "regulator", pack_url(stock, 3))
    assert [x["unit"]["kind"] for x in body["excursions"]] == ["pallet", "case"]
    assert body["readings"]["overall"]["count"] == 4
    case_body = ok(world, "regulator", f"/v1/units/%2800%29{case_sscc}/provenance")  # the case: the same rule
    assert [x["unit"]["kind"] for x in case_body["excursions"]] == ["pallet", "case"]
    assert case_body["readings"]["overall"]["count"] == 4

    with world.db.connection() as conn:
        exported = export.reading_events(conn, provenance.pack_provenance(conn, gs1.Pack(stock["gtin"], "S0000000001")))
    assert sorted(e["epcList"][0] for e in exported) == sorted(
        export.unit_epc({"sscc": sscc}) for sscc in (stock["pallet"], tote_sscc)
    )
    assert export.unit_epc({"sscc": case_sscc}) not in [e["epcList"][0] for e in exported]
