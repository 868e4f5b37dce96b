"""Regulator queries through the API: lots, partner activity, recalls; who sees what; pagination; bad input.

One supply chain, built once for the module through the real write path (API → relayer → anvil →
indexer), then queried by every party:

- maker: lot A (cases a0, a1 on pallet PA), lots A2 and A3 (no cases); maker2: lot B (case b0);
- maker ships PA to the distributor, who receives it, records readings (one out of range: an
  excursion), unpacks it, ships a0 to the pharmacy (received, two packs dispensed) and a1 to
  pharmacy2 (refused);
- two hours later: the maker recalls A and quarantines A2, the regulator recalls B.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import pytest

from tests.world import GTIN_BASE, World, check_digit, module_world

JUMP_SECONDS = 7200


# --------------------------------------------------------------------------- the scene


fresh_world = module_world  # tests/world.py: a world built once per module


@pytest.fixture(scope="module")
def mworld(w3, anvil, pg_server, migrated_template, tmp_path_factory):
    with fresh_world(w3, anvil, pg_server, migrated_template, tmp_path_factory.mktemp("queries")) as world:
        yield world


def new_product(world: World, who: str) -> str:
    gtin = check_digit(f"0{GTIN_BASE}{uuid.uuid4().int % 10**5:05d}")
    body = {"gtin": gtin, "name": f"Product {gtin}", "storage": {"min_celsius": 2, "max_celsius": 8}}
    world.done(who, world.post(who, "/v1/products", body))
    return gtin


def new_lot(world: World, who: str, gtin: str, count: int = 100, prefix: str = "S") -> str:
    lot = f"L{uuid.uuid4().hex[:6].upper()}"
    body = {"gtin": gtin, "lot": lot, "expiry": "2030-12-31",
            "serial_range": {"prefix": prefix, "first": 0, "count": count, "digits": 10}}  # fmt: skip
    world.done(who, world.post(who, "/v1/lots", body))
    return lot


def case(world: World, who: str, gtin: str, lot: str, first: int, count: int) -> str:
    sscc = world.sscc()
    world.done(who, world.post(who, "/v1/cases", {"sscc": sscc, "gtin": gtin, "lot": lot, "first_index": first,
                                                  "count": count}))  # fmt: skip
    return sscc


@pytest.fixture(scope="module")
def scene(mworld: World):
    w = mworld
    gln = {who: p.gln for who, p in w.parties.items()}
    p1 = new_product(w, "maker")
    lot_a = new_lot(w, "maker", p1)
    a0, a1 = case(w, "maker", p1, lot_a, 0, 40), case(w, "maker", p1, lot_a, 40, 40)
    pallet = w.sscc()
    w.done("maker", w.post("maker", "/v1/pallets", {"sscc": pallet, "cases": [a0, a1]}))
    lot_a2, lot_a3 = new_lot(w, "maker", p1, prefix="T"), new_lot(w, "maker", p1, prefix="U")
    p2 = new_product(w, "maker2")
    lot_b = new_lot(w, "maker2", p2, count=10)
    case(w, "maker2", p2, lot_b, 0, 10)

    w.done("maker", w.post("maker", "/v1/shipments", {"units": [pallet], "to": gln["distributor"]}))
    w.done("distributor", w.post("distributor", "/v1/receipts", {"units": [pallet]}))
    readings = {"sensor_id": "logger-1", "start": 1_750_000_000, "interval": 60, "celsius": [5, 12]}
    w.done("distributor", w.post("distributor", f"/v1/units/{pallet}/readings", readings))
    w.done("distributor", w.post("distributor", "/v1/unpackings", {"units": [pallet]}))
    w.done("distributor", w.post("distributor", "/v1/shipments", {"units": [a0], "to": gln["pharmacy"]}))
    w.done("pharmacy", w.post("pharmacy", "/v1/receipts", {"units": [a0]}))
    packs = [f"(01){p1}(21)S{n:010d}" for n in (1, 2)]
    w.done("pharmacy", w.post("pharmacy", "/v1/dispensations", {"packs": packs}))
    w.done("distributor", w.post("distributor", "/v1/shipments", {"units": [a1], "to": gln["pharmacy2"]}))
    w.done("pharmacy2", w.post("pharmacy2", "/v1/refusals", {"units": [a1]}))

    w.w3.provider.make_request("evm_increaseTime", [JUMP_SECONDS])
    w.done("maker", w.post("maker", "/v1/lots/recalls", {"gtin": p1, "lot": lot_a}))
    w.done("maker", w.post("maker", "/v1/quarantines", {"gtin": p1, "lot": lot_a2}))
    w.done("regulator", w.post("regulator", "/v1/lots/recalls", {"gtin": p2, "lot": lot_b}))
    return {"p1": p1, "p2": p2, "A": lot_a, "A2": lot_a2, "A3": lot_a3, "B": lot_b, "pallet": pallet,
            "a0": a0, "a1": a1, "gln": gln}  # fmt: skip


def get(world: World, who: str, path: str, **params):
    return world.client.get(path, query_string=params, headers={"Authorization": f"Bearer {world.parties[who].key}"})


def ok(resp) -> dict:
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()


def walk(world: World, who: str, path: str, limit: int, **params) -> list[dict]:
    """Every item of a list, page by page; checks the cursor ends the walk."""
    items, cursor, pages = [], None, 0
    while True:
        body = ok(get(world, who, path, limit=limit, **({"cursor": cursor} if cursor else {}), **params))
        assert len(body["items"]) <= limit
        items += body["items"]
        pages += 1
        cursor = body["next"]
        if cursor is None:
            return items
        assert body["items"], "a page with a next cursor is never empty"
        assert pages < 100


def lot_numbers(items: list[dict]) -> list[str]:
    return [i["lot"] for i in items]


# --------------------------------------------------------------------------- lots


def test_lots_list_what_each_party_may_see(mworld: World, scene):
    s = scene
    assert lot_numbers(ok(get(mworld, "regulator", "/v1/lots"))["items"]) == [s["A"], s["A2"], s["A3"], s["B"]]
    assert lot_numbers(ok(get(mworld, "maker", "/v1/lots"))["items"]) == [s["A"], s["A2"], s["A3"]]
    assert lot_numbers(ok(get(mworld, "maker2", "/v1/lots"))["items"]) == [s["B"]]
    assert lot_numbers(ok(get(mworld, "distributor", "/v1/lots"))["items"]) == [s["A"]]
    assert lot_numbers(ok(get(mworld, "pharmacy", "/v1/lots"))["items"]) == [s["A"]]  # received a0
    assert lot_numbers(ok(get(mworld, "pharmacy2", "/v1/lots"))["items"]) == [s["A"]]  # was shipped a1, refused it


def test_lots_by_product_and_by_manufacturer(mworld: World, scene):
    s, maker = scene, mworld.parties["maker"]
    by_maker = ok(get(mworld, "regulator", "/v1/lots", manufacturer=maker.gln))["items"]
    assert lot_numbers(by_maker) == [s["A"], s["A2"], s["A3"]]
    assert lot_numbers(ok(get(mworld, "regulator", "/v1/lots", gtin=s["p2"]))["items"]) == [s["B"]]
    assert ok(get(mworld, "regulator", "/v1/lots", gtin=s["p2"], manufacturer=maker.gln))["items"] == []
    # maker2 asking for the maker's lots sees none of them
    assert ok(get(mworld, "maker2", "/v1/lots", manufacturer=maker.gln))["items"] == []
    assert ok(get(mworld, "maker2", "/v1/lots", gtin=s["p1"]))["items"] == []
    # a GTIN-13 is the same product as its GTIN-14
    assert lot_numbers(ok(get(mworld, "regulator", "/v1/lots", gtin=s["p2"][1:]))["items"]) == [s["B"]]
    # a well-formed GLN nobody registered: no lots
    assert ok(get(mworld, "regulator", "/v1/lots", manufacturer=check_digit("400000000000")))["items"] == []


def test_a_lot_record_carries_the_chain_facts_and_its_flags(mworld: World, scene):
    s, maker = scene, mworld.parties["maker"]
    items = {i["lot"]: i for i in ok(get(mworld, "regulator", "/v1/lots"))["items"]}
    a = items[s["A"]]
    assert a["gtin"] == s["p1"] and a["expiry"] == "2030-12-31" and a["serial_count"] == 100
    assert a["manufacturer"] == {"account": maker.account.lower(), "gln": maker.gln, "name": "Acme Pharma"}
    assert a["product_name"] == f"Product {s['p1']}"
    assert a["lot_id"].startswith("0x") and len(a["lot_id"]) == 66
    assert a["serials_root"].startswith("0x") and len(a["serials_root"]) == 66
    assert a["tx_hash"].startswith("0x") and a["block_number"] > 0 and a["commissioned_at"]
    chain = mworld.pt.functions.lot(bytes.fromhex(a["lot_id"][2:])).call()  # LotInfo
    assert (chain[0], chain[1], chain[2]) == (int(s["p1"]), maker.account, 100)
    assert "0x" + chain[11].hex() == a["serials_root"] and chain[6] is True
    assert (a["recalled"], a["quarantined"]) == (True, False)
    assert (items[s["A2"]]["recalled"], items[s["A2"]]["quarantined"]) == (False, True)
    assert (items[s["A3"]]["recalled"], items[s["A3"]]["quarantined"]) == (False, False)
    assert items[s["B"]]["recalled"] is True and items[s["B"]]["serial_count"] == 10


def test_lots_pages_walk_without_gaps_or_repeats(mworld: World, scene):
    everything = ok(get(mworld, "regulator", "/v1/lots", limit=500))["items"]
    assert len(everything) == 4
    for limit in (1, 3):
        walked = walk(mworld, "regulator", "/v1/lots", limit)
        assert [i["lot_id"] for i in walked] == [i["lot_id"] for i in everything]
    assert walk(mworld, "regulator", "/v1/lots", 1) == walk(mworld, "regulator", "/v1/lots", 1)  # stable
    first = ok(get(mworld, "regulator", "/v1/lots", limit=4))
    assert first["next"] is None  # an exact last page ends the walk
    assert lot_numbers(walk(mworld, "maker", "/v1/lots", 2)) == [scene["A"], scene["A2"], scene["A3"]]


# --------------------------------------------------------------------------- recalls


def test_recalls_newest_first_with_who_and_when(mworld: World, scene):
    s, maker, regulator = scene, mworld.parties["maker"], mworld.parties["regulator"]
    items = ok(get(mworld, "regulator", "/v1/recalls"))["items"]
    assert lot_numbers(items) == [s["B"], s["A"]]
    b, a = items
    assert a["recalled_by"] == {"account": maker.account.lower(), "gln": maker.gln, "name": "Acme Pharma"}
    assert b["recalled_by"]["gln"] == regulator.gln and b["recalled_by"]["name"] == "Medicines Agency"
    assert b["manufacturer"]["gln"] == mworld.parties["maker2"].gln
    assert a["gtin"] == s["p1"] and a["expiry"] == "2030-12-31" and a["serial_count"] == 100
    assert a["recalled_at"] <= b["recalled_at"] and a["tx_hash"].startswith("0x")
    assert walk(mworld, "regulator", "/v1/recalls", 1) == items


def test_recalls_only_of_lots_that_passed_through_your_hands(mworld: World, scene):
    s = scene
    for who in ("maker", "distributor", "pharmacy", "pharmacy2"):
        assert lot_numbers(ok(get(mworld, who, "/v1/recalls"))["items"]) == [s["A"]], who
    assert lot_numbers(ok(get(mworld, "maker2", "/v1/recalls"))["items"]) == [s["B"]]


# --------------------------------------------------------------------------- partner activity


def activity(world: World, who: str, gln: str, **params) -> list[dict]:
    return ok(get(world, who, f"/v1/partners/{gln}/activity", limit=500, **params))["items"]


def test_partner_activity_lists_every_event_oldest_first(mworld: World, scene):
    s, p = scene, mworld.parties
    items = activity(mworld, "regulator", p["distributor"].gln)
    events = [(i["event"], i["role"]) for i in items]
    assert events == [
        ("organisation_registered", "counterparty"),
        ("shipped", "counterparty"),  # maker → distributor
        ("received", "actor"),
        ("readings_recorded", "actor"),
        ("excursion_detected", "actor"),
        ("unpacked", "actor"),
        ("shipped", "actor"),  # → pharmacy
        ("received", "counterparty"),  # by the pharmacy
        ("shipped", "actor"),  # → pharmacy2
        ("refused", "counterparty"),  # by pharmacy2
    ]
    keys = [(i["block_number"], i["log_index"]) for i in items]
    assert keys == sorted(keys) and len(set(keys)) == len(keys)
    times = [i["at"] for i in items]
    assert times == sorted(times) and all(times)
    shipped_in = items[1]
    assert shipped_in["actor"]["gln"] == p["maker"].gln and shipped_in["actor"]["name"] == "Acme Pharma"
    assert shipped_in["counterparty"]["gln"] == p["distributor"].gln
    assert shipped_in["unit"]["sscc"] == s["pallet"] and shipped_in["unit"]["kind"] == "pallet"
    assert items[3]["readings"] == 2 and items[3]["unit"]["sscc"] == s["pallet"]
    assert items[6]["unit"]["sscc"] == s["a0"] and items[6]["counterparty"]["gln"] == p["pharmacy"].gln
    assert items[9]["actor"]["gln"] == p["pharmacy2"].gln and items[9]["unit"]["sscc"] == s["a1"]

    pharmacy = activity(mworld, "pharmacy", p["pharmacy"].gln)  # one's own activity
    assert [i["event"] for i in pharmacy] == ["organisation_registered", "shipped", "received", "dispensed"]
    dispensed = pharmacy[-1]
    assert dispensed["packs"] == 2 and dispensed["lot"]["lot"] == s["A"] and dispensed["gtin"] == s["p1"]
    assert dispensed["unit"]["sscc"] == s["a0"]

    maker = [i["event"] for i in activity(mworld, "regulator", p["maker"].gln)]
    assert maker[:3] == ["organisation_registered", "product_registered", "lot_commissioned"]
    assert maker.count("case_packed") == 2 and maker.count("lot_commissioned") == 3
    assert maker[-2:] == ["lot_recalled", "lot_quarantined"]
    regulator = [i["event"] for i in activity(mworld, "regulator", p["regulator"].gln)]
    assert regulator == ["organisation_registered", "lot_recalled"]


def test_partner_activity_in_a_time_window(mworld: World, scene):
    p = mworld.parties
    everything = activity(mworld, "regulator", p["maker"].gln)
    recall_at = datetime.fromisoformat(next(i["at"] for i in everything if i["event"] == "lot_recalled"))
    cut = (recall_at - timedelta(seconds=JUMP_SECONDS // 2)).isoformat()
    after = activity(mworld, "regulator", p["maker"].gln, **{"from": cut})
    before = activity(mworld, "regulator", p["maker"].gln, to=cut)
    assert [i["event"] for i in after] == ["lot_recalled", "lot_quarantined"]
    assert before + after == everything
    # any window is exactly the events whose block time falls in [from, to)
    start, end = everything[2]["at"], everything[-2]["at"]
    window = activity(mworld, "regulator", p["maker"].gln, **{"from": start, "to": end})
    assert window == [i for i in everything if start <= i["at"] < end]
    far = (recall_at + timedelta(days=1)).isoformat()
    assert activity(mworld, "regulator", p["maker"].gln, **{"from": far}) == []
    # offsets other than Z name the same instant
    local = datetime.fromisoformat(cut).astimezone(datetime.fromisoformat("2025-01-01T00:00:00+05:30").tzinfo)
    assert activity(mworld, "regulator", p["maker"].gln, **{"from": local.isoformat()}) == after


def test_partner_activity_pages_walk_without_gaps_or_repeats(mworld: World, scene):
    gln = mworld.parties["maker"].gln
    path = f"/v1/partners/{gln}/activity"
    everything = activity(mworld, "regulator", gln)
    assert len(everything) > 6
    for limit in (1, 2, 5):
        walked = walk(mworld, "regulator", path, limit)
        assert walked == everything
    cut = everything[3]["at"]
    assert walk(mworld, "regulator", path, 2, **{"from": cut}) == [i for i in everything if i["at"] >= cut]
    # the maker's own view: the same but for the receipts of what it shipped (the receiver's events,
    # app/services/access.py); pages may then hold fewer items, and still walk without gaps or repeats
    own = [i for i in everything if not (i["event"] == "received" and i["role"] == "counterparty")]
    assert any(i["event"] == "received" and i["role"] == "counterparty" for i in everything)
    assert walk(mworld, "maker", path, 3) == own


def test_partner_activity_of_another_partner_is_forbidden(mworld: World, scene):
    p = mworld.parties
    resp = get(mworld, "pharmacy", f"/v1/partners/{p['distributor'].gln}/activity")
    assert resp.status_code == 403
    body = resp.get_json()
    assert body["code"] == "own_activity_only"
    assert body["errors"]["path"]["gln"][0].startswith("own_activity_only:")
    unknown = check_digit("400000000001")
    assert get(mworld, "maker2", f"/v1/partners/{unknown}/activity").status_code == 403  # existence not revealed
    resp = get(mworld, "regulator", f"/v1/partners/{unknown}/activity")
    assert resp.status_code == 404 and "gln" in resp.get_json()["errors"]["path"]


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("path", "params", "location", "field", "rule"),
    [
        ("/v1/lots", {"limit": "0"}, "query", "limit", "range:"),
        ("/v1/lots", {"limit": "501"}, "query", "limit", "range:"),
        ("/v1/lots", {"limit": "ten"}, "query", "limit", "integer:"),
        ("/v1/lots", {"cursor": "not a cursor!"}, "query", "cursor", "cursor:"),
        ("/v1/lots", {"cursor": "WzEsMl0"}, "query", "cursor", "cursor:"),  # [1,2]: no kind
        ("/v1/lots", {"cursor": "WyJsb3RzIiwtMSwwXQ"}, "query", "cursor", "cursor:"),  # ["lots",-1,0]
        ("/v1/lots", {"cursor": "WyJsb3RzIiwxZTk5LDBd"}, "query", "cursor", "cursor:"),  # ["lots",1e99,0]
        ("/v1/lots", {"gtin": "09506000134353"}, "query", "gtin", "check_digit"),
        ("/v1/lots", {"manufacturer": "123"}, "query", "manufacturer", ""),
        ("/v1/recalls", {"limit": "-1"}, "query", "limit", "range:"),
        ("/v1/partners/1234567890123/activity", {}, "path", "gln", "check_digit"),
        ("/v1/partners/{gln}/activity", {"from": "yesterday"}, "query", "from", "iso8601:"),
        ("/v1/partners/{gln}/activity", {"from": "2025-01-01T00:00:00"}, "query", "from", "timezone:"),
        ("/v1/partners/{gln}/activity", {"to": "2025-13-01T00:00:00Z"}, "query", "to", "iso8601:"),
        ("/v1/partners/{gln}/activity", {"from": "2025-02-01T00:00:00Z", "to": "2025-01-01T00:00:00Z"},
         "query", "to", "order:"),
        ("/v1/partners/{gln}/activity", {"cursor": "WyJhY3Rpdml0eSIsMV0"}, "query", "cursor", "cursor:"),
    ],
)  # fmt: skip
def test_bad_parameters_are_422_naming_field_and_rule(mworld: World, path, params, location, field, rule):
    path = path.replace("{gln}", mworld.parties["regulator"].gln)
    resp = get(mworld, "regulator", path, **params)
    assert resp.status_code == 422, resp.get_json()
    assert resp.content_type == "application/problem+json"
    messages = resp.get_json()["errors"][location][field]
    assert messages and messages[0].startswith(rule), messages


def test_a_cursor_of_one_list_is_refused_by_another(mworld: World, scene):
    cursor = ok(get(mworld, "regulator", "/v1/lots", limit=1))["next"]
    assert get(mworld, "regulator", "/v1/lots", cursor=cursor).status_code == 200
    resp = get(mworld, "regulator", "/v1/recalls", cursor=cursor)
    assert resp.status_code == 422 and "cursor" in resp.get_json()["errors"]["query"]


def test_queries_need_an_api_key(mworld: World):
    for path in ("/v1/lots", "/v1/recalls", f"/v1/partners/{mworld.parties['maker'].gln}/activity"):
        assert mworld.client.get(path).status_code == 401


# --------------------------------------------------------------------------- visibility over time


def test_a_pharmacy_sees_a_lot_only_once_a_case_of_it_came_its_way(world: World, stock):
    p = world.parties

    def lots(who):
        return lot_numbers(ok(get(world, who, "/v1/lots"))["items"])

    assert lots("pharmacy") == [] and lots("maker") == [stock["lot"]] and lots("regulator") == [stock["lot"]]
    assert ok(get(world, "pharmacy", f"/v1/partners/{p['pharmacy'].gln}/activity"))["items"][-1]["event"] == (
        "organisation_registered"
    )
    world.done("maker", world.post("maker", "/v1/unpackings", {"units": [stock["pallet"]]}))
    assert lots("pharmacy") == []  # the maker unpacking its own pallet shows the pharmacy nothing
    world.done("maker", world.post("maker", "/v1/shipments", {"units": [stock["cases"][0]], "to": p["pharmacy"].gln}))
    world.done("pharmacy", world.post("pharmacy", "/v1/receipts", {"units": [stock["cases"][0]]}))
    assert lots("pharmacy") == [stock["lot"]]
    assert lots("pharmacy2") == [] and lots("maker2") == [] and lots("distributor") == []
    world.done("maker", world.post("maker", "/v1/lots/recalls", {"gtin": stock["gtin"], "lot": stock["lot"]}))
    assert lot_numbers(ok(get(world, "pharmacy", "/v1/recalls"))["items"]) == [stock["lot"]]
    assert ok(get(world, "pharmacy2", "/v1/recalls"))["items"] == []
