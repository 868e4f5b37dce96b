"""EPCIS 2.0 capture on real anvil + Postgres: documents mapped to writes, accepted into the outbox, relayed and
mirrored; every refusal names the event and the field; rollback vs proceed; an event sent again is not applied."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from urllib.parse import urlencode

import jsonschema
import pytest
from lxml import etree

from app.gs1 import LogisticUnit, Lot, Pack, to_epc_uri
from app.ids import sscc_id
from app.services import custody
from app.services.epcis import capture as epcis_capture
from app.services.epcis import capture_xml, cbv, event_hash
from tests.world import World, check_digit

CP = 7  # the test SSCCs and GTINs carry a 7-digit company prefix (tests/world.py)


def sscc_epc(sscc: str) -> str:
    return to_epc_uri(LogisticUnit(sscc), CP)


def sgtin(gtin: str, serial: str) -> str:
    return to_epc_uri(Pack(gtin, serial), CP)


def sgln(gln: str) -> str:
    return f"urn:epc:id:sgln:{gln[:7]}.{gln[7:12]}.0"


def pgln(gln: str) -> str:
    return f"urn:epc:id:pgln:{gln[:7]}.{gln[7:12]}"


def event(step: str, gln: str, *, kind="ObjectEvent", action="OBSERVE", **fields) -> dict:
    return {"type": kind, "action": action, "eventTime": "2026-12-05T10:00:00.000Z", "eventTimeZoneOffset": "+00:00",
            "bizStep": step, "readPoint": {"id": sgln(gln)}, "bizLocation": {"id": sgln(gln)},
            "eventID": f"urn:uuid:{uuid.uuid4()}", **fields}  # fmt: skip


def document(*events) -> dict:
    return {
        "@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"],
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": "2026-12-05T10:00:00.000Z",
        "epcisBody": {"eventList": list(events)},
    }


def capture(world: World, who: str, doc, **headers):
    return world.client.post("/epcis/capture", json=doc,
                             headers={"Authorization": f"Bearer {world.parties[who].key}", **headers})  # fmt: skip


def job(world: World, who: str, resp) -> dict:
    assert resp.status_code == 202, resp.get_json()
    got = world.client.get(resp.headers["Location"], headers={"Authorization": f"Bearer {world.parties[who].key}"})
    assert got.status_code == 200, got.get_json()
    assert got.headers["GS1-EPCIS-Version"] == "2.0.0" and got.headers["GS1-CBV-Version"] == "2.0.0"
    return got.get_json()


def done(world: World, who: str, resp) -> dict:
    """Captured with success, relayed and mirrored: every operation confirmed."""
    first = job(world, who, resp)
    assert first["errors"] == [] and first["status"] in ("running", "success"), first
    assert first["running"] == (first["status"] == "running")
    world.pump()
    final = job(world, who, resp)
    assert final["success"] is True and final["running"] is False and final["finishedAt"], final
    assert all(op["status"] == "confirmed" for e in final["events"] for op in e["operations"]), final
    return final


def ship(world: World, sender: str, units: list[str], to: str) -> dict:
    dest = [{"type": "owning_party", "destination": pgln(world.parties[to].gln)}]
    src = [{"type": "owning_party", "source": pgln(world.parties[sender].gln)}]
    return event("shipping", world.parties[sender].gln, epcList=[sscc_epc(u) for u in units], disposition="in_transit",
                 destinationList=dest, sourceList=src)  # fmt: skip


def test_commissioning_event_commissions_a_lot(world: World):
    gtin = check_digit(f"09506000{uuid.uuid4().int % 10**5:05d}")
    world.done("maker", world.post("maker", "/v1/products", {"gtin": gtin, "name": "Paracetamol 500 mg",
               "storage": {"min_celsius": 15, "max_celsius": 25}}))  # fmt: skip
    gln = world.parties["maker"].gln
    ev = event("commissioning", gln, action="ADD", disposition="active",
               epcList=[sgtin(gtin, f"C{n:04d}") for n in range(5)],
               ilmd={"cbvmda:lotNumber": "LOTC1", "cbvmda:itemExpirationDate": "2031-06-30"})  # fmt: skip
    resp = capture(world, "maker", document(ev))
    assert resp.headers["Location"].startswith("/epcis/capture/")
    final = done(world, "maker", resp)
    [state] = final["events"]
    assert state["eventIndex"] == 0 and state["state"] == "applied"
    assert [op["action"] for op in state["operations"]] == ["commission_lot"]
    assert final["captureErrorBehaviour"] == "rollback" and final["running"] is False


def test_packing_shipping_receiving_unpacking(world: World, stock):
    maker, dist = world.parties["maker"].gln, world.parties["distributor"].gln
    case = world.sscc()
    packing = event("packing", maker, kind="AggregationEvent", action="ADD", parentID=sscc_epc(case),
                    childEPCs=[sgtin(stock["gtin"], f"S{n:010d}") for n in range(80, 85)])  # fmt: skip
    final = done(world, "maker", capture(world, "maker", document(packing)))
    assert final["events"][0]["operations"][0]["action"] == "pack_case"
    done(
        world, "maker", capture(world, "maker", document(ship(world, "maker", [stock["pallet"], case], "distributor")))
    )
    receiving = event("receiving", dist, epcList=[sscc_epc(stock["pallet"]), sscc_epc(case)],
                      disposition="in_progress")  # fmt: skip
    unpacking = event("unpacking", dist, kind="AggregationEvent", action="DELETE", parentID=sscc_epc(stock["pallet"]))
    final = done(world, "distributor", capture(world, "distributor", document(receiving)))
    assert final["events"][0]["operations"][0]["action"] == "receive"
    final = done(world, "distributor", capture(world, "distributor", document(unpacking)))
    assert final["events"][0]["operations"][0]["action"] == "unpack"
    with world.db.connection() as conn:
        state = custody.unit_state(conn, sscc_id(case))
        pallet = custody.unit_state(conn, sscc_id(stock["pallet"]))
    assert state.custodian.hex() == world.parties["distributor"].account[2:].lower()
    assert pallet.unpacked


def test_rollback_applies_nothing_when_one_event_is_refused(world: World, stock):
    good = ship(world, "maker", [stock["pallet"]], "distributor")
    bad = ship(world, "maker", [world.sscc()], "distributor")  # no such unit
    before = world.relayer.counts()
    final = job(world, "maker", capture(world, "maker", document(good, bad)))
    assert final["success"] is False and final["status"] == "failed"
    assert final["errors"] == [{"eventIndex": 1, "eventID": bad["eventID"], "field": "epcList[0]",
                                "reason": "unknown_unit", "status": 422, "detail": final["errors"][0]["detail"]}]  # fmt: skip
    assert [e["state"] for e in final["events"]] == ["not_applied", "refused"]
    assert world.relayer.counts() == before
    # the same good event, sent again alone, is applied: the refused capture did not record it
    done(world, "maker", capture(world, "maker", document(good)))


def test_proceed_applies_the_accepted_events(world: World, stock):
    good = ship(world, "maker", [stock["pallet"]], "distributor")
    bad = ship(world, "maker", [world.sscc()], "distributor")
    resp = capture(world, "maker", document(bad, good), **{"GS1-Capture-Error-Behaviour": "proceed"})
    final = job(world, "maker", resp)
    assert final["captureErrorBehaviour"] == "proceed" and final["success"] is False
    assert [e["state"] for e in final["events"]] == ["refused", "applied"]
    assert final["errors"][0]["eventIndex"] == 0 and final["errors"][0]["field"] == "epcList[0]"
    world.pump()
    assert job(world, "maker", resp)["events"][1]["operations"][0]["status"] == "confirmed"


def test_an_event_sent_again_is_not_applied_twice(world: World, stock):
    ev = ship(world, "maker", [stock["pallet"]], "distributor")
    first = done(world, "maker", capture(world, "maker", document(ev)))
    op_id = first["events"][0]["operations"][0]["id"]
    before = world.relayer.counts()
    again = job(world, "maker", capture(world, "maker", document(ev)))
    assert again["success"] is True
    [state] = again["events"]
    assert state["state"] == "already_captured" and state["capturedBy"] == first["captureID"]
    assert [op["id"] for op in state["operations"]] == [op_id]
    assert world.relayer.counts() == before
    # the same eventID saying something else is refused
    other = job(world, "maker", capture(world, "maker", document({**ev, "eventTime": "2026-12-05T11:00:00.000Z"})))
    assert other["errors"][0]["reason"] == "event_id_conflict" and other["errors"][0]["status"] == 409
    assert world.relayer.counts() == before
    # without an eventID, the event's content is its identity
    packing = event("packing", world.parties["maker"].gln, kind="AggregationEvent", action="ADD",
                    parentID=sscc_epc(world.sscc()), childEPCs=[sgtin(stock["gtin"], "S0000000085")])  # fmt: skip
    plain = {k: v for k, v in packing.items() if k != "eventID"}
    one = job(world, "maker", capture(world, "maker", document(plain)))
    two = job(world, "maker", capture(world, "maker", document(plain)))
    assert one["events"][0]["eventID"] == event_hash.event_id(plain) and one["status"] == "running", one
    assert one["events"][0]["eventID"].startswith("ni:///sha-256;") and one["events"][0]["eventID"].endswith("CBV2.0")
    assert two["events"][0]["operations"][0]["id"] == one["events"][0]["operations"][0]["id"]
    assert two["events"][0]["state"] == "already_captured"


def test_one_event_twice_in_a_document_is_one_operation(world: World, stock):
    """The document's operations are stored in one statement at its end: the second copy of an event gets the
    first copy's operation, as it did when each event was stored in turn."""
    ev = ship(world, "maker", [stock["pallet"]], "distributor")
    before = world.relayer.counts()
    final = job(world, "maker", capture(world, "maker", document(ev, ev)))
    assert final["errors"] == [] and [e["state"] for e in final["events"]] == ["applied", "applied"], final
    first, second = ([op["id"] for op in e["operations"]] for e in final["events"])
    assert first == second and len(first) == 1
    assert world.relayer.counts().get("pending", 0) == before.get("pending", 0) + 1
    # the same eventID saying something else in the same document is refused, naming its index
    fresh = {**ev, "eventID": f"urn:uuid:{uuid.uuid4()}"}  # not mirrored yet: the pre-check still passes
    refused = job(
        world, "maker", capture(world, "maker", document(fresh, {**fresh, "eventTime": "2026-12-05T11:00:00Z"}))
    )
    assert [(e["eventIndex"], e["field"], e["reason"]) for e in refused["errors"]] == [(1, "eventID", "conflict")]
    assert [e["state"] for e in refused["events"]] == ["not_applied", "refused"]


