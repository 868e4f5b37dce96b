"""Each detection rule, with its scenario built through the real write path on anvil."""

from __future__ import annotations

from app.db import fetch_all
from app.detector.core import Detector, Thresholds
from app.services import verify
from tests.world import World, check_digit


def code(stock, n: int, lot: str | None = None) -> str:
    return f"(01){stock['gtin']}(21)S{n:010d}(10){lot or stock['lot']}(17)301231"


def ask(world: World, who: str, text: str) -> dict:
    resp = world.client.get("/v1/verify", query_string={"code": text},
                            headers={"Authorization": f"Bearer {world.parties[who].key}"})  # fmt: skip
    assert resp.status_code == 200, resp.get_json()
    world.flush_log()
    return resp.get_json()


def org_id(world: World, who: str) -> int:
    with world.db.connection() as conn:
        return fetch_all(conn, "SELECT id FROM organisations WHERE gln = %s", (world.parties[who].gln,))[0]["id"]


def alerts(world: World) -> dict[str, list[dict]]:
    with world.db.connection() as conn:
        rows = fetch_all(conn, "SELECT rule, subject, severity, occurrences, evidence, parties FROM alerts ORDER BY id")
    out: dict[str, list[dict]] = {}
    for row in rows:
        out.setdefault(row["rule"], []).append(row)
    return out


def test_rules_over_verifications(world: World, stock, monkeypatch):
    detector = Detector(world.db, Thresholds(travel_seconds=3600, failed_verifications=3, window_seconds=600))
    maker, pharmacy2 = org_id(world, "maker"), org_id(world, "pharmacy2")
    other_gtin = check_digit("0950600" + stock["gtin"][7:13][::-1])
    ask(world, "pharmacy2", f"(01){other_gtin}(21)X1")  # unknown product
    ask(world, "pharmacy2", f"(01){stock['gtin']}(21)FAKE1")  # serial not in the lot
    ask(world, "pharmacy2", code(stock, 3, lot="OTHER"))  # printed with another lot
    ask(world, "maker", code(stock, 7))  # fine at the maker, then at a distributor that never had it:
    ask(world, "distributor", code(stock, 7))  # not received, and two places in no time
    assert detector.run_once() > 0
    found = alerts(world)
    assert found["unknown_product"][0]["subject"] == f"gtin:{other_gtin}@org:{pharmacy2}"  # one per requester
    assert found["unknown_product"][0]["parties"] == [pharmacy2]
    serial = found["serial_not_in_lot"][0]
    assert serial["severity"] == "high" and set(serial["parties"]) == {pharmacy2, maker}
    assert serial["evidence"][0]["code"] == f"(01){stock['gtin']}(21)FAKE1"
    assert found["lot_or_expiry_mismatch"][0]["evidence"][0]["reasons"] == ["lot_mismatch", "not_received_by_requester"]
    places = {a["evidence"][0]["place_gln"] for a in found["not_received"]}
    assert places == {world.parties["distributor"].gln, world.parties["pharmacy2"].gln}
    travel = found["impossible_travel"][0]
    seen = travel["evidence"][0]
    places = {seen["place_gln"], seen["seen_elsewhere"]["place_gln"]}
    assert places == {world.parties["maker"].gln, world.parties["distributor"].gln} and seen["seconds_apart"] < 60
    assert len(found["impossible_travel"]) == 1 and travel["occurrences"] == 2  # one alert, seen from both sides
    assert travel["parties"] == [maker]  # each place is the other's secret: the manufacturer and regulators see it
    # three failures by pharmacy2 within the window
    assert found["repeated_failed_verifications"][0]["subject"] == f"org:{pharmacy2}"
    assert found["repeated_failed_verifications"][0]["evidence"][0]["failures"] == 3
    assert "clone" not in found and "recalled" not in found

    # Nothing is seen twice: a second round over the same log raises nothing.
    before = {rule: [a["occurrences"] for a in rows] for rule, rows in alerts(world).items()}
    assert detector.run_once() == 0
    assert {rule: [a["occurrences"] for a in rows] for rule, rows in alerts(world).items()} == before

    # The same pack verified again by the same party: one alert, two occurrences.
    ask(world, "distributor", code(stock, 7))
    detector.run_once()
    again = [
        a for a in alerts(world)["not_received"] if a["evidence"][0]["place_gln"] == world.parties["distributor"].gln
    ]
    assert again[0]["occurrences"] == 2

    lot = {"gtin": stock["gtin"], "lot": stock["lot"]}
    world.done("maker", world.post("maker", "/v1/quarantines", lot))
    ask(world, "maker", code(stock, 8))
    world.done("maker", world.post("maker", "/v1/quarantine-clearances", lot))
    world.done("maker", world.post("maker", "/v1/lots/recalls", lot))
    ask(world, "maker", code(stock, 9))
    monkeypatch.setattr(verify, "clock", lambda: 1_925_078_400)  # a second after the lot expired
    ask(world, "maker", code(stock, 10))
    detector.run_once()
    found = alerts(world)
    assert found["quarantined"][0]["evidence"][0]["code"] == code(stock, 8)
    assert [a["evidence"][0]["code"] for a in found["recalled"]] == [code(stock, 9), code(stock, 10)]
    assert found["expired"][0]["evidence"][0]["code"] == code(stock, 10)


