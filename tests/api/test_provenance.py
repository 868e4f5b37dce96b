"""Provenance of a pack, case, pallet and lot, after a supply chain driven through the real write path.

One scenario, built once for the module (anvil + Postgres, relayer and indexer in process):

- the maker commissions lot L (100 packs), packs cases C0 (packs 0-39) and C1 (40-79) onto pallet P, and
  records a pallet logger's readings;
- P is shipped maker → distributor, received and unpacked; the distributor ships C0 to the pharmacy;
- the pharmacy receives C0, records a case logger's readings (one above the product's 2-8 °C: an
  excursion) and dispenses pack 1.

The expected values (times, MKT, parties) are computed here from the chain and the inputs, not taken
from the service.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from urllib.parse import quote

import pytest
from web3 import Web3

from app import gs1
from tests.world import GTIN_BASE, World, check_digit, module_world

PROBLEM = "application/problem+json"
T0 = 1_750_000_000  # pallet logger start (unix s)
PALLET_LOG = [4.0, 5.5, 6.25, 7.75]
CASE_LOG = [5.0, 9.5, 6.0]  # 9.5 °C is outside 2-8 °C
INTERVAL = 600


@pytest.fixture(scope="module")
def world(w3, anvil, pg_server, migrated_template, tmp_path_factory) -> Iterator[World]:
    """tests/world.py's `world`, built once for this module."""
    with module_world(w3, anvil, pg_server, migrated_template, tmp_path_factory.mktemp("provenance")) as built:
        yield built


@pytest.fixture(scope="module")
def chain(world: World) -> dict:
    """The scenario of the module docstring; returns its identifiers and the confirmed operations."""
    p = world.parties
    gtin = check_digit(f"0{GTIN_BASE}{uuid.uuid4().int % 10**5:05d}")
    lot = f"L{uuid.uuid4().hex[:6].upper()}"
    ops = {}
    world.done("maker", world.post("maker", "/v1/products", {
        "gtin": gtin, "name": "Insulin glargine", "storage": {"min_celsius": 2, "max_celsius": 8}}))  # fmt: skip
    ops["commission"] = world.done("maker", world.post("maker", "/v1/lots", {
        "gtin": gtin, "lot": lot, "expiry": "2030-12-31",
        "serial_range": {"prefix": "S", "first": 0, "count": 100, "digits": 10}}))  # fmt: skip
    cases = [world.sscc(), world.sscc()]
    for i, case in enumerate(cases):
        ops[f"case{i}"] = world.done(
            "maker",
            world.post(
                "maker", "/v1/cases", {"sscc": case, "gtin": gtin, "lot": lot, "first_index": i * 40, "count": 40}
            ),
        )
    pallet = world.sscc()
    ops["pallet"] = world.done("maker", world.post("maker", "/v1/pallets", {"sscc": pallet, "cases": cases}))
    readings = {"sensor_id": "pallet-logger", "start": T0, "interval": INTERVAL, "celsius": PALLET_LOG}
    world.done("maker", world.post("maker", f"/v1/units/{pallet}/readings", readings))
    ops["ship_pallet"] = world.done(
        "maker", world.post("maker", "/v1/shipments", {"units": [pallet], "to": p["distributor"].gln})
    )
    ops["receive_pallet"] = world.done("distributor", world.post("distributor", "/v1/receipts", {"units": [pallet]}))
    ops["unpack_pallet"] = world.done("distributor", world.post("distributor", "/v1/unpackings", {"units": [pallet]}))
    ops["ship_case"] = world.done(
        "distributor", world.post("distributor", "/v1/shipments", {"units": [cases[0]], "to": p["pharmacy"].gln})
    )
    ops["receive_case"] = world.done("pharmacy", world.post("pharmacy", "/v1/receipts", {"units": [cases[0]]}))
    readings = {"sensor_id": "case-logger", "start": T0 + 7200, "interval": INTERVAL, "celsius": CASE_LOG}
    ops["case_readings"] = world.done("pharmacy", world.post("pharmacy", f"/v1/units/{cases[0]}/readings", readings))
    ops["dispense"] = world.done(
        "pharmacy", world.post("pharmacy", "/v1/dispensations", {"packs": [f"(01){gtin}(21)S0000000001"]})
    )
    # C1 goes to maker2, who refuses it; the distributor quarantines it and clears it again
    world.done("distributor", world.post("distributor", "/v1/shipments", {"units": [cases[1]], "to": p["maker2"].gln}))
    ops["refuse_case"] = world.done("maker2", world.post("maker2", "/v1/refusals", {"units": [cases[1]]}))
    world.done("distributor", world.post("distributor", "/v1/quarantines", {"sscc": cases[1]}))
    world.done("distributor", world.post("distributor", "/v1/quarantine-clearances", {"sscc": cases[1]}))
    # a tree case C2 of packs 85 and 87 at the maker, and loose pack 90 destroyed
    tree_case = world.sscc()
    packs = [f"(01){gtin}(21)S{n:010d}" for n in (85, 87)]
    ops["tree_case"] = world.done(
        "maker", world.post("maker", "/v1/cases", {"sscc": tree_case, "gtin": gtin, "lot": lot, "packs": packs})
    )
    ops["destroy"] = world.done(
        "maker", world.post("maker", "/v1/destructions", {"packs": [f"(01){gtin}(21)S0000000090"]})
    )
    return {"gtin": gtin, "lot": lot, "cases": cases, "tree_case": tree_case, "pallet": pallet, "ops": ops}