def test_a_status_change_is_checked_against_one_earlier_in_the_document(world: World, stock):
    """A quarantine is stored as it is pre-checked (not at the document's end): a second quarantine of the same
    unit in the same document is refused as in flight."""
    gln = world.parties["maker"].gln
    held = event("holding", gln, epcList=[sscc_epc(stock["pallet"])], disposition="sellable_not_accessible")
    again = {**held, "eventID": f"urn:uuid:{uuid.uuid4()}"}
    final = job(world, "maker", capture(world, "maker", document(held, again),
                                        **{"GS1-Capture-Error-Behaviour": "proceed"}))  # fmt: skip
    assert [e["state"] for e in final["events"]] == ["applied", "refused"], final
    assert [(e["eventIndex"], e["reason"], e["status"]) for e in final["errors"]] == [(1, "quarantine_pending", 409)]


def test_each_event_is_mapped_after_the_writes_of_those_before_it(world: World):
    """Events are mapped and pre-checked in document order, each after the writes of the events before it (a
    packing of serials commissioned earlier in the same document finds them, pending, and is refused because
    their lot is not on chain yet, as it was when each event was captured in turn)."""
    gtin = check_digit(f"09506000{uuid.uuid4().int % 10**5:05d}")
    world.done("maker", world.post("maker", "/v1/products", {"gtin": gtin, "name": "Ibuprofen 200 mg",
               "storage": {"min_celsius": 15, "max_celsius": 25}}))  # fmt: skip
    gln = world.parties["maker"].gln
    serials = [sgtin(gtin, f"P{n:04d}") for n in range(3)]
    commission = event("commissioning", gln, action="ADD", disposition="active", epcList=serials,
                       ilmd={"cbvmda:lotNumber": "LOTP1", "cbvmda:itemExpirationDate": "2031-06-30"})  # fmt: skip
    packing = event("packing", gln, kind="AggregationEvent", action="ADD", parentID=sscc_epc(world.sscc()),
                    childEPCs=serials)  # fmt: skip
    final = job(world, "maker", capture(world, "maker", document(commission, packing),
                                        **{"GS1-Capture-Error-Behaviour": "proceed"}))  # fmt: skip
    assert [e["state"] for e in final["events"]] == ["applied", "refused"], final
    assert [(e["eventIndex"], e["field"], e["reason"]) for e in final["errors"]] == [(1, "childEPCs", "unknown_lot")]


