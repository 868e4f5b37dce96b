"""One access matrix over every read route (app/services/access.py): the same (party, object) pairs, the same
decision everywhere.

The supply chain, built through the real write path (tests/world.py):

    maker: lot L of 100 packs; case C0 (packs 0-39) and case C1 (40-79) on pallet P
    maker ships P to the distributor, who receives and unpacks it
    the distributor ships C1 to pharmacy2, who refuses it: C1 is back in the distributor's hands
    the distributor ships C0 to the pharmacy, which receives it, dispenses pack 1, then records a logger's
      readings on C0 (an excursion)
    the distributor puts C1 on a pallet P2 of its own and ships P2 to the pharmacy, which receives it
    the maker recalls L
    maker2 took part in nothing (a stranger); the regulator sees everything

Decisions (FULL, UP_TO(the event) or NONE = verdict only), per party and object:

    party        pack 1 (C0)  pack 50 (C1)  C0        C1        P         P2        lot L
    regulator    FULL         FULL          FULL      FULL      FULL      FULL      FULL
    maker        FULL         FULL          FULL      FULL      FULL      FULL (1)  FULL
    distributor  ship C0      ship P2       ship C0   ship P2   current   ship P2   ship P2
    pharmacy     current      current       current   current   NONE      current   receive P2
    pharmacy2    NONE         refusal       NONE      refusal   NONE      NONE      refusal
    maker2       NONE         NONE          NONE      NONE      NONE      NONE      NONE

(1) the maker never touched P2: it sees it whole as the manufacturer of the lot on it.
`current`: UP_TO the viewer's last event while the object is still in its hands (nothing has left them
since): it sees everything up to now, as the regulator does (but a lot's pack counts). A pallet's events
before a case joined it or after it left cannot happen on chain (a pallet is packed with its cases, and a
case leaves it only when it is unpacked, which ends it): tests/services/test_access.py covers that rule.
"""

from __future__ import annotations

import re
import uuid
from urllib.parse import quote

import pytest

from app.services import alerts
from tests.world import GTIN_BASE, World, check_digit, module_world

PARTIES = ("regulator", "maker", "distributor", "pharmacy", "pharmacy2", "maker2")
OBJECTS = ("pack1", "pack50", "c0", "c1", "pallet", "pallet2", "lot")
FULL, NONE, CURRENT = "full", "none", "current"
MATRIX = {
    "regulator": dict.fromkeys(OBJECTS, FULL),
    "maker": dict.fromkeys(OBJECTS, FULL),
    "distributor": {"pack1": "ship_c0", "pack50": "ship_p2", "c0": "ship_c0", "c1": "ship_p2", "pallet": CURRENT,
                    "pallet2": "ship_p2", "lot": "ship_p2"},
    "pharmacy": {"pack1": CURRENT, "pack50": CURRENT, "c0": CURRENT, "c1": CURRENT, "pallet": NONE,
                 "pallet2": CURRENT, "lot": "receive_p2"},
    "pharmacy2": {"pack1": NONE, "pack50": "refuse_c1", "c0": NONE, "c1": "refuse_c1", "pallet": NONE,
                  "pallet2": NONE, "lot": "refuse_c1"},
    "maker2": dict.fromkeys(OBJECTS, NONE),
}  # fmt: skip
PAIRS = [(who, what) for who in PARTIES for what in OBJECTS]
LOT_STATUS = {"commissioned", "recalled", "quarantined", "cleared"}  # a lot's own events: its verdict


@pytest.fixture(scope="module")
def mworld(w3, anvil, pg_server, migrated_template, tmp_path_factory):
    with module_world(w3, anvil, pg_server, migrated_template, tmp_path_factory.mktemp("access")) as world:
        yield world


