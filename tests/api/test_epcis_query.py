"""GET /epcis/events and the resource views: parameters, paging, the access policy, problem types.

The scenario (tests/epcis_scenario.py) runs through the real write path on anvil + Postgres. Every 200 answer is
validated against the official EPCIS 2.0 JSON schema (vendored in app/services/epcis/schemas/).
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, urlencode, urlsplit

import jsonschema
import pytest

from app.services.epcis import cbv
from tests import epcis_scenario
from tests.world import GTIN_BASE, World, check_digit, module_world

SCHEMA = json.loads((Path(cbv.__file__).parent / "schemas" / "EPCIS-JSON-Schema.json").read_text())
PARAM_EXCEPTION = "epcisException:QueryParameterException"


@pytest.fixture(scope="module")
def world(w3, anvil, pg_server, migrated_template, tmp_path_factory) -> Iterator[World]:
    with module_world(w3, anvil, pg_server, migrated_template, tmp_path_factory.mktemp("epcis-query")) as built:
        yield built


@pytest.fixture(scope="module")
def chain(world: World) -> dict:
    return epcis_scenario.build(world)


def get(world: World, who: str | None, url: str, params: list | dict | None = None):
    headers = {"Authorization": f"Bearer {world.parties[who].key}"} if who else {}
    if params:
        url = f"{url}?{urlencode(params)}"
    return world.client.get(url, headers=headers)


def events(world, who, url, params=None) -> list[dict]:
    resp = get(world, who, url, params)
    assert resp.status_code == 200, resp.get_json()
    doc = resp.get_json()
    jsonschema.Draft7Validator(SCHEMA).validate(doc)
    assert doc["type"] == "EPCISQueryDocument"
    assert resp.headers["GS1-EPCIS-Version"] == "2.0.0" and resp.headers["GS1-CBV-Version"] == "2.0.0"
    return doc["epcisBody"]["queryResults"]["resultsBody"]["eventList"]


def pack_epc(chain, n: int) -> str:
    return cbv.sgtin(chain["gtin"], f"S{n:010d}")


def test_a_pallet_s_events_for_the_regulator(world, chain):
    pallet = cbv.sscc(chain["pallet"])
    got = events(world, "regulator", "/epcis/events", {"MATCH_anyEPC": pallet})
    assert [e["pt:event"] for e in got] == ["packed", "reading", "shipped", "received", "unpacked"]
    assert all(pallet in (e.get("epcList") or []) + [e.get("parentID")] for e in got)


def test_master_data_in_the_header(world, chain):
    resp = get(world, "regulator", "/epcis/events", {"MATCH_epcClass": cbv.lgtin(chain["gtin"], chain["lot"])})
    header = resp.get_json()["epcisHeader"]["epcisMasterData"]["vocabularyList"]
    types = {v["type"]: v["vocabularyElementList"] for v in header}
    assert cbv.lgtin(chain["gtin"], chain["lot"]) in {x["id"] for x in types["urn:epcglobal:epcis:vtype:EPCClass"]}
    places = {x["id"] for x in types["urn:epcglobal:epcis:vtype:BusinessLocation"]}
    assert cbv.sgln(world.parties["maker"].gln) in places


def test_filters(world, chain):
    pallet = cbv.sscc(chain["pallet"])
    base = [("MATCH_anyEPC", pallet)]
    assert [e["pt:event"] for e in events(world, "regulator", "/epcis/events", [*base, ("eventType", "AggregationEvent")])] == ["packed", "unpacked"]  # fmt: skip
    shipped = events(world, "regulator", "/epcis/events", [*base, ("EQ_bizStep", "shipping")])
    assert [e["pt:event"] for e in shipped] == ["shipped"]
    uri = events(world, "regulator", "/epcis/events", [*base, ("EQ_bizStep", cbv.bizstep_uri("shipping"))])
    assert uri == shipped
    at_distributor = cbv.sgln(world.parties["distributor"].gln)
    got = events(world, "regulator", "/epcis/events", [*base, ("EQ_bizLocation", at_distributor)])
    assert [e["pt:event"] for e in got] == ["received", "unpacked"]
    got = events(world, "regulator", "/epcis/events", [*base, ("EQ_readPoint", at_distributor),
                                                       ("EQ_disposition", "in_progress")])  # fmt: skip
    assert [e["pt:event"] for e in got] == ["received", "unpacked"]
    one = events(world, "regulator", "/epcis/events", [*base, ("EQ_eventID", shipped[0]["eventID"])])
    assert one == shipped
    later = events(world, "regulator", "/epcis/events", [*base, ("GE_eventTime", shipped[0]["eventTime"])])
    assert "shipped" in [e["pt:event"] for e in later] and all(e["eventTime"] >= shipped[0]["eventTime"] for e in later)
    earlier = events(world, "regulator", "/epcis/events", [*base, ("LT_eventTime", shipped[0]["eventTime"])])
    assert "shipped" not in [e["pt:event"] for e in earlier]
    assert events(world, "regulator", "/epcis/events", [*base, ("GE_recordTime", "2999-01-01T00:00:00Z")]) == []
    parent = events(world, "regulator", "/epcis/events", [("MATCH_parentID", pallet)])
    assert [e["pt:event"] for e in parent] == ["packed", "unpacked"]


def test_match_epc_of_a_pack_and_its_lot_class(world, chain):
    got = events(world, "regulator", "/epcis/events", {"MATCH_epc": pack_epc(chain, 1)})
    kinds = [e["pt:event"] for e in got]
    assert kinds[0] == "commissioned" and kinds[-3:] == ["dispensed", "undone", "dispensed"], kinds
    assert kinds.count("packed") == 2 and "moved" not in kinds  # its case's packing, then the tote's (one event)
    by_class = events(
        world, "regulator", "/epcis/events", {"MATCH_epcClass": cbv.lgtin(chain["gtin"], chain["opened"])}
    )
    # class-level events only (the case packed from it lists its packs' SGTINs, matched by MATCH_epc)
    assert [e["pt:event"] for e in by_class] == ["opened", "commissioned", "quarantined", "cleared", "recalled"]


def test_paging_follows_the_link_header(world, chain):
    whole = events(world, "regulator", "/epcis/events", {"MATCH_anyEPC": pack_epc(chain, 1)})
    assert len(whole) > 4
    url, params, pages, seen = "/epcis/events", {"MATCH_anyEPC": pack_epc(chain, 1), "perPage": 2}, 0, []
    while url:
        resp = get(world, "regulator", url, params)
        assert resp.status_code == 200, resp.get_json()
        seen += resp.get_json()["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
        pages += 1
        link = resp.headers.get("Link")
        if link is None:
            break
        target = urlsplit(re.match(r'<([^>]+)>; rel="next"', link)[1])
        url, params = f"{target.path}?{target.query}", None
    assert seen == whole and pages == (len(whole) + 1) // 2


def test_resource_views(world, chain):
    pallet = cbv.sscc(chain["pallet"])
    scope = {"MATCH_anyEPC": pallet}
    assert [e["pt:event"] for e in events(world, "regulator", "/epcis/eventTypes/AggregationEvent/events", scope)] == [
        "packed", "unpacked"]  # fmt: skip
    assert [e["pt:event"] for e in events(world, "regulator", "/epcis/bizSteps/shipping/events", scope)] == ["shipped"]
    assert [e["pt:event"] for e in events(world, "regulator", "/epcis/dispositions/in_transit/events", scope)] == [
        "shipped"]  # fmt: skip
    at = quote(cbv.sgln(world.parties["distributor"].gln), safe="")
    assert [e["pt:event"] for e in events(world, "regulator", f"/epcis/bizLocations/{at}/events", scope)] == [
        "received", "unpacked"]  # fmt: skip
    by_epc = events(world, "regulator", f"/epcis/epcs/{quote(pallet, safe='')}/events")
    assert by_epc == events(world, "regulator", "/epcis/events", scope)
    lot_class = cbv.lgtin(chain["gtin"], chain["opened"])
    assert events(world, "regulator", f"/epcis/epcs/{quote(lot_class, safe='')}/events")[0]["pt:event"] == "opened"


@pytest.mark.parametrize(
    ("who", "visible"),
    [
        ("regulator", "all"),
        ("maker", "all"),  # the lot's manufacturer
        ("distributor", "some"),  # on the path up to its own last event
        ("pharmacy", "all"),  # its dispense is the pack's last event
        ("pharmacy2", None),  # never held the pack
        ("maker2", None),
    ],
)
def test_the_access_policy_decides_per_event(world, chain, who, visible):
    epc = quote(pack_epc(chain, 1), safe="")
    whole = events(world, "regulator", f"/epcis/epcs/{epc}/events")
    resp = get(world, who, f"/epcis/epcs/{epc}/events")
    if visible is None:
        assert resp.status_code == 404, resp.get_json()
        assert events(world, who, "/epcis/events", {"MATCH_epc": pack_epc(chain, 1)}) == []
        return
    got = events(world, who, f"/epcis/epcs/{epc}/events")
    ids = [e["eventID"] for e in got]  # the same events; their packs redacted for a party (review 14-15 #1)
    if visible == "all":
        assert ids == [e["eventID"] for e in whole]
    else:
        assert 0 < len(got) < len(whole) and ids == [e["eventID"] for e in whole[: len(got)]]
        # the events naming the pack up to the distributor's own last one: the tote packed with it
        assert got[-1]["parentID"] == cbv.sscc(chain["tote"]) and "dispensed" not in [e["pt:event"] for e in got]


def test_no_key_is_401(world, chain):
    assert get(world, None, "/epcis/events", {"MATCH_epc": pack_epc(chain, 1)}).status_code == 401


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ({"MATCH_epc": "x", "colour": "red"}, "MATCH_epc"),
        ({"colour": "red"}, "colour"),
        ({"eventType": "ShipEvent"}, "eventType"),
        ({"EQ_bizStep": "teleporting"}, "EQ_bizStep"),
        ({"EQ_disposition": "lost"}, "EQ_disposition"),
        ({"EQ_bizLocation": "Rotterdam"}, "EQ_bizLocation"),
        ({"GE_eventTime": "yesterday"}, "GE_eventTime"),
        ({"LT_eventTime": "2026-01-01T00:00:00"}, "LT_eventTime"),
        ({"perPage": "0"}, "perPage"),
        ({"perPage": "many"}, "perPage"),
        ({"nextPageToken": "!!"}, "nextPageToken"),
        ({"MATCH_anyEPC": "urn:epc:id:sgtin:0614141.812345"}, "MATCH_anyEPC"),
    ],
)
def test_bad_parameters_are_400_naming_them(world, chain, params, parameter):
    resp = get(world, "regulator", "/epcis/events", params)
    body = resp.get_json()
    assert resp.status_code == 400, body
    assert body["type"] == PARAM_EXCEPTION and body["parameter"] == parameter, body
    assert parameter in body["detail"]


def test_a_query_naming_no_object_is_answered(world, chain):
    """Issue 15: no longer a 413 (tests/api/test_epcis_unscoped.py has the rest)."""
    got = events(world, "regulator", "/epcis/events", {"eventType": "ObjectEvent", "perPage": 1000})
    assert got and {e["type"] for e in got} == {"ObjectEvent"}


def test_routes_are_in_the_openapi_document(world):
    paths = world.client.get("/openapi.json").get_json()["paths"]
    for path in ("/epcis/events", "/epcis/eventTypes/{event_type}/events", "/epcis/epcs/{epc}/events",
                 "/epcis/bizSteps/{biz_step}/events", "/epcis/bizLocations/{location}/events",
                 "/epcis/dispositions/{disposition}/events"):  # fmt: skip
        assert path in paths, path


def test_xml_on_accept_is_valid_against_the_official_xsd(world, chain):
    from lxml import etree

    xsd = Path(cbv.__file__).parent / "schemas" / "xsd" / "EPCglobal-epcis-query-2_0.xsd"
    schema = etree.XMLSchema(etree.parse(str(xsd)))
    params = {"MATCH_anyEPC": cbv.sscc(chain["pallet"])}
    headers = {"Authorization": f"Bearer {world.parties['regulator'].key}", "Accept": "application/xml"}
    resp = world.client.get(f"/epcis/events?{urlencode(params)}", headers=headers)
    assert resp.status_code == 200 and resp.mimetype == "application/xml"
    doc = etree.fromstring(resp.data)
    schema.assertValid(doc)
    as_json = events(world, "regulator", "/epcis/events", params)
    ids = [e.text for e in doc.iter("eventID")]
    assert ids == [e["eventID"] for e in as_json]
    bizsteps = [e.text for e in doc.iter("bizStep")]
    assert cbv.bizstep_uri("shipping") in bizsteps
    lot = {"MATCH_epc": cbv.sgtin(chain["gtin"], "S0000000001")}
    resp = world.client.get(f"/epcis/events?{urlencode(lot)}", headers=headers)
    schema.assertValid(etree.fromstring(resp.data))


def test_a_party_sees_a_case_up_to_its_own_last_event(world, chain):
    case = quote(cbv.sscc(chain["c1"]), safe="")
    whole = [e["pt:event"] for e in events(world, "regulator", f"/epcis/epcs/{case}/events")]
    assert whole[-2:] == ["quarantined", "cleared"], whole
    seen = [e["pt:event"] for e in events(world, "maker2", f"/epcis/epcs/{case}/events")]
    assert seen == whole[: whole.index("refused") + 1]  # maker2 refused it: nothing after that
    assert get(world, "pharmacy", f"/epcis/epcs/{case}/events").status_code == 404


def test_a_bad_epc_in_the_path_is_400_naming_it(world, chain):
    resp = get(world, "regulator", f"/epcis/epcs/{quote('urn:epc:id:sgtin:0614141.812345', safe='')}/events")
    body = resp.get_json()
    assert resp.status_code == 400 and body["type"] == PARAM_EXCEPTION and body["parameter"] == "epc", body


def _sgtins(got: list[dict]) -> set[str]:
    return {epc for e in got for epc in (e.get("epcList") or []) + (e.get("childEPCs") or []) if ":sgtin:" in epc}


def test_a_partial_viewer_sees_no_serial_beyond_its_own(world, chain):
    """Review 14-15 #1: a case's packing lists only the SGTINs the viewer asked for or acted on itself; the
    others are a count of their lot, as provenance gives. Same events, same eventIDs (the whole event's)."""
    lot = cbv.lgtin(chain["gtin"], chain["lot"])
    whole = events(world, "regulator", "/epcis/events", {"MATCH_epc": pack_epc(chain, 1)})
    assert len(_sgtins(whole)) >= 20  # case C0's packing: its 20 packs
    # the distributor moved packs 1, 2, 3 into the tote and 5 into a consignment: those, no other
    mine = {pack_epc(chain, n) for n in (1, 2, 3, 5)}
    for params in ({"MATCH_epc": pack_epc(chain, 1)}, {"MATCH_epcClass": lot}, {"MATCH_anyEPC": cbv.sscc(chain["c0"])}):
        got = events(world, "distributor", "/epcis/events", params)
        assert got and _sgtins(got) <= mine, (params, _sgtins(got) - mine)
    got = events(world, "distributor", "/epcis/events", {"MATCH_epc": pack_epc(chain, 1)})
    c0_packed = [e for e in got if e["pt:event"] == "packed" and e.get("parentID") == cbv.sscc(chain["c0"])]
    assert c0_packed and c0_packed[0]["childQuantityList"] == [{"epcClass": lot, "quantity": 16}]
    assert sorted(c0_packed[0]["childEPCs"]) == sorted(mine)
    assert {e["eventID"] for e in got} <= {e["eventID"] for e in whole}
    # the pharmacy asked for pack 1 and returned 2 and reported 3 stolen itself
    one = events(world, "pharmacy", "/epcis/events", {"MATCH_epc": pack_epc(chain, 1)})
    assert one and _sgtins(one) <= {pack_epc(chain, n) for n in (1, 2, 3)}, _sgtins(one)
    assert _sgtins(events(world, "pharmacy2", "/epcis/events", {"MATCH_epc": pack_epc(chain, 5)})) <= {
        pack_epc(chain, 5)}  # fmt: skip


def test_a_manufacturer_on_a_mixed_tote_sees_no_other_manufacturer_s_serials(world, chain):
    """Review 14-15 #1: the maker sees a tote holding its pack and maker2's whole, but maker2's pack as a count."""

    p, post, done = world.parties, world.post, world.done
    gtin2 = check_digit(f"0{GTIN_BASE}{uuid.uuid4().int % 10**5:05d}")
    lot2 = f"B{uuid.uuid4().hex[:6].upper()}"
    done(
        "maker2",
        post(
            "maker2",
            "/v1/products",
            {"gtin": gtin2, "name": "Metformin", "storage": {"min_celsius": 15, "max_celsius": 25}},
        ),
    )
    done("maker2", post("maker2", "/v1/lots", {"gtin": gtin2, "lot": lot2, "expiry": "2030-12-31",
                                               "serial_range": {"prefix": "M", "first": 0, "count": 4, "digits": 6}}))  # fmt: skip
    case2, tote2 = world.sscc(), world.sscc()
    done(
        "maker2", post("maker2", "/v1/cases", {"sscc": case2, "gtin": gtin2, "lot": lot2, "first_index": 0, "count": 4})
    )
    done("maker2", post("maker2", "/v1/shipments", {"units": [case2], "to": p["distributor"].gln}))
    done("distributor", post("distributor", "/v1/receipts", {"units": [case2]}))
    done("distributor", post("distributor", "/v1/unpackings", {"units": [case2]}))
    theirs = cbv.sgtin(gtin2, "M000000")
    done("distributor", post("distributor", "/v1/totes", {"sscc": tote2, "packs": [
        chain["pack"](6), f"(01){gtin2}(21)M000000"]}))  # fmt: skip
    world.indexer.run_until_caught_up()
    whole = events(world, "regulator", "/epcis/events", {"MATCH_anyEPC": cbv.sscc(tote2)})
    assert theirs in _sgtins(whole)
    got = events(world, "maker", "/epcis/events", {"MATCH_anyEPC": cbv.sscc(tote2)})
    assert [e["eventID"] for e in got] == [e["eventID"] for e in whole]
    assert _sgtins(got) == {pack_epc(chain, 6)}
    packed = next(e for e in got if e["pt:event"] == "packed")
    assert packed["childQuantityList"] == [{"epcClass": cbv.lgtin(gtin2, lot2), "quantity": 1}]
    assert theirs in _sgtins(events(world, "maker2", "/epcis/events", {"MATCH_anyEPC": cbv.sscc(tote2)}))


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ({"MATCH_epc": "urn:epc:id:sscc:0614141.1234567890", "perPage": "\u00b2"}, "perPage"),
        ({"MATCH_epc": "urn:epc:id:sscc:0614141.1234567890", "perPage": "\u0663"}, "perPage"),  # Arabic-Indic 3
        ({"EQ_bizLocation": "urn:epc:id:sgln:\u00b2614141.12345.0"}, "EQ_bizLocation"),
        ({"EQ_readPoint": "urn:epc:id:sgln:0614141.\u00b912345.0"}, "EQ_readPoint"),
        ({"MATCH_epc": "urn:epc:id:sgtin:\u00b2614141.812345.6789"}, "MATCH_epc"),
        ({"MATCH_anyEPC": "urn:epc:id:sscc:\u00b2614141.1234567890"}, "MATCH_anyEPC"),
        ({"MATCH_epcClass": "urn:epc:class:lgtin:\u00b2614141.812345.L1"}, "MATCH_epcClass"),
    ],
)
def test_unicode_digits_are_400_naming_the_parameter(world, chain, params, parameter):
    """Review 14-15 #7: "²".isdigit() is True but int("²") raises; that was a 500."""
    resp = get(world, "regulator", "/epcis/events", params)
    body = resp.get_json()
    assert resp.status_code == 400, body
    assert body["type"] == PARAM_EXCEPTION and body["parameter"] == parameter, body