def _refused(world: World, who: str, ev: dict) -> dict:
    final = job(world, who, capture(world, who, document(ev)))
    assert final["success"] is False and final["events"][0]["state"] == "refused"
    [error] = final["errors"]
    assert error["eventIndex"] == 0
    return error


def test_every_refused_event_names_its_field_and_rule(world: World, stock):
    maker, dist = world.parties["maker"].gln, world.parties["distributor"].gln
    pallet = sscc_epc(stock["pallet"])
    cases = [
        (event("shipping", dist, epcList=[pallet]), "readPoint.id", "not_your_location", 403),
        (
            {
                **ship(world, "maker", [stock["pallet"]], "distributor"),
                "sourceList": [{"type": "owning_party", "source": pgln(dist)}],
            },
            "sourceList[0].source",
            "not_your_party",
            403,
        ),
        (event("shipping", maker, epcList=[pallet]), "destinationList", "required", 422),
        (event("shipping", maker, epcList=["urn:epc:id:sscc:1950600.123"]), "epcList[0]", "length", 422),
        (event("teleporting", maker, epcList=[pallet]), "bizStep", "not_cbv", 422),
        (
            {**ship(world, "maker", [stock["pallet"]], "distributor"), "eventTime": "yesterday"},
            "eventTime",
            "schema",
            422,
        ),
        (
            {**ship(world, "maker", [stock["pallet"]], "distributor"), "eventTimeZoneOffset": "+0:00"},
            "eventTimeZoneOffset",
            "schema",
            422,
        ),
        (
            {**event("shipping", maker, epcList=[pallet]), "eventTimeZoneOffset": None},
            "eventTimeZoneOffset",
            "required",
            422,
        ),
        (event("picking", maker, epcList=[pallet]), "bizStep", "unsupported", 422),
        (event("shipping", maker, epcList=[pallet], disposition="lost"), "disposition", "not_cbv", 422),
        (event("receiving", maker, epcList=[pallet]), "epcList[0]", "not_in_transit", 409),
        (event("shipping", maker, action="ADD", epcList=[pallet]), "action", "unsupported", 422),
        ({**event("shipping", maker, epcList=[pallet]), "type": "TransformationEvent"}, "type", "unsupported", 422),
        ({**event("shipping", maker, epcList=[pallet]), "bizStep": None}, "bizStep", "required", 422),
        (
            event("commissioning", maker, action="ADD", epcList=[sgtin(stock["gtin"], "X1")]),
            "ilmd.lotNumber",
            "required",
            422,
        ),
        (
            event(
                "commissioning",
                maker,
                action="ADD",
                epcList=[sgtin(stock["gtin"], "S0000000001")],
                ilmd={"cbvmda:lotNumber": stock["lot"], "cbvmda:itemExpirationDate": "2031-01-01"},
            ),
            "ilmd.lotNumber",
            "already_commissioned",
            409,
        ),
        (
            event(
                "packing",
                maker,
                kind="AggregationEvent",
                action="ADD",
                parentID=sscc_epc(stock["cases"][0]),
                childEPCs=[sgtin(stock["gtin"], "S0000000090")],
            ),
            "parentID",
            "already_used",
            409,
        ),
        (event("dispensing", maker, epcList=[pallet]), "epcList", "packs_only", 422),
        (
            {**event("shipping", maker, epcList=[pallet]), "readPoint": {"id": "urn:epc:id:sgln:bad"}},
            "readPoint.id",
            "format",
            422,
        ),
    ]
    for ev, field, rule, status in cases:
        error = _refused(world, "maker", ev)
        assert (error["field"], error["reason"], error["status"]) == (field, rule, status), (ev, error)
        assert error["detail"]
    # a role the action needs: a distributor does not commission
    ev = event("commissioning", dist, action="ADD", epcList=[sgtin(stock["gtin"], "Z1")],
               ilmd={"cbvmda:lotNumber": "Z", "cbvmda:itemExpirationDate": "2031-01-01"})  # fmt: skip
    error = _refused(world, "distributor", ev)
    assert (error["field"], error["reason"], error["status"]) == ("bizStep", "forbidden", 403)