@pytest.fixture(scope="module")
def chain(mworld: World):
    w, p = mworld, mworld.parties
    gtin = check_digit(f"0{GTIN_BASE}{uuid.uuid4().int % 10**5:05d}")
    w.done("maker", w.post("maker", "/v1/products", {
        "gtin": gtin, "name": "Amoxicillin 500 mg", "strength": "500 mg", "dosage_form": "capsule",
        "storage": {"min_celsius": 2, "max_celsius": 8}}))  # fmt: skip
    lot = f"L{uuid.uuid4().hex[:6].upper()}"
    w.done("maker", w.post("maker", "/v1/lots", {"gtin": gtin, "lot": lot, "expiry": "2030-12-31",
           "serial_range": {"prefix": "S", "first": 0, "count": 100, "digits": 10}}))  # fmt: skip
    c0, c1, pallet = w.sscc(), w.sscc(), w.sscc()
    for i, case in enumerate((c0, c1)):
        body = {"sscc": case, "gtin": gtin, "lot": lot, "first_index": i * 40, "count": 40}
        w.done("maker", w.post("maker", "/v1/cases", body))
    w.done("maker", w.post("maker", "/v1/pallets", {"sscc": pallet, "cases": [c0, c1]}))
    ops = {}

    def do(name: str, who: str, path: str, body: dict) -> None:
        ops[name] = w.done(who, w.post(who, path, body))["tx_hash"]

    do("ship_p1", "maker", "/v1/shipments", {"units": [pallet], "to": p["distributor"].gln})
    do("receive_p1", "distributor", "/v1/receipts", {"units": [pallet]})
    do("unpack_p", "distributor", "/v1/unpackings", {"units": [pallet]})
    do("ship_c1", "distributor", "/v1/shipments", {"units": [c1], "to": p["pharmacy2"].gln})
    do("refuse_c1", "pharmacy2", "/v1/refusals", {"units": [c1]})
    do("ship_c0", "distributor", "/v1/shipments", {"units": [c0], "to": p["pharmacy"].gln})
    do("receive_c0", "pharmacy", "/v1/receipts", {"units": [c0]})
    pack = {n: f"(01){gtin}(21)S{n:010d}" for n in (1, 2, 50)}
    do("dispense", "pharmacy", "/v1/dispensations", {"packs": [pack[1]]})
    readings = {"sensor_id": "fridge-1", "start": 1_750_000_000, "interval": 300, "celsius": [5, 12, 6]}
    do("readings", "pharmacy", f"/v1/units/{c0}/readings", readings)
    pallet2 = w.sscc()
    do("pack_p2", "distributor", "/v1/pallets", {"sscc": pallet2, "cases": [c1]})
    do("ship_p2", "distributor", "/v1/shipments", {"units": [pallet2], "to": p["pharmacy"].gln})
    do("receive_p2", "pharmacy", "/v1/receipts", {"units": [pallet2]})
    w.done("maker", w.post("maker", "/v1/lots/recalls", {"gtin": gtin, "lot": lot}))
    codes = {
        "pack1": pack[1],
        "pack50": pack[50],
        "c0": c0,
        "c1": c1,
        "pallet": pallet,
        "pallet2": pallet2,
        "lot": None,
    }
    return {"gtin": gtin, "lot": lot, "codes": codes, "ops": ops, "pack2": pack[2]}


# --------------------------------------------------------------------------------------------- helpers


def get(world: World, who: str, path: str, **query):
    headers = {"Authorization": f"Bearer {world.parties[who].key}"}
    return world.client.get(path, query_string=query or None, headers=headers)


def ok(resp) -> dict:
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()


def verify(world: World, who: str, code: str) -> dict:
    body = ok(get(world, who, "/v1/verify", code=code))
    world.flush_log()
    return body


def provenance_url(chain, what: str) -> str:
    if what == "lot":
        return f"/v1/lots/{chain['gtin']}/{quote(chain['lot'], safe='')}/provenance"
    return f"/v1/units/{quote(chain['codes'][what], safe='')}/provenance"


def position_of(world: World, chain, tx_hash: str) -> tuple[int, int]:
    """The chain position of an operation's event, read off the regulator's timelines."""
    for what in ("c0", "c1", "pallet", "pallet2", "pack1"):
        for e in ok(get(world, "regulator", provenance_url(chain, what)))["timeline"]:
            if e["tx_hash"] == tx_hash:
                return e["block_number"], e["log_index"]
    raise AssertionError(f"no event of {tx_hash}")


