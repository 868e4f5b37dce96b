"""GET /epcis/events naming no object (issue 15): the events of the objects the caller may see, cut by the one
access policy, each event once over all pages (app/services/epcis/query.py, "A query naming no identifier").

The scenario (tests/epcis_scenario.py) runs through the real write path on anvil + Postgres."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from urllib.parse import urlencode, urlsplit

import pytest
from eth_account import Account

from app.services import orgs
from app.services.epcis import cbv
from app.services.epcis import query as epcis_query
from tests import epcis_scenario
from tests.world import World, check_digit, module_world


@pytest.fixture(scope="module")
def world(w3, anvil, pg_server, migrated_template, tmp_path_factory) -> Iterator[World]:
    with module_world(w3, anvil, pg_server, migrated_template, tmp_path_factory.mktemp("epcis-unscoped")) as built:
        yield built


@pytest.fixture(scope="module")
def chain(world: World) -> dict:
    return epcis_scenario.build(world)


@pytest.fixture(scope="module")
def stranger(world: World) -> str:
    """The API key of an organisation that took part in nothing."""
    gln = check_digit(f"96{uuid.uuid4().int % 10**10:010d}")
    with world.db.connection() as conn:
        orgs.add_organisation(conn, "Faraway Wholesale", gln, Account.create().address, ["distributor"])
        return orgs.create_key(conn, gln, "test")


def key(world: World, who: str) -> str:
    return world.parties[who].key if who in world.parties else who


def pages(world: World, who: str, params: dict) -> tuple[list[dict], int]:
    """Every event of a query, following the Link header; and the number of pages."""
    url, seen, n = f"/epcis/events?{urlencode(params)}", [], 0
    while url:
        resp = world.client.get(url, headers={"Authorization": f"Bearer {key(world, who)}"})
        assert resp.status_code == 200, resp.get_json()
        seen += resp.get_json()["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
        n += 1
        link = resp.headers.get("Link")
        target = urlsplit(re.match(r'<([^>]+)>; rel="next"', link)[1]) if link else None
        url = f"{target.path}?{target.query}" if target else None
    return seen, n


def per_object(world: World, who: str, chain: dict) -> list[dict]:
    """The union of the whole answers (every event the access policy shows `who`, unfiltered) of each object of the
    scenario: its units, its lots, and packs that went into totes and consignments."""
    from app import gs1
    from app.services.orgs import authenticate

    items = [gs1.LogisticUnit(chain[u]) for u in ("c0", "c1", "tree", "o0", "pallet", "tote")]
    items += [gs1.Lot(chain["gtin"], chain[lot]) for lot in ("lot", "opened")]
    items += [gs1.Pack(chain["gtin"], f"S{n:010d}") for n in (1, 2, 3, 5, 40)]
    with world.db.connection() as conn:
        principal = authenticate(conn, key(world, who))
    with world.db.connection() as conn:
        events, _ = epcis_query.visible_events(conn, principal, items)
    return events


def ids(events: list[dict]) -> list[str]:
    return [e["eventID"] for e in events]


def positions(events: list[dict]) -> list[tuple[int, int]]:
    return [(e["pt:blockNumber"], e["pt:logIndex"]) for e in events]


def test_the_regulator_gets_every_event_once(world, chain):
    got, _ = pages(world, "regulator", {"perPage": 1000})
    assert len(positions(got)) == len(set(positions(got))) == len(set(ids(got)))
    # every chain event the answers naming each object give (a pack's view of its lot's commissioning is the same
    # chain event), consignments' included
    named = per_object(world, "regulator", chain)
    assert set(positions(named)) <= set(positions(got)), [e["pt:event"] for e in named]
    kinds = {e["pt:event"] for e in got}
    assert {"commissioned", "opened", "packed", "shipped", "received", "unpacked", "refused", "dispensed",
            "undone", "destroyed", "recalled", "reading", "consigned", "returned", "accepted", "moved"} <= kinds, kinds  # fmt: skip


def test_the_manufacturer_of_everything_sees_what_the_regulator_sees(world, chain):
    assert sorted(ids(pages(world, "maker", {"perPage": 1000})[0])) == sorted(
        ids(pages(world, "regulator", {"perPage": 1000})[0])
    )


def test_a_distributor_sees_its_cut(world, chain):
    whole = set(ids(pages(world, "regulator", {"perPage": 1000})[0]))
    got, _ = pages(world, "distributor", {"perPage": 1000})
    assert got and set(ids(got)) < whole and len(ids(got)) == len(set(ids(got)))
    # never more than naming each object would give it (the same access policy)
    assert set(positions(got)) <= set(positions(per_object(world, "distributor", chain)))
    kinds = [e["pt:event"] for e in got]
    assert "dispensed" not in kinds and "shipped" in kinds and "received" in kinds  # the pharmacy's own after its cut


def test_a_stranger_sees_nothing(world, chain, stranger):
    assert pages(world, stranger, {"perPage": 1000})[0] == []
    assert pages(world, stranger, {"eventType": "ObjectEvent"})[0] == []


def test_paging_one_by_one_gives_the_same_events(world, chain):
    whole, _ = pages(world, "regulator", {"perPage": 1000})
    one, n = pages(world, "regulator", {"perPage": 1})
    assert ids(one) == ids(whole) and n >= len(whole)


def test_filters_without_an_object(world, chain):
    whole, _ = pages(world, "regulator", {"perPage": 1000})
    aggregations, _ = pages(world, "regulator", {"eventType": "AggregationEvent", "perPage": 7})
    assert ids(aggregations) == [e["eventID"] for e in whole if e["type"] == "AggregationEvent"]
    shipping, _ = pages(world, "regulator", {"EQ_bizStep": "shipping"})
    assert shipping and {e["bizStep"] for e in shipping} == {"shipping"}
    at = cbv.sgln(world.parties["distributor"].gln)
    there, _ = pages(world, "regulator", {"EQ_bizLocation": at})
    assert there and all(e["bizLocation"]["id"] == at for e in there)
    middle = sorted(e["eventTime"] for e in whole)[len(whole) // 2]
    later, _ = pages(world, "regulator", {"GE_eventTime": middle})
    earlier, _ = pages(world, "regulator", {"LT_eventTime": middle})
    assert sorted(ids(later) + ids(earlier)) == sorted(ids(whole))
    assert all(e["eventTime"] >= middle for e in later) and all(e["eventTime"] < middle for e in earlier)


def test_a_token_of_another_kind_of_query_is_400(world, chain):
    headers = {"Authorization": f"Bearer {world.parties['regulator'].key}"}
    resp = world.client.get("/epcis/events?perPage=1", headers=headers)
    token = re.search(r"nextPageToken=([^&>]+)", resp.headers["Link"])[1]
    pallet = cbv.sscc(chain["pallet"])
    resp = world.client.get(f"/epcis/events?{urlencode({'MATCH_anyEPC': pallet})}&nextPageToken={token}",
                            headers=headers)  # fmt: skip
    assert resp.status_code == 400 and resp.get_json()["parameter"] == "nextPageToken"


def test_the_time_pushdown_loses_no_event(world, chain):
    """GE_eventTime / GE_recordTime read only the objects touched from that block on (app/db/epcis.py _TOUCHED): the
    answer is the whole answer cut at that time, for every cut of this scenario (which has every kind of event)."""
    whole, _ = pages(world, "regulator", {"perPage": 1000})
    times = sorted({e["eventTime"] for e in whole})
    for moment in [*times[:: max(1, len(times) // 8)], times[-1]]:
        for param in ("GE_eventTime", "GE_recordTime"):
            got, _ = pages(world, "regulator", {param: moment, "perPage": 1000})
            assert sorted(ids(got)) == sorted(e["eventID"] for e in whole if e["eventTime"] >= moment), (param, moment)
    assert pages(world, "regulator", {"GE_eventTime": "2999-01-01T00:00:00Z"})[0] == []


def test_a_scan_from_a_block_reads_every_event_from_it(world, chain):
    """What a subscription's scan reads (query.since_block): every event of the whole answer from that block on."""
    from app.services.epcis import query as q
    from app.services.orgs import authenticate

    whole, _ = pages(world, "regulator", {"perPage": 1000})
    blocks = sorted({e["pt:blockNumber"] for e in whole})
    with world.db.connection() as conn:
        principal = authenticate(conn, world.parties["regulator"].key)
    for block in blocks:
        query = q.parse([("perPage", "1000")])
        query.since_block = block
        got, token = [], None
        while True:
            if token:
                query = q.parse([("perPage", "1000"), ("nextPageToken", token)])
                query.since_block = block
            with world.db.connection() as conn:
                page, _, token = q.run(conn, principal, query)
            got += page
            if token is None:
                break
        assert sorted(ids(got)) == sorted(e["eventID"] for e in whole if e["pt:blockNumber"] >= block), block