@pytest.mark.parametrize(
    ("doc", "field"),
    [
        ({"type": "EPCISQueryDocument"}, "type"),
        ({**document(), "schemaVersion": "1.2"}, "schemaVersion"),
        ({**document(), "creationDate": None}, "creationDate"),
        ({**document(), "epcisBody": {}}, "epcisBody.eventList"),
        (document(), "epcisBody.eventList"),
        ([], "document"),
        ({k: v for k, v in document().items() if k != "@context"} | {"epcisBody": {"eventList": [{}]}}, "@context"),
    ],
)
def test_a_malformed_document_is_a_400_naming_the_field(world: World, doc, field):
    resp = capture(world, "maker", doc)
    assert resp.status_code == 400, resp.get_json()
    body = resp.get_json()
    assert body["type"] == "epcisException:ValidationException" and field in body["errors"]["json"]


def test_headers_media_type_and_limits(world: World, stock):
    auth = {"Authorization": f"Bearer {world.parties['maker'].key}"}
    resp = world.client.options("/epcis/capture", headers=auth)
    assert resp.status_code == 204 and "Content-Type" not in resp.headers  # no body, no media type
    assert resp.headers["GS1-EPCIS-Capture-Limit"] == "1000"
    assert int(resp.headers["GS1-EPCIS-Capture-File-Size-Limit"]) > 0
    assert resp.headers["GS1-EPCIS-Version"] == "2.0.0" and resp.headers["GS1-CBV-Version"] == "2.0.0"
    resp = world.client.post("/epcis/capture", data="a,b", headers={**auth, "Content-Type": "text/csv"})
    assert resp.status_code == 415
    resp = capture(world, "maker", document(ship(world, "maker", [stock["pallet"]], "distributor")),
                   **{"GS1-Capture-Error-Behaviour": "sometimes"})  # fmt: skip
    assert resp.status_code == 400 and "GS1-Capture-Error-Behaviour" in resp.get_json()["errors"]["headers"]
    resp = capture(world, "maker", document(ship(world, "maker", [stock["pallet"]], "distributor")),
                   **{"GS1-EPCIS-Version": "1.2.0"})  # fmt: skip
    assert resp.status_code == 406
    many = document(*[event("shipping", world.parties["maker"].gln)] * (epcis_capture.CAPTURE_LIMIT + 1))
    resp = capture(world, "maker", many)
    assert resp.status_code == 413 and resp.get_json()["type"] == "epcisException:CaptureLimitExceededException"
    ld = world.client.post("/epcis/capture", data=b"{}", headers={**auth, "Content-Type": "application/ld+json"})
    assert ld.status_code == 400
    # another organisation's capture job is not found
    ok = capture(world, "maker", document(ship(world, "maker", [stock["pallet"]], "distributor")))
    other = world.client.get(ok.headers["Location"], headers={"Authorization": f"Bearer {world.parties['maker2'].key}"})
    assert other.status_code == 404


def _actions(final: dict) -> list[str]:
    return [op["action"] for e in final["events"] for op in e["operations"]]


def packs_of(stock, *ns) -> list[str]:
    return [sgtin(stock["gtin"], f"S{n:010d}") for n in ns]