def expected_cut(chain, who: str, what: str) -> str | None:
    """The operation whose event ends what `who` sees of `what`, or None (FULL, current or NONE)."""
    decision = MATRIX[who][what]
    return None if decision in (FULL, NONE, CURRENT) else decision


# --------------------------------------------------------------------------------------------- the matrix


@pytest.mark.parametrize(("who", "what"), PAIRS)
def test_provenance_routes(mworld: World, chain, who, what):
    """/v1/units/{code}/provenance, /v1/units/provenance?code= and /v1/lots/{gtin}/{lot}/provenance."""
    decision = MATRIX[who][what]
    urls = [provenance_url(chain, what)]
    if what != "lot":
        urls.append(f"/v1/units/provenance?code={quote(chain['codes'][what], safe='')}")
    whole = ok(get(mworld, "regulator", urls[0]))
    for url in urls:
        resp = get(mworld, who, url)
        if decision == NONE:
            assert resp.status_code == 403 and resp.get_json()["code"] == "not_on_path", (who, what)
            continue
        body = ok(resp)
        if decision == FULL:
            assert body == whole
            continue
        assert body["pack_counts"] is None  # a lot's counts sum up other holders' events: FULL only
        if decision == CURRENT:
            assert {**body, "pack_counts": whole["pack_counts"]} == whole  # nothing has left its hands
            continue
        cut = position_of(mworld, chain, chain["ops"][decision])
        shown = [e for e in whole["timeline"]
                 if (e["block_number"], e["log_index"]) <= cut
                 or (e["subject"]["kind"] == "lot" and e["event"] in LOT_STATUS)]  # fmt: skip
        assert body["timeline"] == shown
        assert max((e["block_number"], e["log_index"]) for e in body["timeline"] if e["subject"]["kind"] != "lot"
                   or e["event"] not in LOT_STATUS) <= cut  # fmt: skip
        assert all(c["since"]["block_number"] <= cut[0] for c in body["containment"])
        assert all(x["block_number"] <= cut[0] for x in body["excursions"])
        named = {e["from"]["account"] for e in body["timeline"]} | {e["to"]["account"] for e in body["timeline"]
                                                                    if e["to"]}  # fmt: skip
        maker = mworld.parties["maker"].account.lower()  # the manufacturer: public master data, not custody
        assert {p["account"] for p in body["parties"]} <= named | {maker}


@pytest.mark.parametrize(("who", "what"), PAIRS)
def test_verification(mworld: World, chain, who, what):
    """GET /v1/verify of packs, cases and pallets (a lot's verification shows no custody to anyone)."""
    decision = MATRIX[who][what]
    code = chain["codes"][what] or f"(01){chain['gtin']}(10){chain['lot']}"
    body, whole = verify(mworld, who, code), verify(mworld, "regulator", code)
    codes = {r["code"] for r in body["reasons"]}
    assert codes - {"not_received_by_requester"} == {r["code"] for r in whole["reasons"]}  # the same verdict
    if what == "lot":
        assert "custody" not in body and "not_received_by_requester" not in codes
        return
    assert ("not_received_by_requester" in codes) == (decision == NONE)
    if decision == NONE:
        assert "custody" not in body and "excursions" not in body
        return
    if decision in (FULL, CURRENT):
        assert body["custody"] == whole["custody"] and body["excursions"] == whole["excursions"]
        return
    tx = chain["ops"][decision]
    path, full_path = body["custody"]["path"], whole["custody"]["path"]
    last = max(i for i, s in enumerate(full_path) if s["tx_hash"] == tx)
    assert path == full_path[: last + 1]  # cut after its own last event
    assert body["excursions"] == [x for x in whole["excursions"] if x["block_number"] <= path[-1]["block_number"]]