# --------------------------------------------------------------------------------------------- helpers


def get(world: World, who: str | None, url: str):
    headers = {"Authorization": f"Bearer {world.parties[who].key}"} if who else {}
    return world.client.get(url, headers=headers)


def pack_url(chain, n: int) -> str:
    code = f"(01){chain['gtin']}(21)S{n:010d}"
    return f"/v1/units/{quote(code, safe='')}/provenance"


def lot_url(chain) -> str:
    return f"/v1/lots/{chain['gtin']}/{quote(chain['lot'], safe='')}/provenance"


def ok(world, who, url) -> dict:
    resp = get(world, who, url)
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()


def account(world, who) -> str:
    return world.parties[who].account.lower()


def party(world, who) -> dict:
    p = world.parties[who]
    return {"account": p.account.lower(), "gln": p.gln, "name": p.name}


def block_time(world, number: int) -> str:
    moment = datetime.fromtimestamp(world.w3.eth.get_block(number)["timestamp"], UTC)
    return moment.isoformat()


def mkt(celsius: list[float]) -> float:
    """DOMAIN.md's formula, equal weights, written out directly."""
    kelvin = [c + 273.15 for c in celsius]
    return 10_000 / -math.log(sum(math.exp(-10_000 / t) for t in kelvin) / len(kelvin)) - 273.15