def test_the_other_business_steps(world: World, stock):
    """From the pallet at the maker to packs dispensed, destroyed, stolen, returned and accepted; totes, pack
    shipments, refusals, quarantine and clearance, a recall, sensor readings; every write confirmed on chain."""
    gln = {who: p.gln for who, p in world.parties.items()}
    pallet, case0, case1 = stock["pallet"], *stock["cases"]

    def go(who, *events):
        return _actions(done(world, who, capture(world, who, document(*events))))

    def dest(who, to, epcs, step="shipping", **extra):
        return event(step, gln[who], epcList=epcs, destinationList=[{"type": "owning_party",
                     "destination": pgln(gln[to])}], **extra)  # fmt: skip

    def unpack(who, unit):
        return event("unpacking", gln[who], kind="AggregationEvent", action="DELETE", parentID=sscc_epc(unit))

    go("maker", ship(world, "maker", [pallet], "distributor"))
    go("distributor", event("receiving", gln["distributor"], epcList=[sscc_epc(pallet)]))
    go("distributor", unpack("distributor", pallet))
    # sensor readings on a case the distributor holds
    reports = [{"type": "gs1:Temperature", "value": v, "uom": "CEL", "time": f"2026-12-01T10:0{i}:00Z"}
               for i, v in enumerate([4.5, 5.0, 5.5])]  # fmt: skip
    readings_ev = event("sensor_reporting", gln["distributor"], epcList=[sscc_epc(case0)],
                        sensorElementList=[{"sensorMetadata": {"deviceID": "logger-7"}, "sensorReport": reports}])  # fmt: skip
    assert go("distributor", readings_ev) == ["record_readings"]
    # quarantine and clearance of a case
    held = event("holding", gln["distributor"], epcList=[sscc_epc(case1)], disposition="sellable_not_accessible")
    assert go("distributor", held) == ["quarantine"]
    cleared = event("inspecting", gln["distributor"], epcList=[sscc_epc(case1)], disposition="sellable_accessible")
    assert go("distributor", cleared) == ["clear_quarantine"]
    # a tote picked out of an opened case, and loose packs shipped (then refused by the recipient)
    go("distributor", unpack("distributor", case1))
    tote = world.sscc()
    picking = event("packing", gln["distributor"], kind="AggregationEvent", action="ADD", parentID=sscc_epc(tote),
                    childEPCs=packs_of(stock, 40, 41))  # fmt: skip
    assert go("distributor", picking) == ["pack_tote"]
    assert go("distributor", dest("distributor", "pharmacy2", packs_of(stock, 42, 43))) == ["ship_packs"]
    assert go("pharmacy2", event("void_shipping", gln["pharmacy2"], epcList=packs_of(stock, 42))) == ["refuse"]
    # the case to the pharmacy: received, opened, packs dispensed, destroyed, stolen, returned and accepted back
    go("distributor", ship(world, "distributor", [case0], "pharmacy"))
    go("pharmacy", event("receiving", gln["pharmacy"], epcList=[sscc_epc(case0)]))
    go("pharmacy", unpack("pharmacy", case0))
    assert go("pharmacy", event("dispensing", gln["pharmacy"], epcList=packs_of(stock, 1, 2),
                                disposition="dispensed")) == ["dispense"]  # fmt: skip
    assert go("pharmacy", event("destroying", gln["pharmacy"], epcList=packs_of(stock, 3),
                                disposition="destroyed")) == ["destroy"]  # fmt: skip
    assert go("pharmacy", event("other", gln["pharmacy"], epcList=packs_of(stock, 4), disposition="stolen")) == [
        "report_stolen"
    ]
    # a return comes out of a tote or consignment (docs/gas-redesign.md): a pack shipped loose, received, returned
    assert go("distributor", dest("distributor", "pharmacy", packs_of(stock, 44))) == ["ship_packs"]
    go("pharmacy", event("receiving", gln["pharmacy"], epcList=packs_of(stock, 44)))
    back = dest("pharmacy", "distributor", packs_of(stock, 44), disposition="returned")
    assert go("pharmacy", back) == ["return_packs"]
    assert go("distributor", event("accepting", gln["distributor"], epcList=packs_of(stock, 44))) == ["accept_return"]
    # the maker recalls the lot (class level)
    lot_class = to_epc_uri(Lot(stock["gtin"], stock["lot"]), CP)
    recall = event("holding", gln["maker"], quantityList=[{"epcClass": lot_class, "quantity": 100}],
                   disposition="recalled")  # fmt: skip
    assert go("maker", recall) == ["recall"]
    with world.db.connection() as conn:
        assert (
            custody.unit_state(conn, sscc_id(tote)).custodian.hex() == world.parties["distributor"].account[2:].lower()
        )


def test_a_lot_opened_for_batches_then_a_batch(world: World):
    gtin = check_digit(f"09506000{uuid.uuid4().int % 10**5:05d}")
    world.done("maker", world.post("maker", "/v1/products", {"gtin": gtin, "name": "Insulin",
               "storage": {"min_celsius": 2, "max_celsius": 8}}))  # fmt: skip
    gln = world.parties["maker"].gln
    ilmd = {"cbvmda:lotNumber": "B1", "cbvmda:itemExpirationDate": "2031-01-31"}
    opening = event("commissioning", gln, action="ADD", ilmd=ilmd,
                    quantityList=[{"epcClass": to_epc_uri(Lot(gtin, "B1"), CP), "quantity": 10}])  # fmt: skip
    assert _actions(done(world, "maker", capture(world, "maker", document(opening)))) == ["open_lot"]
    batch = event("commissioning", gln, action="ADD", ilmd={"cbvmda:lotNumber": "B1"},
                  epcList=[sgtin(gtin, f"B{n}") for n in range(3)])  # fmt: skip
    assert _actions(done(world, "maker", capture(world, "maker", document(batch)))) == ["commission_batch"]


def test_uneven_sensor_reports_name_the_report(world: World, stock):
    gln = world.parties["maker"].gln
    times = ["2026-12-01T10:00:00Z", "2026-12-01T10:01:00Z", "2026-12-01T10:05:00Z"]
    reports = [{"type": "gs1:Temperature", "value": 5, "uom": "CEL", "time": t} for t in times]
    ev = event("sensor_reporting", gln, epcList=[sscc_epc(stock["pallet"])],
               sensorElementList=[{"sensorMetadata": {"deviceID": "d"}, "sensorReport": reports}])  # fmt: skip
    error = _refused(world, "maker", ev)
    assert (error["field"], error["reason"]) == ("sensorElementList[0].sensorReport[2].time", "uneven")


def _xml_shipping(version: str, world: World, units: list[str], to: str, event_id: str) -> str:
    maker = world.parties["maker"].gln
    epcs = "".join(f"<epc>{sscc_epc(u)}</epc>" for u in units)
    parties = (
        f'<sourceList><source type="urn:epcglobal:cbv:sdt:owning_party">{pgln(maker)}</source></sourceList>'
        f'<destinationList><destination type="urn:epcglobal:cbv:sdt:owning_party">{pgln(world.parties[to].gln)}'
        "</destination></destinationList>"
    )
    if version == "1":  # EPCIS 1.2: eventID in baseExtension, source/destination in extension
        head, tail = (
            f"<baseExtension><eventID>{event_id}</eventID></baseExtension>",
            f"<extension>{parties}</extension>",
        )
        step, disp = "urn:epcglobal:cbv:bizstep:shipping", "urn:epcglobal:cbv:disp:in_transit"
    else:
        head, tail = f"<eventID>{event_id}</eventID>", parties
        step, disp = "shipping", "in_transit"
    return (
        f'<?xml version="1.0"?><epcis:EPCISDocument xmlns:epcis="urn:epcglobal:epcis:xsd:{version}" '
        f'schemaVersion="{"1.2" if version == "1" else "2.0"}" creationDate="2026-12-05T10:00:00Z">'
        "<EPCISBody><EventList><ObjectEvent>"
        f"<eventTime>2026-12-05T10:00:00Z</eventTime><eventTimeZoneOffset>+00:00</eventTimeZoneOffset>{head}"
        f"<epcList>{epcs}</epcList><action>OBSERVE</action><bizStep>{step}</bizStep>"
        f"<disposition>{disp}</disposition><readPoint><id>{sgln(maker)}</id></readPoint>{tail}"
        "</ObjectEvent></EventList></EPCISBody></epcis:EPCISDocument>"
    )