def test_the_distributor_sees_up_to_its_shipment_and_not_the_dispense(mworld: World, chain):
    """The issue's example, spelled out on each route."""
    ship = chain["ops"]["ship_c0"]
    pack = verify(mworld, "distributor", chain["codes"]["pack1"])
    assert pack["custody"]["path"][-1]["tx_hash"] == ship and pack["custody"]["path"][-1]["event"] == "shipped"
    assert (
        pack["custody"]["in_transit"] is True and pack["custody"]["holder"]["gln"] == mworld.parties["distributor"].gln
    )
    assert pack["custody"]["recipient"]["gln"] == mworld.parties["pharmacy"].gln
    assert pack["excursions"] == [] and pack["state"]["dispensed"] is True  # the verdict, not who did it
    for what in ("pack1", "c0", "lot"):
        timeline = ok(get(mworld, "distributor", provenance_url(chain, what)))["timeline"]
        events = [e["event"] for e in timeline]
        assert "dispensed" not in events and chain["ops"]["dispense"] not in {e["tx_hash"] for e in timeline}
        assert chain["ops"]["receive_c0"] not in {e["tx_hash"] for e in timeline}
        assert "recalled" in events  # the lot's verdict, whenever it came
        if what != "lot":
            assert timeline[-2]["tx_hash"] == ship and timeline[-1]["event"] == "recalled"


@pytest.mark.parametrize("who", PARTIES)
def test_batch_verification_answers_as_one_by_one(mworld: World, chain, who):
    """POST /v1/verify: each result is the GET answer."""
    codes = [c for c in chain["codes"].values() if c]
    resp = mworld.client.post("/v1/verify", json={"codes": codes},
                              headers={"Authorization": f"Bearer {mworld.parties[who].key}"})  # fmt: skip
    results = ok(resp)["results"]
    mworld.flush_log()
    assert results == [verify(mworld, who, c) for c in codes]


@pytest.mark.parametrize("who", PARTIES)
def test_lvm_says_the_same(mworld: World, chain, who):
    """GS1 LVM (/01/{gtin}/21/{serial}): the verdict only, for everyone; a stranger's answer flags it."""
    for what in ("pack1", "pack50"):
        serial = chain["codes"][what].split("(21)")[1]
        query = {"linkType": "verificationService", "reqGLN": mworld.parties[who].gln,
                 "corrUUID": str(uuid.uuid4()), "context": "dscsaSaleableReturn"}  # fmt: skip
        body = ok(get(mworld, who, f"/01/{chain['gtin']}/21/{serial}", **query))
        mworld.flush_log()
        assert set(body) == {"verificationTimestamp", "corrUUID", "responderGLN", "data"}
        flagged = "not_received_by_requester" in body["data"].get("additionalInfo", "")
        assert flagged == (MATRIX[who][what] == NONE), (who, what)


@pytest.mark.parametrize("who", PARTIES)
def test_lots_and_recalls_list_the_lots_a_party_may_see(mworld: World, chain, who):
    """/v1/lots and /v1/recalls: the lot is listed iff its record is visible (FULL or UP_TO)."""
    visible = MATRIX[who]["lot"] != NONE
    lots = [i["lot"] for i in ok(get(mworld, who, "/v1/lots", gtin=chain["gtin"]))["items"]]
    assert lots == ([chain["lot"]] if visible else [])
    recalls = [i["lot"] for i in ok(get(mworld, who, "/v1/recalls"))["items"] if i["gtin"] == chain["gtin"]]
    assert recalls == ([chain["lot"]] if visible else [])
    if visible:  # the flags are the lot's current verdict, whatever the cut
        assert ok(get(mworld, who, "/v1/lots", gtin=chain["gtin"]))["items"][0]["recalled"] is True


@pytest.fixture(scope="module")
def alert_ids(mworld: World, chain):
    """An alert about pack 1 naming the pharmacy, one about case C1 naming nobody, one about no object
    naming pharmacy2."""
    from app.db import fetch_one

    rule = alerts.RULES[0]  # a declared rule; the module's own database holds no other alert
    with mworld.db.connection() as conn:
        org = {who: fetch_one(conn, "SELECT id FROM organisations WHERE gln = %s", (p.gln,))["id"]
               for who, p in mworld.parties.items()}  # fmt: skip
        pack = fetch_one(conn, "SELECT sgtin_id, lot_id FROM lot_serials WHERE leaf_index = 1 AND lot_id = "
                         "(SELECT lot_id FROM lot_commissions WHERE lot = %s)", (chain["lot"],))  # fmt: skip
        unit = fetch_one(conn, "SELECT case_id FROM ev_case_packed WHERE sscc = %s", (int(chain["codes"]["c1"]),))
        ids = {
            "pack1": alerts.raise_alert(conn, rule, "pack", "s", {}, [org["pharmacy"]], gtin=chain["gtin"],
                                        lot_id=bytes(pack["lot_id"]), sgtin_id=bytes(pack["sgtin_id"]))["id"],
            "c1": alerts.raise_alert(conn, rule, "case", "s", {}, [], unit_id=bytes(unit["case_id"]))["id"],
            "none": alerts.raise_alert(conn, rule, "org", "s", {}, [org["pharmacy2"]])["id"],
        }  # fmt: skip
    return rule, ids