def _deliver_first_case_to_the_pharmacy(world: World, stock) -> None:
    """The pallet goes to the distributor, is opened, and its first case reaches the pharmacy."""
    p = world.parties
    pallet, cases = stock["pallet"], stock["cases"]
    world.done("maker", world.post("maker", "/v1/shipments", {"units": [pallet], "to": p["distributor"].gln}))
    world.done("distributor", world.post("distributor", "/v1/receipts", {"units": [pallet]}))
    world.done("distributor", world.post("distributor", "/v1/unpackings", {"units": [pallet]}))
    world.done(
        "distributor", world.post("distributor", "/v1/shipments", {"units": [cases[0]], "to": p["pharmacy"].gln})
    )
    world.done("pharmacy", world.post("pharmacy", "/v1/receipts", {"units": [cases[0]]}))


def test_rules_over_scans_and_the_chain(world: World, stock):
    detector = Detector(world.db)
    p, cases = world.parties, stock["cases"]
    _deliver_first_case_to_the_pharmacy(world, stock)
    world.done("pharmacy", world.post("pharmacy", "/v1/dispensations", {"packs": [code(stock, 1)]}))
    # A second pack with the same serial turns up at another pharmacy: a clone.
    assert ask(world, "pharmacy2", code(stock, 1))["verdict"] == "dispensed"
    # The first pharmacy scans it again for dispensing: refused, and still a sighting.
    resp = world.post("pharmacy", "/v1/dispensations", {"packs": [code(stock, 1)]})
    assert resp.status_code == 409 and resp.get_json()["code"] == "already_dispensed"
    # Another pharmacy scans a case it never received.
    resp = world.post("pharmacy2", "/v1/shipments", {"units": [cases[0]], "to": p["pharmacy"].gln})
    assert resp.status_code == 409 and resp.get_json()["code"] == "not_holder"
    # A logger in the pharmacy's fridge read 11.5 °C for a product kept at 2 to 8 °C.
    world.done("pharmacy", world.post("pharmacy", f"/v1/units/{cases[0]}/readings",
               {"sensor_id": "fridge-2", "start": 1_750_000_000, "interval": 600, "celsius": [4, 11.5]}))  # fmt: skip
    detector.run_once()
    found = alerts(world)
    # one clone alert per party that presented it (each sees its own), both for the manufacturer
    clones = {a["evidence"][0]["channel"]: a for a in found["clone"]}
    assert set(clones) == {"api", "scan"} and clones["scan"]["evidence"][0]["reasons"] == ["already_dispensed"]
    assert clones["api"]["parties"] == sorted([org_id(world, "pharmacy2"), org_id(world, "maker")])
    assert clones["scan"]["parties"] == sorted([org_id(world, "pharmacy"), org_id(world, "maker")])
    scan = [a for a in found["not_received"] if a["evidence"][0]["channel"] == "scan"]
    assert scan and scan[0]["evidence"][0]["code"] == cases[0] and scan[0]["parties"] == [org_id(world, "pharmacy2")]
    excursion = found["temperature_excursion"][0]
    assert excursion["evidence"][0]["celsius"] == 11.5 and excursion["evidence"][0]["allowed"] == [2.0, 8.0]
    assert org_id(world, "pharmacy") in excursion["parties"] and org_id(world, "maker") in excursion["parties"]
    assert detector.run_once() == 0  # the excursion is not raised again