@pytest.mark.parametrize("version", ["1", "2"])
def test_xml_capture_of_epcis_1_2_and_2_0(world: World, stock, version):
    auth = {"Authorization": f"Bearer {world.parties['maker'].key}", "Content-Type": "application/xml"}
    event_id = f"urn:uuid:{uuid.uuid4()}"
    xml = _xml_shipping(version, world, [stock["pallet"]], "distributor", event_id)
    # the test's document is valid against the official XSD of its version (vendored; capture checks it too)
    capture_xml.schema("1.2" if version == "1" else "2.0").assertValid(etree.fromstring(xml.encode()))
    resp = world.client.post("/epcis/capture", data=xml, headers=auth)
    final = done(world, "maker", resp)
    assert final["events"][0]["eventID"] == event_id and _actions(final) == ["ship"]
    # the same event in JSON is the same event: not applied again
    same = ship(world, "maker", [stock["pallet"]], "distributor") | {"eventID": event_id}
    del same["bizLocation"]  # the XML names the readPoint only
    again = job(world, "maker", capture(world, "maker", document(same)))
    assert again["events"][0]["state"] == "already_captured", again


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"<epcis:EPCISDocument", "document"),
        (b'<!DOCTYPE a [<!ENTITY x "y">]><a>&x;</a>', "document"),
        (b"<EPCISQueryDocument/>", "EPCISDocument"),
        (
            b'<e:EPCISDocument xmlns:e="urn:epcglobal:epcis:xsd:2" schemaVersion="2.0" creationDate="2026-12-05T10:00:00Z">'
            b"<EPCISBody><EventList/></EPCISBody></e:EPCISDocument>",
            "epcisBody.eventList",
        ),
    ],
)
def test_malformed_xml_is_a_400(world: World, body, field):
    auth = {"Authorization": f"Bearer {world.parties['maker'].key}", "Content-Type": "application/xml"}
    resp = world.client.post("/epcis/capture", data=body, headers=auth)
    assert resp.status_code == 400, resp.get_json()
    assert field in resp.get_json()["errors"]["json"]


@pytest.mark.parametrize("version", ["1", "2"])
@pytest.mark.parametrize(
    ("change", "element", "rule"),
    [
        (("<action>OBSERVE</action>", "<action>LOOK</action>"), "ObjectEvent/action", "SCHEMAV_CVC_ENUMERATION_VALID"),
        (
            ("<eventTime>2026-12-05T10:00:00Z</eventTime>", "<eventTime>yesterday</eventTime>"),
            "ObjectEvent/eventTime",
            "SCHEMAV_CVC_DATATYPE_VALID_1_2_1",
        ),
        (("<action>OBSERVE</action>", ""), "ObjectEvent/bizStep", "SCHEMAV_ELEMENT_CONTENT"),  # action expected
        (("<ObjectEvent>", "<ObjectEvent><colour>red</colour>"), "ObjectEvent/colour", "SCHEMAV_ELEMENT_CONTENT"),
    ],
)
def test_xml_invalid_against_the_xsd_is_a_400_naming_element_line_and_rule(world: World, stock, version, change,
                                                                           element, rule):  # fmt: skip
    """Well-formed but invalid against the official XSD of its version (1.2 or 2.0): refused as a whole, before
    any event is mapped, with the error shape of the JSON checks (errors.json.<field>: [message])."""
    auth = {"Authorization": f"Bearer {world.parties['maker'].key}", "Content-Type": "application/xml"}
    xml = _xml_shipping(version, world, [stock["pallet"]], "distributor", f"urn:uuid:{uuid.uuid4()}")
    xml = xml.replace(*change).replace("<EPCISBody>", "\n<EPCISBody>")  # the events on line 2
    resp = world.client.post("/epcis/capture", data=xml, headers=auth)
    assert resp.status_code == 400, resp.get_json()
    body = resp.get_json()
    assert body["type"] == "epcisException:ValidationException"
    [(field, [message])] = body["errors"]["json"].items()
    assert field.endswith(element), field
    assert message.startswith(f"line 2: the EPCIS {'1.2' if version == '1' else '2.0'} XSD refuses it ({rule})")


def test_a_capture_whose_write_the_chain_refuses_fails(world: World, stock):
    """Two captures ship the same pallet before either is mirrored: both pass the pre-check; the chain confirms
    one, refuses the other, and that capture job is failed, naming the event and the contract's reason."""
    first = capture(world, "maker", document(ship(world, "maker", [stock["pallet"]], "distributor")))
    second = capture(world, "maker", document(ship(world, "maker", [stock["pallet"]], "pharmacy")))
    assert job(world, "maker", second)["status"] == "running"
    world.pump()
    assert job(world, "maker", first)["success"] is True
    failed = job(world, "maker", second)
    assert failed["status"] == "failed" and failed["running"] is False
    assert [(e["eventIndex"], e["field"], e["reason"]) for e in failed["errors"]] == [
        (0, "operation", "UnitIsInTransit")
    ]


# --------------------------------------------------------------------------- recorded events (no custody effect)