def test_unicode_digits_in_the_path_epc_are_400(world, chain):
    for epc in ("urn:epc:id:sgtin:\u00b2614141.812345.6789", "urn:epc:id:sscc:\u00b2614141.1234567890"):
        resp = get(world, "regulator", f"/epcis/epcs/{quote(epc, safe='')}/events")
        body = resp.get_json()
        assert resp.status_code == 400 and body["parameter"] == "epc", body


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ({"MATCH_anyEPC": ",".join(cbv.sgtin("09506000000008", f"X{n}") for n in range(51))}, "MATCH_anyEPC"),
        ([("MATCH_epc", cbv.sgtin("09506000000008", f"X{n}")) for n in range(51)], "MATCH_epc"),
        (
            [("MATCH_epc", cbv.sgtin("09506000000008", f"X{n}")) for n in range(30)]
            + [("MATCH_parentID", cbv.sscc(check_digit(f"0950600{n:010d}"))) for n in range(21)],
            "MATCH_parentID",
        ),
        ({"MATCH_epc": cbv.sgtin("09506000000008", "X1"), "eventType": ",".join(["ObjectEvent"] * 201)}, "eventType"),
    ],
)
def test_a_query_naming_too_many_objects_is_413_naming_the_parameter(world, chain, params, parameter):
    """Review 14-15 #8: every object named is a whole provenance answer; the number is bounded."""
    resp = get(world, "regulator", "/epcis/events", params)
    body = resp.get_json()
    assert resp.status_code == 413, body
    assert body["type"] == "epcisException:QueryTooComplexException" and body["parameter"] == parameter, body
    assert parameter in body["detail"]


def test_fifty_objects_are_still_answered(world, chain):
    many = [pack_epc(chain, n) for n in range(50)]
    got = events(world, "regulator", "/epcis/events", {"MATCH_anyEPC": ",".join(many), "perPage": 1000})
    assert {pack_epc(chain, 0), pack_epc(chain, 49)} <= _sgtins(got)