ALERTS_SEEN = {  # regulators, the parties named, the manufacturer of the object (app/services/access.py)
    "regulator": {"pack1", "c1", "none"},
    "maker": {"pack1", "c1"},
    "distributor": set(),  # it took part, up to a cut: an alert's evidence lies after it
    "pharmacy": {"pack1"},
    "pharmacy2": {"none"},
    "maker2": set(),
}


@pytest.mark.parametrize("who", PARTIES)
def test_alerts(mworld: World, alert_ids, who):
    """/v1/alerts and /v1/alerts/{id}: the same alerts listed and shown one by one."""
    rule, ids = alert_ids
    listed = {i["id"] for i in ok(get(mworld, who, "/v1/alerts", rule=rule))["items"]}
    assert listed == {ids[k] for k in ALERTS_SEEN[who]}
    for key, alert_id in ids.items():
        status = get(mworld, who, f"/v1/alerts/{alert_id}").status_code
        assert status == (200 if key in ALERTS_SEEN[who] else 404), (who, key)


@pytest.mark.parametrize("who", PARTIES)
def test_partner_activity_and_operations(mworld: World, chain, who):
    """/v1/partners/{gln}/activity: a regulator any partner's, others their own; /v1/operations/{id}: the
    submitting organisation and regulators."""
    for partner in ("distributor", "pharmacy"):
        resp = get(mworld, who, f"/v1/partners/{mworld.parties[partner].gln}/activity")
        assert resp.status_code == (200 if who in ("regulator", partner) else 403), (who, partner)
        if resp.status_code == 200 and who != "regulator":  # its own events only, under the rule
            rows = resp.get_json()["items"]
            assert rows and not any(r["event"] == "received" and r["role"] == "counterparty" for r in rows)
    resp = get(mworld, who, "/v1/lots")  # any list answers: the operation check below is the point
    assert resp.status_code == 200
    with mworld.db.connection() as conn:
        from app.db import fetch_one

        op = fetch_one(conn, "SELECT id FROM operations WHERE tx_hash = %s",
                       (bytes.fromhex(chain["ops"]["ship_c0"][2:]),))  # fmt: skip
    status = get(mworld, who, f"/v1/operations/{op['id']}").status_code
    assert status == (200 if who in ("regulator", "distributor") else 404)