SCHEMA = json.loads((Path(capture_xml.__file__).parent / "schemas" / "EPCIS-JSON-Schema.json").read_text())


def query(world: World, who: str, epc: str, **headers):
    url = f"/epcis/events?{urlencode({'MATCH_anyEPC': epc})}"
    return world.client.get(url, headers={"Authorization": f"Bearer {world.parties[who].key}", **headers})


def queried(world: World, who: str, epc: str) -> list[dict]:
    resp = query(world, who, epc)
    assert resp.status_code == 200, resp.get_json()
    jsonschema.Draft7Validator(SCHEMA).validate(resp.get_json())
    return resp.get_json()["epcisBody"]["queryResults"]["resultsBody"]["eventList"]


def transaction(world: World, who: str, epcs: list[str], **fields) -> dict:
    gln = world.parties[who].gln
    bts = [{"type": "po", "bizTransaction": f"urn:epcglobal:cbv:bt:{gln}:PO-{uuid.uuid4().hex[:8]}"},
           {"type": "https://ref.gs1.org/cbv/BTT-desadv", "bizTransaction": f"urn:epcglobal:cbv:bt:{gln}:DA-1"}]  # fmt: skip
    fields = {"bizTransactionList": bts, "epcList": epcs, **fields}
    ev = event("shipping", gln, kind="TransactionEvent", action="ADD", **fields)
    del ev["bizStep"]  # optional in a TransactionEvent
    return ev


def test_a_transaction_event_is_recorded_and_exported_to_its_capturer_and_regulators(world: World, stock):
    """A purchase order / despatch advice naming a pallet (Digital Link form) and a pack: no operation, kept with
    the capture, answered back in the queries of those objects (canonical EPC URIs, CBV words), valid against the
    JSON schema and both XSDs; the capturer and regulators see it, a trading partner on the pallet's path not."""
    pallet, pack = sscc_epc(stock["pallet"]), sgtin(stock["gtin"], "S0000000003")
    done(world, "maker", capture(world, "maker", document(ship(world, "maker", [stock["pallet"]], "distributor"))))
    before = world.relayer.counts()
    ev = transaction(world, "maker", [f"https://id.gs1.org/00/{stock['pallet']}", pack])
    final = job(world, "maker", capture(world, "maker", document(ev)))
    assert final["success"] is True and final["errors"] == [], final
    [state] = final["events"]
    assert (state["state"], state["operations"], state["eventID"]) == ("recorded", [], ev["eventID"])
    assert world.relayer.counts() == before  # nothing for the chain
    for who in ("maker", "regulator"):
        [got] = [e for e in queried(world, who, pallet) if e["type"] == "TransactionEvent"]
        assert got["eventID"] == ev["eventID"]
        assert got["epcList"] == [cbv.sscc(stock["pallet"]), cbv.sgtin(stock["gtin"], "S0000000003")]  # canonical
        assert [b["type"] for b in got["bizTransactionList"]] == ["po", "desadv"]
        assert got["pt:event"] == "recorded" and got["pt:captureID"] == final["captureID"] and "pt:txHash" not in got
        # stored canonical: the company prefix split by GS1's prefix lengths, not as the sender split it
        assert got["readPoint"] == {"id": cbv.sgln(world.parties["maker"].gln)} and got["action"] == "ADD"
    assert [e["eventID"] for e in queried(world, "maker", pack) if e["type"] == "TransactionEvent"] == [ev["eventID"]]
    seen = queried(world, "distributor", pallet)  # a participant of the pallet, not of the maker's orders
    assert seen and not [e for e in seen if e["type"] == "TransactionEvent"]
    for version, headers in (("2.0", {"Accept": "application/xml"}), ("1.2", {"GS1-EPCIS-Version": "1.2"})):
        root = etree.fromstring(query(world, "maker", pallet, **headers).data)
        name = "EPCglobal-epcis-query-2_0.xsd" if version == "2.0" else "EPCglobal-epcis-query-1_2.xsd"
        etree.XMLSchema(etree.parse(str(capture_xml.XSD_DIR / name))).assertValid(root)
        [element] = root.iter("TransactionEvent")
        types = [b.get("type") for b in element.iter("bizTransaction")]
        assert types == (["https://ref.gs1.org/cbv/BTT-po", "https://ref.gs1.org/cbv/BTT-desadv"] if version == "2.0"
                         else ["urn:epcglobal:cbv:btt:po", "urn:epcglobal:cbv:btt:desadv"])  # fmt: skip
    again = job(world, "maker", capture(world, "maker", document(ev)))
    assert again["events"][0]["state"] == "already_captured"
    assert len([e for e in queried(world, "maker", pallet) if e["type"] == "TransactionEvent"]) == 1


def test_an_association_event_is_recorded(world: World, stock):
    """A data logger associated with a pallet: recorded; in 1.2 XML (which has no AssociationEvent) it travels in
    the event list's extension, and the document stays valid."""
    pallet = sscc_epc(stock["pallet"])
    ev = event("installing", world.parties["maker"].gln, kind="AssociationEvent", action="ADD",
               parentID="urn:epc:id:giai:0614141.LOGGER-7", childEPCs=[pallet])  # fmt: skip
    final = job(world, "maker", capture(world, "maker", document(ev)))
    assert final["success"] is True and final["events"][0]["state"] == "recorded", final
    [got] = [e for e in queried(world, "regulator", pallet) if e["type"] == "AssociationEvent"]
    assert got["parentID"] == ev["parentID"] and got["bizStep"] == "installing"
    assert got["childEPCs"] == [cbv.sscc(stock["pallet"])]
    root = etree.fromstring(query(world, "regulator", pallet, Accept="application/xml; version=1.2").data)
    etree.XMLSchema(etree.parse(str(capture_xml.XSD_DIR / "EPCglobal-epcis-query-1_2.xsd"))).assertValid(root)
    [element] = root.iter("AssociationEvent")
    assert element.getparent().tag == "extension" and element.getparent().getparent().tag == "extension"
    assert not [e for e in queried(world, "distributor", pallet) if e["type"] == "AssociationEvent"]