def test_the_place_pushdown_loses_no_event(world, chain):
    """EQ_bizLocation / EQ_readPoint read only the objects those parties acted on (app/db/epcis.py _ACTED): the
    answer is the whole answer filtered by place, for every party of this scenario (which has every kind of event)."""
    whole, _ = pages(world, "regulator", {"perPage": 1000})
    for who in world.parties:
        at = cbv.sgln(world.parties[who].gln)
        expected = sorted(e["eventID"] for e in whole if (e.get("bizLocation") or {}).get("id") == at)
        for param in ("EQ_bizLocation", "EQ_readPoint"):
            got, _ = pages(world, "regulator", {param: at, "perPage": 1000})
            assert sorted(ids(got)) == expected, (who, param)
    two = [cbv.sgln(world.parties["maker"].gln), cbv.sgln(world.parties["pharmacy"].gln)]
    got, _ = pages(world, "regulator", {"EQ_bizLocation": ",".join(two), "perPage": 1000})
    assert sorted(ids(got)) == sorted(e["eventID"] for e in whole if (e.get("bizLocation") or {}).get("id") in two)
    nobody = cbv.sgln(check_digit("950000000000"))
    assert pages(world, "regulator", {"EQ_bizLocation": nobody})[0] == []


def test_the_bizstep_pushdown_loses_no_event(world, chain):
    """EQ_bizStep reads only the objects with an event of ours of that bizStep (app/db/epcis.py _RELEVANT), alone and
    with a place and a time (the three of one same event): every bizStep of this scenario gives the whole answer
    filtered."""
    whole, _ = pages(world, "regulator", {"perPage": 1000})
    steps = {e["bizStep"] for e in whole}
    assert {"commissioning", "packing", "shipping", "receiving", "unpacking", "dispensing", "holding",
            "sensor_reporting"} <= steps, steps  # fmt: skip
    for step in steps:
        got, _ = pages(world, "regulator", {"EQ_bizStep": step, "perPage": 1000})
        assert sorted(ids(got)) == sorted(e["eventID"] for e in whole if e["bizStep"] == step), step
    middle = sorted(e["eventTime"] for e in whole)[len(whole) // 3]
    for who in ("maker", "distributor", "pharmacy"):
        at = cbv.sgln(world.parties[who].gln)
        for step in steps:
            params = {"EQ_bizStep": step, "EQ_bizLocation": at, "GE_eventTime": middle, "perPage": 1000}
            got, _ = pages(world, "regulator", params)
            expected = [e["eventID"] for e in whole if e["bizStep"] == step and e["eventTime"] >= middle
                        and (e.get("bizLocation") or {}).get("id") == at]  # fmt: skip
            assert sorted(ids(got)) == sorted(expected), (who, step)
    assert pages(world, "regulator", {"EQ_bizStep": "repairing"})[0] == []  # no event of ours has it


def test_a_pharmacy_sees_the_loose_packs_it_received(world, chain):
    """Pack 5 went loose (a consignment) to pharmacy2: its no-object answer has the consignment's shipment and its own
    receipt, read through the pack (events of the pack's record, as the access policy shows them to pharmacy2)."""
    got, _ = pages(world, "pharmacy2", {"perPage": 1000})
    consigned = [e for e in got if (epcis_query.home(e) or "").startswith(f"{cbv.PT_NS}consignments/")]
    assert {"consigned", "received"} <= {e["pt:event"] for e in consigned}, [e["pt:event"] for e in got]
    assert set(positions(got)) <= set(positions(per_object(world, "pharmacy2", chain)))