def epcis_events(world: World, who: str, path: str, **query) -> list[dict] | None:
    """Every page of an EPCIS query as `who` (None: 404, the object is not on its path)."""
    events, resp = [], get(world, who, path, perPage=1000, **query)
    if resp.status_code == 404:
        return None
    body = ok(resp)
    events += body["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
    assert "Link" not in resp.headers  # one page holds this small chain's events
    return events


def _position(event: dict) -> tuple[int, int]:
    return event["pt:blockNumber"], event["pt:logIndex"]


@pytest.mark.parametrize(("who", "what"), [(who, what) for who, what in PAIRS if what != "lot"])
def test_epcis_routes(mworld: World, chain, who, what):
    """/epcis/epcs/{epc}/events, /epcis/events?MATCH_epc= and the resource views (bizStep, disposition, event
    type, bizLocation) of a pack or a unit: the same decision as provenance, event by event (the packs an event
    names are redacted for a partial viewer, tests/api/test_epcis_query.py, so events compare by eventID). A lot's
    class queries differ by design (a partial viewer gets counts where the regulator gets serials): that redaction
    is tested in tests/api/test_epcis_query.py."""
    from app import gs1
    from app.api.fields import VerifiableCode
    from app.services.epcis import cbv

    decision = MATRIX[who][what]
    epc = cbv.epc_uri(gs1.parse(chain["codes"][what], expect=VerifiableCode.kinds))
    whole = epcis_events(mworld, "regulator", f"/epcis/epcs/{quote(epc, safe='')}/events")
    body = epcis_events(mworld, who, f"/epcis/epcs/{quote(epc, safe='')}/events")
    queried = epcis_events(mworld, who, "/epcis/events", MATCH_anyEPC=epc)  # anyEPC: parentID too, as the view
    if decision == NONE:
        assert body is None and queried == [], (who, what)  # the resource is not found; the query finds nothing
        return
    assert [e["eventID"] for e in queried] == [e["eventID"] for e in body]
    ids = [e["eventID"] for e in body]
    if decision in (FULL, CURRENT):
        assert ids == [e["eventID"] for e in whole]
    else:
        cut = position_of(mworld, chain, chain["ops"][decision])
        assert ids == [e["eventID"] for e in whole if _position(e) <= cut or e.get("pt:event") in LOT_STATUS]
    views = {
        "bizSteps": lambda e: e.get("bizStep"),
        "dispositions": lambda e: e.get("disposition"),
        "eventTypes": lambda e: e.get("type"),
        "bizLocations": lambda e: (e.get("bizLocation") or {}).get("id"),
    }
    for view, value_of in views.items():
        for value in {value_of(e) for e in body} - {None}:
            word = value if view == "bizLocations" else value.rsplit("/", 1)[-1]
            sub = epcis_events(mworld, who, f"/epcis/{view}/{quote(word, safe='')}/events", MATCH_anyEPC=epc)
            assert [e["eventID"] for e in sub] == [e["eventID"] for e in body if value_of(e) == value], (view, value)


@pytest.mark.parametrize(("who", "what"), [(who, what) for who, what in PAIRS if what != "lot"])
def test_named_query_events(mworld: World, chain, who, what):
    """GET /epcis/queries/{name}/events (issue 15) answers its owner exactly as GET /epcis/events with the same
    parameters (the same decision, event by event)."""
    import uuid

    from app import gs1
    from app.api.fields import VerifiableCode
    from app.services.epcis import cbv

    epc = cbv.epc_uri(gs1.parse(chain["codes"][what], expect=VerifiableCode.kinds))
    name = f"q{uuid.uuid4().hex[:12]}"
    resp = mworld.post(who, "/epcis/queries", {"name": name, "query": {"MATCH_anyEPC": [epc]}})
    assert resp.status_code == 201, resp.get_json()
    named = epcis_events(mworld, who, f"/epcis/queries/{name}/events")
    queried = epcis_events(mworld, who, "/epcis/events", MATCH_anyEPC=epc)
    assert [e["eventID"] for e in named] == [e["eventID"] for e in queried]
    if MATRIX[who][what] == NONE:
        assert named == []


# --------------------------------------------------------------------------------------------- meta


HTTPS = "https://localhost"  # the session cookie is Secure by default


@pytest.fixture(scope="module")
def page_sessions(mworld: World):
    """A signed-in page session of a quality person at each party (quality may verify in any organisation)."""
    from tests.web.helpers import add_person, sign_in, token

    sessions = {}
    for who in PARTIES:
        email = add_person(mworld.settings.database_url, mworld.parties[who].gln, "quality")
        client = mworld.client.application.test_client()
        assert sign_in(client, email, base_url=HTTPS).status_code == 303
        sessions[who] = (client, token(client, "/pharmacy", base_url=HTTPS))
    return sessions


@pytest.mark.parametrize("who", PARTIES)
def test_the_pharmacist_page_says_the_same(mworld: World, chain, page_sessions, who):
    """POST /pharmacy/check (a person of the party, app/web): the verdict and reasons of /v1/verify for its
    organisation, never more (the page shows no custody)."""
    client, csrf = page_sessions[who]
    for what in ("pack1", "pack50"):
        api = verify(mworld, who, chain["codes"][what])
        page = client.post("/pharmacy/check", data={"code": chain["codes"][what], "csrf_token": csrf},
                           headers={"HX-Request": "true"}, base_url=HTTPS)  # fmt: skip
        html = page.get_data(as_text=True)
        assert page.status_code == 200 and f'data-verdict="{api["verdict"]}"' in html, (who, what)
        assert re.findall(r'data-reason="([a-z_]+)"', html) == [r["code"] for r in api["reasons"]], (who, what)
        assert not any(p.gln in html for p in mworld.parties.values())  # no party named on the page


@pytest.mark.parametrize("who", PARTIES)
def test_the_investigate_page_says_the_same(mworld: World, chain, page_sessions, who):
    """GET /investigate?code= (a quality person of the party): the provenance timeline the API shows its
    organisation, event for event, and the same refusal where it may see the verdict only."""
    client, _ = page_sessions[who]
    for what in OBJECTS:
        api = get(mworld, who, provenance_url(chain, what))
        code = chain["codes"][what] or f"(01){chain['gtin']}(10){chain['lot']}"
        page = client.get("/investigate", query_string={"code": code}, base_url=HTTPS)
        assert page.status_code == api.status_code, (who, what)
        if api.status_code == 403:
            assert MATRIX[who][what] == NONE and "took no part" in page.get_data(as_text=True)
            continue
        shown = re.findall(r'<tr data-event="([a-z_]+)">', page.get_data(as_text=True))
        assert shown == [e["event"] for e in api.get_json()["timeline"]], (who, what)


@pytest.mark.parametrize("who", PARTIES)
def test_the_alerts_page_says_the_same(mworld: World, alert_ids, page_sessions, who):
    """GET /alerts (a quality person of the party): the alerts GET /v1/alerts lists for its organisation."""
    _, ids = alert_ids
    client, _ = page_sessions[who]
    page = client.get("/alerts", base_url=HTTPS)
    listed = ok(get(mworld, who, "/v1/alerts"))["items"]
    shown = [int(i) for i in re.findall(r'data-alert="(\d+)"', page.get_data(as_text=True))]
    assert shown == [a["id"] for a in listed] and set(shown) == {ids[k] for k in ALERTS_SEEN[who]}, who


@pytest.mark.parametrize("who", PARTIES)
def test_the_recalls_page_says_the_same(mworld: World, chain, page_sessions, who):
    """GET /recalls (a quality person of the party): the recalled lots GET /v1/recalls lists for its organisation."""
    client, _ = page_sessions[who]
    shown = re.findall(r'<tr data-lot="([^"]+)">', client.get("/recalls", base_url=HTTPS).get_data(as_text=True))
    assert shown == [r["lot"] for r in ok(get(mworld, who, "/v1/recalls"))["items"]], who
    assert (chain["lot"] in shown) == (MATRIX[who]["lot"] != NONE), who


# The pages' routes (app/web: HTML for people, not in the OpenAPI document) that read anything, and the test that
# drives them or why they show no object's record.
PAGE_READS = {
    ("post", "/pharmacy/check"): test_the_pharmacist_page_says_the_same,
    ("get", "/pharmacy/operations/{operation_id}"): "the person's organisation's own operation (outbox.get: "
    "may_see_operation), as /v1/operations/{operation_id}",
    ("get", "/audit"): "people's actions, no object's record: audit_scope (tests/web/test_accounts.py)",
    ("get", "/audit.csv"): "the same rows as /audit, as CSV",
    ("get", "/admin/people"): "the person's organisation's own people (admins only: tests/web/test_accounts.py)",
    ("get", "/investigate"): test_the_investigate_page_says_the_same,
    ("get", "/alerts"): test_the_alerts_page_says_the_same,
    ("get", "/recalls"): test_the_recalls_page_says_the_same,
    ("post", "/recalls"): "the recall's confirmation page: the lot's verification, which shows no custody to anyone "
    "(test_verification's lot column), then the recall write",
}


def test_every_page_that_reads_is_listed(mworld: World):
    app = mworld.client.application
    pages = {
        (method.lower(), re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule.rule))
        for rule in app.url_map.iter_rules()
        if rule.endpoint.partition(".")[0] in app.config["SESSION_BLUEPRINTS"]
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    # sign-in, sign-out, invitations, writes and assets: no read of any object or record
    no_read = {("get", "/"), ("get", "/login"), ("post", "/login"), ("post", "/logout"), ("post", "/logout-everywhere"),
               ("get", "/pharmacy"), ("post", "/pharmacy/dispense"), ("post", "/pharmacy/undo-dispense"),
               ("post", "/admin/people"), ("post", "/admin/people/{person_id}/disable"), ("get", "/invite/{token}"),
               ("post", "/invite/{token}"), ("get", "/assets/{name}"),
               ("post", "/alerts/{alert_id}/{step}")}  # fmt: skip
    assert pages - no_read == set(PAGE_READS)


# Read routes that show no object's record, and why.
NO_OBJECT_RECORD = {
    ("get", "/healthz"): "liveness: no data",
    ("get", "/readyz"): "readiness: no data",
    ("get", "/metrics"): "process counters, no object",
    ("get", "/v1/me"): "the caller's own organisation",
    ("get", "/v1/products"): "the public product registry (master data, README): no custody",
    ("get", "/v1/products/{gtin}"): "one product of the public registry",
    ("get", "/checkConnectivity"): "LVM connectivity check: no object",
    ("get", "/epcis/capture/{capture_id}"): "a capture job: the submitting organisation's own request (others: 404)",
    ("get", "/epcis/queries"): "the caller's organisation's named query definitions (no event)",
    ("get", "/epcis/queries/{name}"): "one named query definition of the caller's organisation (others: 404)",
    ("get", "/epcis/queries/{name}/subscriptions"): "the caller's organisation's webhook subscriptions (no event)",
    ("get", "/epcis/queries/{name}/subscriptions/{subscription_id}"): "one subscription of the caller's own",
}
# Read routes the matrix above drives, with the test that does.
IN_THE_MATRIX = {
    ("get", "/v1/verify"): test_verification,
    ("post", "/v1/verify"): test_batch_verification_answers_as_one_by_one,
    ("get", "/01/{gtin}/21/{serial}"): test_lvm_says_the_same,
    ("get", "/v1/units/{code}/provenance"): test_provenance_routes,
    ("get", "/v1/units/provenance"): test_provenance_routes,
    ("get", "/v1/lots/{gtin}/{lot}/provenance"): test_provenance_routes,
    ("get", "/v1/lots"): test_lots_and_recalls_list_the_lots_a_party_may_see,
    ("get", "/v1/recalls"): test_lots_and_recalls_list_the_lots_a_party_may_see,
    ("get", "/v1/alerts"): test_alerts,
    ("get", "/v1/alerts/{alert_id}"): test_alerts,
    ("get", "/v1/partners/{gln}/activity"): test_partner_activity_and_operations,
    ("get", "/v1/operations/{operation_id}"): test_partner_activity_and_operations,
    ("get", "/epcis/epcs/{epc}/events"): test_epcis_routes,
    ("get", "/epcis/events"): test_epcis_routes,
    ("get", "/epcis/bizSteps/{biz_step}/events"): test_epcis_routes,
    ("get", "/epcis/dispositions/{disposition}/events"): test_epcis_routes,
    ("get", "/epcis/eventTypes/{event_type}/events"): test_epcis_routes,
    ("get", "/epcis/bizLocations/{location}/events"): test_epcis_routes,
    ("get", "/epcis/queries/{name}/events"): test_named_query_events,
}


def test_every_read_route_is_in_the_matrix_or_shows_no_object(mworld: World):
    spec = ok(mworld.client.get("/openapi.json"))
    reads = {(method, path) for path, item in spec["paths"].items() for method in item
             if method == "get" or (method, path) == ("post", "/v1/verify")}  # fmt: skip
    missing = reads - set(IN_THE_MATRIX) - set(NO_OBJECT_RECORD)
    assert not missing, f"read routes neither in the access matrix nor listed as showing no object: {missing}"
    stale = (set(IN_THE_MATRIX) | set(NO_OBJECT_RECORD)) - reads
    assert not stale, f"routes listed here that the OpenAPI document no longer has: {stale}"
    assert not set(IN_THE_MATRIX) & set(NO_OBJECT_RECORD)