def test_every_refused_recorded_event_names_its_field_and_rule(world: World, stock):
    maker = world.parties["maker"].gln
    pallet = sscc_epc(stock["pallet"])
    no_bts = transaction(world, "maker", [pallet])
    del no_bts["bizTransactionList"]
    cases = [
        ("maker", no_bts, "bizTransactionList", "required", 422),
        ("maker", transaction(world, "maker", [pallet], bizTransactionList=[{"type": "bribe", "bizTransaction": "urn:x:1"}]),
         "bizTransactionList[0].type", "not_cbv", 422),
        ("maker", transaction(world, "maker", [pallet], bizTransactionList=[{"type": "po"}]),
         "bizTransactionList[0].bizTransaction", "format", 422),
        ("maker", transaction(world, "maker", []), "epcList", "required", 422),
        ("maker", transaction(world, "maker", [pallet, "urn:epc:id:sgtin:bad"]), "epcList[1]", "charset", 422),
        # another manufacturer's pallet and a pallet that does not exist: the same answer (no oracle of serials)
        ("maker2", transaction(world, "maker2", [pallet]), "epcList[0]", "not_your_object", 403),
        ("maker", transaction(world, "maker", [sscc_epc(world.sscc())]), "epcList[0]", "not_your_object", 403),
        ("maker", transaction(world, "maker", [], epcList=None,
                              quantityList=[{"epcClass": to_epc_uri(Lot(stock["gtin"], "NOPE"), CP), "quantity": 3}]),
         "quantityList[0].epcClass", "not_your_object", 403),
        ("maker", event("installing", maker, kind="AssociationEvent", action="ADD", childEPCs=[pallet]), "parentID",
         "required", 422),
        ("maker", {**transaction(world, "maker", [pallet]), "readPoint": {"id": sgln(world.parties["pharmacy"].gln)}},
         "readPoint.id", "not_your_location", 403),
    ]  # fmt: skip
    for who, sent, field, reason, status in cases:
        ev = {k: v for k, v in sent.items() if v is not None}
        error = _refused(world, who, ev)
        assert (error["field"], error["reason"], error["status"]) == (field, reason, status), (ev, error)


def test_a_recorded_event_is_rolled_back_with_its_document(world: World, stock):
    pallet = sscc_epc(stock["pallet"])
    good = transaction(world, "maker", [pallet])
    bad = ship(world, "maker", [world.sscc()], "distributor")
    final = job(world, "maker", capture(world, "maker", document(good, bad)))
    assert [e["state"] for e in final["events"]] == ["not_applied", "refused"]
    assert not [e for e in queried(world, "maker", pallet) if e["type"] == "TransactionEvent"]
    final = job(
        world, "maker", capture(world, "maker", document(good, bad), **{"GS1-Capture-Error-Behaviour": "proceed"})
    )
    assert [e["state"] for e in final["events"]] == ["recorded", "refused"]
    assert [e["eventID"] for e in queried(world, "maker", pallet) if e["type"] == "TransactionEvent"] == [
        good["eventID"]
    ]


def test_a_transaction_event_in_epcis_1_2_xml_is_recorded(world: World, stock):
    """The GS1 US DSCSA shape: a 1.2 TransactionEvent (quantityList in its extension), valid against the 1.2 XSD."""
    maker = world.parties["maker"].gln
    lgtin = to_epc_uri(Lot(stock["gtin"], stock["lot"]), CP)
    xml = (
        '<?xml version="1.0"?><epcis:EPCISDocument xmlns:epcis="urn:epcglobal:epcis:xsd:1" schemaVersion="1.2" '
        'creationDate="2026-12-05T10:00:00Z"><EPCISBody><EventList><TransactionEvent>'
        "<eventTime>2026-12-05T10:00:00Z</eventTime><eventTimeZoneOffset>+00:00</eventTimeZoneOffset>"
        f'<bizTransactionList><bizTransaction type="urn:epcglobal:cbv:btt:po">urn:epcglobal:cbv:bt:{maker}:PO-77'
        f"</bizTransaction></bizTransactionList><epcList><epc>{sscc_epc(stock['pallet'])}</epc></epcList>"
        f"<action>ADD</action><readPoint><id>{sgln(maker)}</id></readPoint>"
        f"<extension><quantityList><quantityElement><epcClass>{lgtin}</epcClass><quantity>80</quantity>"
        "</quantityElement></quantityList></extension></TransactionEvent></EventList></EPCISBody></epcis:EPCISDocument>"
    )
    capture_xml.schema("1.2").assertValid(etree.fromstring(xml.encode()))
    auth = {"Authorization": f"Bearer {world.parties['maker'].key}", "Content-Type": "application/xml"}
    final = job(world, "maker", world.client.post("/epcis/capture", data=xml, headers=auth))
    assert final["success"] is True and final["events"][0]["state"] == "recorded", final
    [got] = [e for e in queried(world, "maker", sscc_epc(stock["pallet"])) if e["type"] == "TransactionEvent"]
    assert got["bizTransactionList"] == [{"type": "po", "bizTransaction": f"urn:epcglobal:cbv:bt:{maker}:PO-77"}]
    assert got["quantityList"] == [{"epcClass": cbv.lgtin(stock["gtin"], stock["lot"]), "quantity": 80}]
