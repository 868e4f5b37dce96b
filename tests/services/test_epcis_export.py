"""Every custody event kind exported as an EPCIS 2.0 event, valid against the official JSON schema.

The scenario (tests/epcis_scenario.py) runs through the real write path on anvil + Postgres; the export reads
the mirror only.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import jsonschema
import pytest

from app import gs1
from app.services.epcis import cbv, export, query, xmldoc
from tests import epcis_scenario
from tests.world import World, module_world

SCHEMA = json.loads((Path(cbv.__file__).parent / "schemas" / "EPCIS-JSON-Schema.json").read_text())


def valid(doc: dict) -> None:
    jsonschema.Draft7Validator(SCHEMA).validate(doc)


@pytest.fixture(scope="module")
def world(w3, anvil, pg_server, migrated_template, tmp_path_factory) -> Iterator[World]:
    with module_world(w3, anvil, pg_server, migrated_template, tmp_path_factory.mktemp("epcis-export")) as built:
        yield built


@pytest.fixture(scope="module")
def chain(world: World) -> dict:
    return epcis_scenario.build(world)


def everything(world: World, chain: dict) -> tuple[list[dict], list]:
    """The events of every object of the scenario, uncut (as the CLI exports them)."""
    items = [gs1.Lot(chain["gtin"], chain["lot"]), gs1.Lot(chain["gtin"], chain["opened"])]
    items += [gs1.LogisticUnit(chain[k]) for k in ("c0", "c1", "tree", "o0", "pallet", "tote")]
    items += [gs1.parse(chain["pack"](n)) for n in (1, 2, 3, 5, 40)]
    with world.db.connection() as conn:
        return query.visible_events(conn, query.OPERATOR, items)


def test_every_event_kind_is_exported_and_the_document_is_schema_valid(world, chain):
    events, provs = everything(world, chain)
    kinds = {e["pt:event"] for e in events}
    # a case's palletisation is its pallet's packing (one chain event); excursions are alarms in readings
    assert kinds >= set(cbv.EVENT_VOCABULARY) - {"excursion", "palletised"}, set(cbv.EVENT_VOCABULARY) - kinds
    valid(export.document(events, provs))
    valid(export.query_document(events, provs))
    for event in events:
        vocab = cbv.EVENT_VOCABULARY[event["pt:event"]]
        assert (event["type"], event["action"], event["bizStep"]) == vocab[:3], event
        assert event.get("disposition") == vocab.disposition, event
        assert event["eventID"].startswith("ni:///sha-256;") and event["eventID"].endswith("?ver=CBV2.0")
        assert event["pt:txHash"].startswith("0x") and len(event["pt:txHash"]) == 66


def test_commissioning_carries_ilmd_and_places_are_sglns(world, chain):
    events, _ = everything(world, chain)
    lot_class = cbv.lgtin(chain["gtin"], chain["lot"])
    commissioned = [e for e in events if e["pt:event"] == "commissioned" and e.get("quantityList")]
    lot_event = next(e for e in commissioned if e["quantityList"][0]["epcClass"] == lot_class)
    assert lot_event["ilmd"] == {"cbvmda:lotNumber": chain["lot"], "cbvmda:itemExpirationDate": "2030-12-31"}
    maker = cbv.sgln(world.parties["maker"].gln)
    assert lot_event["readPoint"] == lot_event["bizLocation"] == {"id": maker}
    pack_commissioning = [e for e in events if e["pt:event"] == "commissioned" and e["epcList"]]
    assert cbv.sgtin(chain["gtin"], "S0000000001") in {x for e in pack_commissioning for x in e["epcList"]}


def test_shipping_names_owning_parties_and_aggregations_their_parent(world, chain):
    events, _ = everything(world, chain)
    pallet = cbv.sscc(chain["pallet"])
    shipped = next(e for e in events if e["pt:event"] == "shipped" and e["epcList"] == [pallet])
    assert shipped["sourceList"] == [{"type": "owning_party", "source": cbv.pgln(world.parties["maker"].gln)}]
    assert shipped["destinationList"] == [
        {"type": "owning_party", "destination": cbv.pgln(world.parties["distributor"].gln)}
    ]
    (palletised,) = [e for e in events if e["pt:event"] == "packed" and e["parentID"] == pallet]
    assert sorted(palletised["childEPCs"]) == sorted([cbv.sscc(chain["c0"]), cbv.sscc(chain["c1"])])
    tote = next(e for e in events if e["pt:event"] == "packed" and e["parentID"] == cbv.sscc(chain["tote"]))
    assert sorted(tote["childEPCs"]) == sorted(cbv.sgtin(chain["gtin"], f"S{n:010d}") for n in (1, 2, 3))
    unpacked = next(e for e in events if e["pt:event"] == "unpacked" and e["parentID"] == pallet)
    assert unpacked["action"] == "DELETE" and unpacked["bizStep"] == "unpacking"


def test_readings_are_sensor_reports_with_the_excursion_as_an_alarm(world, chain):
    events, _ = everything(world, chain)
    (reading,) = [e for e in events if e["pt:event"] == "reading"]
    assert reading["epcList"] == [cbv.sscc(chain["pallet"])]
    reports = reading["sensorElementList"][0]["sensorReport"]
    assert [r["value"] for r in reports] == [4.0, 9.5, 6.0]
    assert {r["uom"] for r in reports} == {"CEL"} and {r["type"] for r in reports} == {"Temperature"}
    assert [r.get("exception") for r in reports] == [None, "ALARM_CONDITION", None]


def test_event_ids_are_deterministic(world, chain):
    first, _ = everything(world, chain)
    again, _ = everything(world, chain)
    assert [e["eventID"] for e in first] == [e["eventID"] for e in again]
    assert len({e["eventID"] for e in first}) == len(first)


def test_the_cli_writes_the_same_events_to_a_file(world, chain, tmp_path, monkeypatch):
    from app.cli import main

    monkeypatch.setenv("DATABASE_URL", world.settings.database_url)
    out = tmp_path / "export.json"
    code = chain["pack"](1)
    lot = f"(01){chain['gtin']}(10){chain['opened']}"
    with pytest.raises(SystemExit) as done:
        main(["epcis", "export", "--code", code, "--lot", lot, "--out", str(out)])
    assert done.value.code == 0
    doc = json.loads(out.read_text())
    valid(doc)
    with world.db.connection() as conn:
        expected, _ = query.visible_events(
            conn, query.OPERATOR, [gs1.parse(code), gs1.Lot(chain["gtin"], chain["opened"])]
        )
    assert [e["eventID"] for e in doc["epcisBody"]["eventList"]] == [e["eventID"] for e in expected]


def test_the_cli_names_a_bad_code(world, chain, tmp_path, monkeypatch, capsys):
    from app.cli import main

    monkeypatch.setenv("DATABASE_URL", world.settings.database_url)
    with pytest.raises(SystemExit) as done:
        main(["epcis", "export", "--code", "(01)12345678901234(21)X", "--out", str(tmp_path / "x.json")])
    assert done.value.code != 0
    assert "--code" in capsys.readouterr().err


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # the reference implementation's importlib.resources use
def test_event_ids_are_the_gs1_event_hash_of_the_reference_implementation(world, chain):
    from epcis_event_hash_generator import hash_generator, json_to_py

    from app.services.epcis import event_hash

    events, provs = everything(world, chain)
    doc = json.loads(json.dumps(export.document(events, provs)))
    theirs = hash_generator.derive_prehashes_from_events(json_to_py.event_list_from_epcis_document_json(doc))
    ours = [event_hash.pre_hash(e) for e in events]
    for mine, reference in zip(ours, theirs, strict=True):
        assert mine == reference
    assert [e["eventID"] for e in events] == hash_generator.calculate_hashes_from_pre_hashes(theirs)


VECTORS = Path(__file__).parent / "epcis_hash_vectors"


@pytest.mark.parametrize("name", sorted(p.stem for p in VECTORS.glob("*.jsonld")))
def test_event_hash_matches_the_published_test_vectors(name):
    from app.services.epcis import event_hash

    doc = json.loads((VECTORS / f"{name}.jsonld").read_text())
    expected = [line.strip() for line in (VECTORS / f"{name}.hashes").read_text().splitlines() if line.strip()]
    assert [event_hash.event_id(e) for e in doc["epcisBody"]["eventList"]] == expected


def test_the_uncut_export_is_explicit_never_a_missing_principal(world, chain):
    """Review 14-15 #9: no principal is not "no access cut": only OPERATOR skips the policy, and only in
    visible_events; a query (run) answers a Principal only; an anonymous request is 401, not the uncut export."""
    items = [gs1.parse(chain["pack"](1))]
    asked = query.parse([("MATCH_epc", cbv.sgtin(chain["gtin"], "S0000000001"))])
    with world.db.connection() as conn:
        with pytest.raises(TypeError):
            query.visible_events(conn, None, items)
        for nobody in (None, query.OPERATOR):
            with pytest.raises(TypeError):
                query.run(conn, nobody, asked)
        uncut, _ = query.visible_events(conn, query.OPERATOR, items)
    assert uncut
    from flask import g

    from app.api import epcis as epcis_api

    app = world.client.application
    with app.test_request_context(f"/epcis/events?MATCH_epc={cbv.sgtin(chain['gtin'], 'S0000000001')}"):
        g.principal = None
        resp = epcis_api._answer([])
    assert resp.status_code == 401, resp.get_json()


# --------------------------------------------------------------------------- EPCIS 1.2 XML (DSCSA partners)

PT = f"{{{cbv.PT_NS}}}"


def schema_1_2(name: str = "EPCglobal-epcis-1_2.xsd"):
    from lxml import etree

    return etree.XMLSchema(etree.parse(str(Path(cbv.__file__).parent / "schemas" / "xsd" / name)))


def _ids_1_2(root) -> list[str]:
    return [e.text for e in root.iter("eventID")]


def test_every_event_is_valid_epcis_1_2_xml(world, chain):
    """The whole record as a 1.2 EPCISDocument, valid against GS1's 1.2 XSD: CBV words as 1.2 URNs, eventID in
    baseExtension, readings (1.2 has no sensorElementList) and the transaction in our namespace, master data in
    the header behind the SBDH."""
    from lxml import etree

    events, provs = everything(world, chain)
    data = xmldoc.document_1_2(export.document(events, provs))
    root = etree.fromstring(data)
    schema_1_2().assertValid(root)
    assert root.tag == f"{{{xmldoc.EPCIS12_NS}}}EPCISDocument" and root.get("schemaVersion") == "1.2"
    assert _ids_1_2(root) == [e["eventID"] for e in events]
    assert all(e.getparent().tag == "baseExtension" for e in root.iter("eventID"))
    assert {e.text for e in root.iter("bizStep")} == {
        f"urn:epcglobal:cbv:bizstep:{e['bizStep']}" for e in events if e.get("bizStep")
    }
    assert [e.text for e in root.iter(f"{PT}txHash")] == [e["pt:txHash"] for e in events]
    assert not list(root.iter("sensorElementList"))  # not a 1.2 element: ours
    reports = [r.attrib for r in root.iter(f"{PT}sensorReport")]
    expected = [r for e in events for s in e.get("sensorElementList", []) for r in s["sensorReport"]]
    assert reports and [float(r["value"]) for r in reports] == [r["value"] for r in expected]
    assert any(r.get("exception", "").endswith("ALARM_CONDITION") for r in reports)
    for element in root.iter("sourceList", "destinationList"):  # in the 1.2 event's extension
        assert element.getparent().tag == "extension"
        assert all(c.get("type") == "urn:epcglobal:cbv:sdt:owning_party" for c in element)
    lots = {e.get("id") for e in root.iter("VocabularyElement")}
    assert cbv.lgtin(chain["gtin"], chain["lot"]) in lots
    assert [e.text for e in root.iter("{urn:epcglobal:cbv:mda}lotNumber")]  # ILMD of the commissioning


def test_the_query_answers_epcis_1_2_xml_on_request(world, chain):
    """`Accept: application/xml; version=1.2` or the REST binding's `GS1-EPCIS-Version: 1.2`: the same events as
    the JSON-LD answer, valid against the 1.2 query XSD, addressed to the caller's GLN."""
    from urllib.parse import urlencode

    from lxml import etree

    schema = schema_1_2("EPCglobal-epcis-query-1_2.xsd")
    url = f"/epcis/events?{urlencode({'MATCH_anyEPC': cbv.sscc(chain['pallet'])})}"
    auth = {"Authorization": f"Bearer {world.parties['regulator'].key}"}
    as_json = world.client.get(url, headers=auth).get_json()["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
    for extra in ({"Accept": "application/xml; version=1.2"}, {"GS1-EPCIS-Version": "1.2"}):
        resp = world.client.get(url, headers={**auth, **extra})
        assert resp.status_code == 200 and resp.mimetype == "application/xml", extra
        assert resp.headers["GS1-EPCIS-Version"] == "1.2.0"
        root = etree.fromstring(resp.data)
        schema.assertValid(root)
        assert root.tag == f"{{{xmldoc.QUERY12_NS}}}EPCISQueryDocument"
        assert _ids_1_2(root) == [e["eventID"] for e in as_json]
        receiver = root.find(".//{*}Receiver/{*}Identifier")
        assert receiver.text == world.parties["regulator"].gln and receiver.get("Authority") == "GS1"
    plain = world.client.get(url, headers={**auth, "Accept": "application/xml"})  # 2.0 stays the default XML
    assert plain.headers["GS1-EPCIS-Version"] == "2.0.0" and b"urn:epcglobal:epcis-query:xsd:2" in plain.data


def test_the_cli_writes_epcis_1_2_xml(world, chain, tmp_path, monkeypatch):
    from lxml import etree

    from app.cli import main

    monkeypatch.setenv("DATABASE_URL", world.settings.database_url)
    out = tmp_path / "export.xml"
    code = chain["pack"](1)
    with pytest.raises(SystemExit) as done:
        main(["epcis", "export", "--code", code, "--format", "xml12", "--out", str(out)])
    assert done.value.code == 0
    root = etree.parse(str(out)).getroot()
    schema_1_2().assertValid(root)
    with world.db.connection() as conn:
        expected, _ = query.visible_events(conn, query.OPERATOR, [gs1.parse(code)])
    assert _ids_1_2(root) == [e["eventID"] for e in expected]


@pytest.mark.parametrize(
    ("accept", "version", "wanted"),
    [
        ("application/xml; version=1.2", None, True),
        ("application/ld+json, text/xml;version=1.2.0", None, True),
        ("application/xml", None, False),
        ("application/xml", "2.0.0", False),
        (None, "1.2", True),
        (None, "1.2.0", True),
        ("application/ld+json", None, False),
        ("application/json; version=1.2", None, False),
    ],
)
def test_which_requests_want_1_2(accept, version, wanted):
    assert xmldoc.wants_1_2(accept, version) is wanted