def test_alerts_reach_the_api_for_the_parties_involved(world: World, stock):
    ask(world, "pharmacy", f"(01){stock['gtin']}(21)FAKE9")
    Detector(world.db).run_once()
    for who, visible in (("pharmacy", 1), ("maker", 1), ("regulator", 1), ("pharmacy2", 0)):
        resp = world.client.get("/v1/alerts", headers={"Authorization": f"Bearer {world.parties[who].key}"})
        assert resp.status_code == 200, resp.get_json()
        assert len([a for a in resp.get_json()["items"] if a["rule"] == "serial_not_in_lot"]) == visible, who


def test_a_reorg_rolls_the_detector_back_with_the_mirror(world: World):
    from app.detector import hooks  # registered with the indexer by app.stack.indexer_hooks

    with world.db.connection() as conn:
        with conn.cursor() as cur:
            cur.execute("INSERT INTO detector_cursor (name, block_number) VALUES ('main', 120)")
        hooks.on_mirror_rollback(conn, 101)  # blocks 101 and above removed
        assert fetch_all(conn, "SELECT block_number FROM detector_cursor")[0]["block_number"] == 100
        hooks.on_mirror_reset(conn)
        assert fetch_all(conn, "SELECT block_number FROM detector_cursor")[0]["block_number"] == -1


def test_a_pharmacy_rechecking_a_pack_it_dispensed_is_no_clone(world: World, stock):
    """Verifying a pack it dispensed itself (its own sale, a return it may still undo within ten days)
    raises no clone alert against the pharmacy; the same pack from anyone else, or from it much later, does."""
    detector = Detector(world.db)
    p = world.parties
    _deliver_first_case_to_the_pharmacy(world, stock)
    dispensed = world.done("pharmacy", world.post("pharmacy", "/v1/dispensations", {"packs": [code(stock, 1)]}))
    assert ask(world, "pharmacy", code(stock, 1))["verdict"] == "dispensed"  # the answer still says so
    detector.run_once()
    assert "clone" not in alerts(world)

    assert ask(world, "pharmacy2", code(stock, 1))["verdict"] == "dispensed"
    detector.run_once()
    (clone,) = alerts(world)["clone"]
    assert clone["parties"] == sorted([org_id(world, "pharmacy2"), org_id(world, "maker")])

    # eleven days after the dispense, the pharmacy's own check of it is a clone too
    with world.db.connection() as conn, conn.cursor() as cur:
        cur.execute("UPDATE blocks SET timestamp = now() - interval '11 days' WHERE number = %s",
                    (dispensed["block_number"],))  # fmt: skip
        assert cur.rowcount == 1
    ask(world, "pharmacy", code(stock, 1))
    detector.run_once()
    clones = {a["evidence"][0]["place_gln"]: a for a in alerts(world)["clone"]}
    assert set(clones) == {p["pharmacy"].gln, p["pharmacy2"].gln}
    assert clones[p["pharmacy"].gln]["parties"] == sorted([org_id(world, "pharmacy"), org_id(world, "maker")])