def two_decimals(x: float) -> float:
    return float(Decimal(repr(x)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def summary(celsius: list[float], start: int, interval: int = INTERVAL) -> dict:
    return {
        "count": len(celsius),
        "min_celsius": min(celsius),
        "max_celsius": max(celsius),
        "mean_celsius": two_decimals(sum(celsius) / len(celsius)),
        "mkt_celsius": two_decimals(mkt(celsius)),
        "first": datetime.fromtimestamp(start, UTC).isoformat(),
        "last": datetime.fromtimestamp(start + interval * (len(celsius) - 1), UTC).isoformat(),
    }


def keccak(text: str) -> str:
    return "0x" + Web3.keccak(text=text).hex().removeprefix("0x")


def steps(body: dict) -> list[tuple]:
    return [(e["event"], e["subject"]["kind"], e["from"]["account"], (e["to"] or {}).get("account"))
            for e in body["timeline"]]  # fmt: skip


# --------------------------------------------------------------------------------------------- a pack


def test_pack_timeline_follows_lot_case_pallet_and_pack(world, chain):
    body = ok(world, "regulator", pack_url(chain, 1))
    maker, dist, pharm = account(world, "maker"), account(world, "distributor"), account(world, "pharmacy")
    assert steps(body) == [
        ("commissioned", "lot", maker, None),
        ("packed", "case", maker, None),
        ("palletised", "case", maker, None),
        ("shipped", "pallet", maker, dist),
        ("received", "pallet", maker, dist),
        ("unpacked", "pallet", dist, None),
        ("shipped", "case", dist, pharm),
        ("received", "case", dist, pharm),
        ("dispensed", "pack", pharm, None),
    ]
    timeline = body["timeline"]
    case_ref = {"kind": "case", "sscc": chain["cases"][0]}
    pallet_ref = {"kind": "pallet", "sscc": chain["pallet"]}
    assert timeline[1]["subject"] == case_ref and timeline[1]["packs"] == 40
    assert timeline[2]["container"] == pallet_ref
    assert timeline[3]["subject"] == pallet_ref
    assert timeline[8]["subject"] == {"kind": "pack", "gtin": chain["gtin"], "lot": chain["lot"],
                                      "serial": "S0000000001"}  # fmt: skip
    assert timeline[8]["container"] == case_ref
    # place is the acting party's GLN: the recipient receives, the sender ships
    assert timeline[4]["place"] == {"gln": world.parties["distributor"].gln, "name": "Northwind Distribution"}
    assert timeline[3]["place"]["gln"] == world.parties["maker"].gln
    # block, transaction and time come from the chain
    ops = chain["ops"]
    for i, op in ((0, "commission"), (3, "ship_pallet"), (4, "receive_pallet"), (6, "ship_case"), (8, "dispense")):
        assert (timeline[i]["block_number"], timeline[i]["tx_hash"]) == (ops[op]["block_number"], ops[op]["tx_hash"])
    for event in timeline:
        assert event["time"] == block_time(world, event["block_number"])
    positions = [(e["block_number"], e["log_index"]) for e in timeline]
    assert positions == sorted(positions)


def test_pack_subject_containment_and_parties(world, chain):
    body = ok(world, "regulator", pack_url(chain, 1))
    subject = body["subject"]
    assert subject["kind"] == "pack"
    assert (subject["gtin"], subject["serial"], subject["lot"]) == (chain["gtin"], "S0000000001", chain["lot"])
    assert (subject["expiry"], subject["leaf_index"], subject["manufacturer"]) == (
        "2030-12-31", 1, account(world, "maker"))  # fmt: skip
    ops = chain["ops"]
    assert body["containment"] == [
        {
            "unit": {"kind": "pack", "gtin": chain["gtin"], "lot": chain["lot"], "serial": "S0000000001"},
            "container": {"kind": "case", "sscc": chain["cases"][0]},
            "packs": None,
            "since": {"block_number": ops["case0"]["block_number"],
                      "time": block_time(world, ops["case0"]["block_number"])},
            "until": None,
        },
        {
            "unit": {"kind": "case", "sscc": chain["cases"][0]},
            "container": {"kind": "pallet", "sscc": chain["pallet"]},
            "packs": None,
            "since": {"block_number": ops["pallet"]["block_number"],
                      "time": block_time(world, ops["pallet"]["block_number"])},
            "until": {"block_number": ops["unpack_pallet"]["block_number"],
                      "time": block_time(world, ops["unpack_pallet"]["block_number"]), "event": "pallet_unpacked"},
        },
    ]  # fmt: skip
    assert body["parties"] == [party(world, "maker"), party(world, "distributor"), party(world, "pharmacy")]
    assert body["pack_counts"] is None


def test_pack_readings_come_through_its_case_and_pallet(world, chain):
    body = ok(world, "regulator", pack_url(chain, 1))
    readings = body["readings"]
    assert readings["overall"] == {**summary(PALLET_LOG + CASE_LOG, T0), "first": summary(PALLET_LOG, T0)["first"],
                                   "last": summary(CASE_LOG, T0 + 7200)["last"]}  # fmt: skip
    assert readings["overall"]["mkt_celsius"] >= readings["overall"]["mean_celsius"]
    assert readings["sensors"] == [
        {"sensor_id": keccak("pallet-logger"), "units": [chain["pallet"]], **summary(PALLET_LOG, T0)},
        {"sensor_id": keccak("case-logger"), "units": [chain["cases"][0]], **summary(CASE_LOG, T0 + 7200)},
    ]
    op = chain["ops"]["case_readings"]
    assert body["excursions"] == [
        {
            "unit": {"kind": "case", "sscc": chain["cases"][0]},
            "sensor_id": keccak("case-logger"),
            "time": datetime.fromtimestamp(T0 + 7200 + INTERVAL, UTC).isoformat(),
            "celsius": 9.5,
            "allowed": {"min_celsius": 2.0, "max_celsius": 8.0},
            "block_number": op["block_number"],
            "tx_hash": op["tx_hash"],
            "recorded_at": block_time(world, op["block_number"]),
        }
    ]


def test_every_gs1_form_of_a_pack_names_the_same_pack(world, chain):
    pack = gs1.Pack(chain["gtin"], "S0000000001", chain["lot"])
    expected = ok(world, "regulator", pack_url(chain, 1))
    forms = [
        gs1.to_element_string(pack),
        gs1.to_scan_data(pack),  # ]d2 and a GS after the serial
        gs1.to_digital_link(pack),
        gs1.to_epc_uri(pack, company_prefix_length=7),
    ]
    for form in forms:
        assert ok(world, "regulator", f"/v1/units/{quote(form, safe='')}/provenance") == expected, form
        assert ok(world, "regulator", f"/v1/units/provenance?code={quote(form, safe='')}") == expected, form


def test_a_pack_with_another_lot_beside_its_serial_is_not_found(world, chain):
    code = f"(01){chain['gtin']}(21)S0000000001(10)OTHER"
    resp = get(world, "regulator", f"/v1/units/{quote(code, safe='')}/provenance")
    assert resp.status_code == 404 and resp.content_type == PROBLEM
    assert "lot OTHER" in resp.get_json()["detail"]


def test_a_pack_in_a_tree_case(world, chain):
    body = ok(world, "maker", pack_url(chain, 87))
    tree_case = {"kind": "case", "sscc": chain["tree_case"]}
    assert [(e["event"], e["subject"]["kind"], e["packs"]) for e in body["timeline"]] == [
        ("commissioned", "lot", None),
        ("packed", "case", 2),
    ]
    assert body["timeline"][1]["subject"] == tree_case
    assert [(c["container"], c["since"]["block_number"]) for c in body["containment"]] == [
        (tree_case, chain["ops"]["tree_case"]["block_number"])
    ]


def test_a_pack_destroyed_loose(world, chain):
    body = ok(world, "maker", pack_url(chain, 90))
    assert steps(body) == [
        ("commissioned", "lot", account(world, "maker"), None),
        ("destroyed", "pack", account(world, "maker"), None),
    ]
    destroyed = body["timeline"][1]
    assert destroyed["container"] is None and destroyed["tx_hash"] == chain["ops"]["destroy"]["tx_hash"]
    assert body["containment"] == []


def test_a_loose_pack_has_only_its_lot(world, chain):
    body = ok(world, "maker", pack_url(chain, 95))
    assert [e["event"] for e in body["timeline"]] == ["commissioned"]
    assert body["containment"] == [] and body["readings"] == {"overall": None, "sensors": []}
    assert body["excursions"] == []
    assert get(world, "pharmacy", pack_url(chain, 95)).status_code == 403


# --------------------------------------------------------------------------------------------- case and pallet


def test_case_provenance(world, chain):
    case = chain["cases"][0]
    body = ok(world, "pharmacy", f"/v1/units/{case}/provenance")
    assert body["subject"]["kind"] == "case" and body["subject"]["sscc"] == case
    assert body["subject"]["lot"] == chain["lot"]
    assert [(e["event"], e["subject"]["kind"]) for e in body["timeline"]] == [
        ("commissioned", "lot"), ("packed", "case"), ("palletised", "case"), ("shipped", "pallet"),
        ("received", "pallet"), ("unpacked", "pallet"), ("shipped", "case"), ("received", "case"),
        ("dispensed", "packs"),
    ]  # fmt: skip
    dispensed = body["timeline"][-1]
    assert dispensed["packs"] == 1 and dispensed["from"]["account"] == account(world, "pharmacy")
    assert [(c["unit"]["sscc"], c["container"]["sscc"]) for c in body["containment"]] == [(case, chain["pallet"])]
    assert body["readings"]["overall"]["count"] == len(PALLET_LOG + CASE_LOG)
    assert len(body["excursions"]) == 1
    # the (00) element string and the EPC URI name the same case
    for form in (f"(00){case}", gs1.to_epc_uri(gs1.LogisticUnit(case), company_prefix_length=7)):
        assert ok(world, "pharmacy", f"/v1/units/{quote(form, safe='')}/provenance") == body


def test_a_refused_and_quarantined_case(world, chain):
    """C1 was on P too: P's events up to its unpacking, then its own refused shipment and quarantine (the
    regulator's view: maker2, who refused it, sees it up to its refusal only, see the end)."""
    body = ok(world, "regulator", f"/v1/units/{chain['cases'][1]}/provenance")
    maker, dist, maker2 = account(world, "maker"), account(world, "distributor"), account(world, "maker2")
    assert steps(body) == [
        ("commissioned", "lot", maker, None),
        ("packed", "case", maker, None),
        ("palletised", "case", maker, None),
        ("shipped", "pallet", maker, dist),
        ("received", "pallet", maker, dist),
        ("unpacked", "pallet", dist, None),
        ("shipped", "case", dist, maker2),
        ("refused", "case", dist, maker2),
        ("quarantined", "case", dist, None),
        ("cleared", "case", dist, None),
    ]
    refused = body["timeline"][7]
    assert refused["place"]["gln"] == world.parties["maker2"].gln  # the refusing recipient acted
    assert refused["tx_hash"] == chain["ops"]["refuse_case"]["tx_hash"]
    assert [c["until"]["event"] for c in body["containment"]] == ["pallet_unpacked"]
    assert body["readings"]["sensors"] == [
        {"sensor_id": keccak("pallet-logger"), "units": [chain["pallet"]], **summary(PALLET_LOG, T0)}
    ]
    assert body["excursions"] == []
    # maker2 refused it: the distributor's quarantine and clearance came after, in the distributor's hands
    cut = ok(world, "maker2", f"/v1/units/{chain['cases'][1]}/provenance")
    assert steps(cut) == steps(body)[:8]
    assert cut["containment"] == body["containment"] and cut["readings"] == body["readings"]


def test_pallet_provenance(world, chain):
    pallet = chain["pallet"]
    body = ok(world, "distributor", f"/v1/units/{pallet}/provenance")
    assert body["subject"] == {"kind": "pallet", "sscc": pallet, "id": body["subject"]["id"]}
    assert steps(body) == [
        ("packed", "pallet", account(world, "maker"), None),
        ("shipped", "pallet", account(world, "maker"), account(world, "distributor")),
        ("received", "pallet", account(world, "maker"), account(world, "distributor")),
        ("unpacked", "pallet", account(world, "distributor"), None),
    ]
    unpacked = chain["ops"]["unpack_pallet"]["block_number"]
    assert [(c["unit"]["sscc"], c["until"]["block_number"], c["until"]["event"]) for c in body["containment"]] == [
        (chain["cases"][0], unpacked, "pallet_unpacked"),
        (chain["cases"][1], unpacked, "pallet_unpacked"),
    ]
    assert body["readings"]["overall"] == summary(PALLET_LOG, T0)
    assert body["excursions"] == []


# --------------------------------------------------------------------------------------------- a lot


def test_lot_provenance(world, chain):
    body = ok(world, "maker", lot_url(chain))
    maker = account(world, "maker")
    assert body["subject"]["kind"] == "lot"
    assert (body["subject"]["gtin"], body["subject"]["lot"], body["subject"]["expiry"]) == (
        chain["gtin"], chain["lot"], "2030-12-31")  # fmt: skip
    assert [(e["event"], e["subject"].get("sscc"), e["from"]["account"], e["packs"]) for e in body["timeline"]] == [
        ("commissioned", None, maker, None),
        ("packed", chain["cases"][0], maker, 40),
        ("packed", chain["cases"][1], maker, 40),
        ("packed", chain["tree_case"], maker, 2),
    ]
    assert body["pack_counts"] == {
        "serials": 100,
        "cased": 82,
        "dispensed": 1,
        "destroyed": 1,
        "stolen": 0,
        "quarantined": 0,
    }
    assert [(c["unit"]["kind"], c["container"]["sscc"], c["packs"]) for c in body["containment"]] == [
        ("lot", chain["cases"][0], 40), ("lot", chain["cases"][1], 40),
        ("case", chain["pallet"], None), ("case", chain["pallet"], None),
        ("lot", chain["tree_case"], 2),
    ]  # fmt: skip
    assert body["readings"]["overall"]["count"] == len(PALLET_LOG + CASE_LOG)
    assert [x["unit"]["sscc"] for x in body["excursions"]] == [chain["cases"][0]]
    assert body["parties"] == [party(world, "maker")]


# --------------------------------------------------------------------------------------------- who may see what


@pytest.mark.parametrize(
    ("who", "status"),
    [("regulator", 200), ("maker", 200), ("distributor", 200), ("pharmacy", 200), ("pharmacy2", 403),
     ("maker2", 403)],
)  # fmt: skip
def test_a_pack_is_seen_by_the_regulator_its_manufacturer_and_its_path(world, chain, who, status):
    resp = get(world, who, pack_url(chain, 1))
    assert resp.status_code == status, resp.get_json()
    if status == 403:
        assert resp.content_type == PROBLEM
        assert resp.get_json()["code"] == "not_on_path"


@pytest.mark.parametrize(
    ("who", "unit", "status"),
    [
        ("pharmacy", "pallet", 403),  # it received a case from the pallet, never the pallet
        ("distributor", "pallet", 200),
        ("maker", "pallet", 200),
        ("pharmacy", "case1", 403),  # the other case never reached it
        ("pharmacy2", "case0", 403),
        ("regulator", "case1", 200),
        ("maker2", "case1", 200),  # it refused the case: on its path
        ("maker2", "case0", 403),
        ("maker2", "pallet", 403),
        ("pharmacy", "tree_case", 403),
        ("maker", "tree_case", 200),
    ],
)
def test_units_are_seen_only_from_their_path(world, chain, who, unit, status):
    sscc = {"pallet": chain["pallet"], "case0": chain["cases"][0], "case1": chain["cases"][1],
            "tree_case": chain["tree_case"]}[unit]  # fmt: skip
    resp = get(world, who, f"/v1/units/{sscc}/provenance")
    assert resp.status_code == status, resp.get_json()


@pytest.mark.parametrize(
    ("who", "status"),
    [("regulator", 200), ("pharmacy", 200), ("distributor", 200), ("maker2", 200), ("pharmacy2", 403)],
)
def test_a_lot_is_seen_by_everyone_on_its_units_paths(world, chain, who, status):
    resp = get(world, who, lot_url(chain))
    assert resp.status_code == status, resp.get_json()
    if status == 403:
        assert resp.get_json()["code"] == "not_on_path"


def test_no_key_is_401(world, chain):
    for url in (pack_url(chain, 1), f"/v1/units/{chain['pallet']}/provenance", lot_url(chain),
                f"/v1/units/provenance?code={chain['pallet']}"):  # fmt: skip
        resp = get(world, None, url)
        assert resp.status_code == 401 and resp.content_type == PROBLEM


# --------------------------------------------------------------------------------------------- unknown and malformed


def test_unknown_codes_are_404(world, chain):
    unknown_sscc = world.sscc()
    unknown_gtin = check_digit(f"0{GTIN_BASE}99999")
    for url in (
        pack_url(chain, 100),  # the lot has serials 0..99
        f"/v1/units/{unknown_sscc}/provenance",
        f"/v1/units/provenance?code=(00){unknown_sscc}",
        f"/v1/lots/{chain['gtin']}/NOSUCHLOT/provenance",
        f"/v1/lots/{unknown_gtin}/{chain['lot']}/provenance",
    ):
        resp = get(world, "regulator", url)
        assert resp.status_code == 404, (url, resp.get_json())
        assert resp.content_type == PROBLEM and resp.get_json()["detail"].endswith("does not exist")


def _bad_check_digit(key: str) -> str:
    return key[:-1] + str((int(key[-1]) + 1) % 10)


@pytest.mark.parametrize(
    ("url", "where", "field", "rule"),
    [
        (lambda c: f"/v1/units/{_bad_check_digit(c['pallet'])}/provenance", "path", "code", "check_digit"),
        (lambda c: f"/v1/units/{quote('(01)' + _bad_check_digit(c['gtin']) + '(21)S1', safe='')}/provenance",
         "path", "code", "check_digit"),
        (lambda c: f"/v1/units/{quote('(01)' + c['gtin'], safe='')}/provenance", "path", "code", "missing"),
        (lambda c: "/v1/units/hello/provenance", "path", "code", "format"),
        (lambda c: f"/v1/units/provenance?code={_bad_check_digit(c['pallet'])}", "query", "code", "check_digit"),
        (lambda c: "/v1/units/provenance", "query", "code", "Missing data"),
        (lambda c: f"/v1/lots/{_bad_check_digit(c['gtin'])}/{c['lot']}/provenance", "path", "gtin", "check_digit"),
        (lambda c: f"/v1/lots/{c['gtin']}/{'L' * 21}/provenance", "path", "lot", "charset"),
        (lambda c: f"/v1/lots/{c['gtin']}/{quote('L 1', safe='')}/provenance", "path", "lot", "charset"),
    ],
)  # fmt: skip
def test_malformed_codes_are_422_naming_the_field_and_rule(world, chain, url, where, field, rule):
    resp = get(world, "regulator", url(chain))
    assert resp.status_code == 422, resp.get_json()
    assert resp.content_type == PROBLEM
    messages = resp.get_json()["errors"][where][field]
    assert any(m.startswith(rule) for m in messages), messages


def test_routes_are_in_the_openapi_document(world):
    spec = world.client.get("/openapi.json").get_json()
    for path in ("/v1/units/{code}/provenance", "/v1/units/provenance", "/v1/lots/{gtin}/{lot}/provenance"):
        operation = spec["paths"][path]["get"]
        assert operation["security"] == [{"ApiKey": []}]
        assert {"200", "403", "404", "422"} <= set(operation["responses"])
