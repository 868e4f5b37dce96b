"""Alerts: the detector's upsert (app.services.alerts.raise_alert) and the review API.

Alerts are raised directly with raise_alert, as the detector does, into a real database; the
parties and their API keys are the module's world (tests/api/test_regulator.py).
"""

from __future__ import annotations

import itertools
import threading
import uuid
from datetime import UTC, datetime

import pytest

from app.db import connect, fetch_one
from app.ids import lgtin_id, sscc_id
from app.services import alerts
from tests.api.test_regulator import fresh_world, get, ok, walk
from tests.world import GTIN_BASE, World, check_digit, group


@pytest.fixture(scope="module")
def mworld(w3, anvil, pg_server, migrated_template, tmp_path_factory):
    with fresh_world(w3, anvil, pg_server, migrated_template, tmp_path_factory.mktemp("alerts")) as world:
        yield world


@pytest.fixture(scope="module")
def org(mworld: World) -> dict[str, int]:
    """Organisation id by party."""
    with mworld.db.connection() as conn:
        return {
            who: fetch_one(conn, "SELECT id FROM organisations WHERE gln = %s", (party.gln,))["id"]
            for who, party in mworld.parties.items()
        }


def raise_(world: World, rule: str, subject: str, **kwargs) -> dict:
    kwargs.setdefault("summary", f"{rule} on {subject}")
    kwargs.setdefault("evidence", {})
    kwargs.setdefault("parties", [])
    with world.db.connection() as conn:
        return alerts.raise_alert(conn, rule, subject, **kwargs)


def row(world: World, alert_id: int) -> dict:
    with world.db.connection() as conn:
        return fetch_one(conn, "SELECT * FROM alerts WHERE id = %s", (alert_id,))


_RULES = itertools.cycle(alerts.RULES)


@pytest.fixture(autouse=True)
def no_alerts(mworld: World):
    """Each test starts with no alert, so that filters by rule see only its own."""
    with mworld.db.connection() as conn, conn.cursor() as cur:
        cur.execute("DELETE FROM alerts")


def rule_name() -> str:
    """A declared detection rule (alerts.RULES), another one at each call."""
    return next(_RULES)


def post(world: World, who: str, path: str, body=None):
    return world.post(who, path, body)


# --------------------------------------------------------------------------- raise_alert


def test_a_repeat_adds_to_the_live_alert(mworld: World, org):
    rule, lot_id = rule_name(), bytes(range(32))
    first = raise_(mworld, rule, "pack-1", summary="seen once", evidence={"at": "A"}, parties=[org["maker"]],
                   severity="low")  # fmt: skip
    assert first["created"] is True and first["occurrences"] == 1
    before = row(mworld, first["id"])
    second = raise_(mworld, rule, "pack-1", summary="seen twice", evidence={"at": "B"},
                    parties=[org["pharmacy"], org["maker"]], severity="high", gtin="09506000134352", lot_id=lot_id)  # fmt: skip
    assert second == {"id": first["id"], "occurrences": 2, "created": False}
    third = raise_(mworld, rule, "pack-1", evidence={"at": "C"}, parties=[org["distributor"], None], severity="medium")
    assert third["id"] == first["id"] and third["occurrences"] == 3
    after = row(mworld, first["id"])
    assert after["evidence"] == [{"at": "A"}, {"at": "B"}, {"at": "C"}]
    assert after["parties"] == sorted([org["maker"], org["pharmacy"], org["distributor"]])
    assert after["severity"] == "high"  # a repeat never lowers it
    assert after["summary"] == f"{rule} on pack-1"  # the latest occurrence's
    assert after["gtin"] == 9506000134352 and bytes(after["lot_id"]) == lot_id  # filled in by a repeat
    assert after["first_seen"] == before["first_seen"] and after["last_seen"] > before["last_seen"]
    assert after["status"] == "open"
    other = raise_(mworld, rule, "pack-2")
    assert other["created"] is True and other["id"] != first["id"]


def test_evidence_keeps_the_last_twenty_occurrences(mworld: World):
    rule = rule_name()
    for n in range(25):
        result = raise_(mworld, rule, "s", evidence={"n": n})
    assert result["occurrences"] == 25
    assert row(mworld, result["id"])["evidence"] == [{"n": n} for n in range(5, 25)]


def test_evidence_values_become_json(mworld: World):
    at = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
    result = raise_(mworld, rule_name(), "s", evidence={"unit": b"\x01\xff", "at": at, "seen": ("a", "b")})
    assert row(mworld, result["id"])["evidence"] == [
        {"unit": "0x01ff", "at": "2025-01-02T03:04:05+00:00", "seen": ["a", "b"]}
    ]


def test_raise_alert_refuses_what_is_not_an_alert(mworld: World):
    with pytest.raises(ValueError, match="severity"):
        raise_(mworld, rule_name(), "s", severity="urgent")
    with pytest.raises(TypeError, match="evidence"):
        raise_(mworld, rule_name(), "s", evidence=["not", "a", "dict"])
    with pytest.raises(TypeError, match="parties"):
        raise_(mworld, rule_name(), "s", parties=["maker"])
    with pytest.raises(ValueError, match="non-empty"):
        raise_(mworld, "", "s")
    with pytest.raises(ValueError, match="not a detection rule"):
        raise_(mworld, "no_such_rule", "s")


def test_concurrent_raises_never_open_two_live_alerts(mworld: World):
    rule, errors = rule_name(), []

    start = threading.Barrier(4)

    def fire():
        conn = connect(mworld.settings.require_database_url())  # a session of its own, as each detector has
        try:
            start.wait()
            for _ in range(5):
                with conn:
                    alerts.raise_alert(conn, rule, "s", "seen", {"t": threading.get_ident()}, [])
        except Exception as exc:  # collected and asserted below: a thread's failure must fail the test
            errors.append(exc)
        finally:
            conn.close()

    threads = [threading.Thread(target=fire) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with mworld.db.connection() as conn:
        found = fetch_one(conn, "SELECT count(*) AS n, sum(occurrences) AS total FROM alerts WHERE rule = %s", (rule,))
    assert (found["n"], found["total"]) == (1, 20)


def test_closing_frees_the_rule_and_subject_for_a_new_alert(mworld: World):
    rule = rule_name()
    old = raise_(mworld, rule, "s")
    ok(post(mworld, "regulator", f"/v1/alerts/{old['id']}/close", {"resolution": "false positive"}))
    new = raise_(mworld, rule, "s", evidence={"again": True})
    assert new["created"] is True and new["id"] != old["id"]
    assert row(mworld, old["id"])["status"] == "closed" and row(mworld, old["id"])["occurrences"] == 1


# --------------------------------------------------------------------------- reading


def test_an_alert_as_the_api_shows_it(mworld: World, org):
    rule, lot_id, unit_id = rule_name(), bytes([7]) * 32, bytes([9]) * 32
    made = raise_(mworld, rule, "lot-x", summary="recalled lot scanned", evidence={"gln": "123"},
                  parties=[org["maker"], org["pharmacy"]], severity="medium", gtin=9506000134352, lot_id=lot_id,
                  unit_id=unit_id)  # fmt: skip
    body = ok(get(mworld, "regulator", f"/v1/alerts/{made['id']}"))
    assert body["id"] == made["id"] and body["rule"] == rule and body["subject"] == "lot-x"
    assert (body["status"], body["severity"], body["occurrences"]) == ("open", "medium", 1)
    assert body["summary"] == "recalled lot scanned" and body["evidence"] == [{"gln": "123"}]
    assert body["gtin"] == "09506000134352" and body["lot_id"] == "0x" + lot_id.hex()
    assert body["unit_id"] == "0x" + unit_id.hex() and body["sgtin_id"] is None
    assert {p["name"] for p in body["parties"]} == {"Acme Pharma", "Riverside Pharmacy"}
    assert {p["gln"] for p in body["parties"]} == {mworld.parties["maker"].gln, mworld.parties["pharmacy"].gln}
    assert body["acknowledged_by"] is None and body["closed_by"] is None and body["resolution"] is None
    assert body["first_seen"] and body["last_seen"]


def test_each_party_sees_only_the_alerts_naming_it(mworld: World, org):
    rule = rule_name()
    shared = raise_(mworld, rule, "a", parties=[org["maker"], org["pharmacy"]])["id"]
    mine = raise_(mworld, rule, "b", parties=[org["pharmacy2"]])["id"]
    nobody = raise_(mworld, rule, "c")["id"]

    def ids(who):
        return [a["id"] for a in ok(get(mworld, who, "/v1/alerts", rule=rule))["items"]]

    assert ids("regulator") == [nobody, mine, shared]  # newest first
    assert ids("maker") == ids("pharmacy") == [shared]
    assert ids("pharmacy2") == [mine]
    assert ids("maker2") == ids("distributor") == []
    assert get(mworld, "maker", f"/v1/alerts/{shared}").status_code == 200
    for who, alert_id in (("pharmacy2", shared), ("maker", mine), ("maker", nobody)):
        resp = get(mworld, who, f"/v1/alerts/{alert_id}")
        assert resp.status_code == 404 and resp.content_type == "application/problem+json"
        assert post(mworld, who, f"/v1/alerts/{alert_id}/acknowledge").status_code == 404
        assert post(mworld, who, f"/v1/alerts/{alert_id}/close", {"resolution": "x"}).status_code == 404
    assert row(mworld, shared)["status"] == row(mworld, nobody)["status"] == "open"  # nothing changed


def test_a_tote_of_two_manufacturers_lots_shows_its_alerts_to_both(mworld: World):
    """Issue 14 review #11: the manufacturers of a unit are one rule (SQL unit_manufacturers); the alert list and
    the alert itself once knew only a case's and a pallet's cases' lots, so neither maker saw a tote's alert."""
    w, pt = mworld, mworld.pt
    expiry = w.w3.eth.get_block("latest").timestamp + 365 * 86400
    sources = []
    for who in ("maker", "maker2"):
        gtin = check_digit(f"0{GTIN_BASE}{uuid.uuid4().int % 10**5:05d}")
        w.act(who, pt.functions.registerProduct(int(gtin), 2, 25))
        w.act(who, pt.functions.commissionLot(int(gtin), "TOTE1", expiry, 10, b"\x11" * 32))
        case = w.sscc()
        w.act(who, pt.functions.packCase(int(case), lgtin_id(gtin, "TOTE1"), 0, 10))
        w.deliver([sscc_id(case)], who, "distributor")
        sources.append(group(sscc_id(case), lgtin_id(gtin, "TOTE1"), [0, 1]))
    _, tote = w.tote("distributor", sources)
    rule = rule_name()
    made = raise_(w, rule, "tote", unit_id=tote)["id"]
    for who in ("maker", "maker2", "regulator"):
        assert [a["id"] for a in ok(get(w, who, "/v1/alerts", rule=rule))["items"]] == [made], who
        assert get(w, who, f"/v1/alerts/{made}").status_code == 200, who
    for who in ("pharmacy", "distributor"):  # not named on it, made nothing in it
        assert ok(get(w, who, "/v1/alerts", rule=rule))["items"] == [], who
        assert get(w, who, f"/v1/alerts/{made}").status_code == 404, who


def test_alerts_filter_by_status_and_rule(mworld: World, org):
    rule = rule_name()
    a, b, c = (raise_(mworld, rule, s)["id"] for s in "abc")
    ok(post(mworld, "regulator", f"/v1/alerts/{b}/acknowledge"))
    ok(post(mworld, "regulator", f"/v1/alerts/{c}/close", {"resolution": "done"}))

    def ids(**params):
        return [x["id"] for x in ok(get(mworld, "regulator", "/v1/alerts", rule=rule, **params))["items"]]

    assert ids() == [c, b, a]
    assert ids(status="open") == [a] and ids(status="acknowledged") == [b] and ids(status="closed") == [c]
    assert ok(get(mworld, "regulator", "/v1/alerts", rule=rule_name()))["items"] == []
    everything = [x["id"] for x in walk(mworld, "regulator", "/v1/alerts", 500)]
    assert {a, b, c} <= set(everything)


def test_alert_pages_walk_without_gaps_or_repeats(mworld: World, org):
    rule = rule_name()
    made = [raise_(mworld, rule, f"s{i}", parties=[org["distributor"]])["id"] for i in range(7)]
    for limit in (1, 2, 3, 7):
        walked = [x["id"] for x in walk(mworld, "regulator", "/v1/alerts", limit, rule=rule)]
        assert walked == made[::-1]
    assert [x["id"] for x in walk(mworld, "distributor", "/v1/alerts", 2, rule=rule)] == made[::-1]
    # a page walk is stable while new alerts arrive: they sort before the cursor
    first = ok(get(mworld, "regulator", "/v1/alerts", rule=rule, limit=3))
    raise_(mworld, rule, "late")
    rest = ok(get(mworld, "regulator", "/v1/alerts", rule=rule, limit=10, cursor=first["next"]))
    assert [x["id"] for x in first["items"] + rest["items"]] == made[::-1]


# --------------------------------------------------------------------------- the review workflow


def test_open_acknowledged_closed(mworld: World, org):
    alert_id = raise_(mworld, rule_name(), "s", parties=[org["pharmacy"], org["maker"]])["id"]
    acked = ok(post(mworld, "pharmacy", f"/v1/alerts/{alert_id}/acknowledge", {"note": "pack put aside"}))
    assert acked["status"] == "acknowledged" and acked["acknowledged_at"]
    assert acked["acknowledged_by"]["id"] == org["pharmacy"]
    assert acked["acknowledged_by"]["name"] == "Riverside Pharmacy"
    assert acked["evidence"][-1]["acknowledgement"] == "pack put aside"
    # the pharmacy may be what the alert is about: it acknowledges, it does not close
    refused = post(mworld, "pharmacy", f"/v1/alerts/{alert_id}/close", {"resolution": "all fine"})
    assert refused.status_code == 403 and refused.get_json()["code"] == "close_not_permitted"
    assert row(mworld, alert_id)["status"] == "acknowledged"
    closed = ok(post(mworld, "maker", f"/v1/alerts/{alert_id}/close", {"resolution": "  genuine pack, relabelled  "}))
    assert closed["status"] == "closed" and closed["resolution"] == "genuine pack, relabelled"
    assert closed["closed_by"]["id"] == org["maker"] and closed["closed_at"]
    assert closed["acknowledged_by"]["id"] == org["pharmacy"]  # the history stays
    assert ok(get(mworld, "regulator", f"/v1/alerts/{alert_id}")) == closed


def test_open_closed_directly_by_a_regulator(mworld: World):
    alert_id = raise_(mworld, rule_name(), "s")["id"]
    closed = ok(post(mworld, "regulator", f"/v1/alerts/{alert_id}/close", {"resolution": "duplicate of 12"}))
    assert closed["status"] == "closed" and closed["acknowledged_by"] is None
    assert closed["closed_by"]["name"] == "Medicines Agency"


def test_acknowledging_needs_no_body(mworld: World):
    alert_id = raise_(mworld, rule_name(), "s", evidence={"k": 1})["id"]
    acked = ok(post(mworld, "regulator", f"/v1/alerts/{alert_id}/acknowledge"))
    assert acked["status"] == "acknowledged" and acked["evidence"] == [{"k": 1}]


@pytest.mark.parametrize(
    ("steps", "refused", "status_now"),
    [
        (["acknowledge"], "acknowledge", "acknowledged"),
        (["close"], "close", "closed"),
        (["close"], "acknowledge", "closed"),
        (["acknowledge", "close"], "acknowledge", "closed"),
        (["acknowledge", "close"], "close", "closed"),
    ],
)
def test_other_transitions_are_409_naming_the_rule(mworld: World, steps, refused, status_now):
    rule = rule_name()
    alert_id = raise_(mworld, rule, "s")["id"]
    bodies = {"acknowledge": {}, "close": {"resolution": "handled"}}
    for step in steps:
        ok(post(mworld, "regulator", f"/v1/alerts/{alert_id}/{step}", bodies[step]))
    before = row(mworld, alert_id)
    resp = post(mworld, "regulator", f"/v1/alerts/{alert_id}/{refused}", bodies[refused])
    assert resp.status_code == 409 and resp.content_type == "application/problem+json"
    body = resp.get_json()
    assert body["code"] == "alert_transition" and body["alert_rule"] == rule and body["status_now"] == status_now
    assert rule in body["detail"] and status_now in body["detail"]
    assert body["errors"]["json"]["status"][0].startswith("alert_transition:")
    assert row(mworld, alert_id) == before  # nothing changed


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("action", "body", "field", "rule"),
    [
        ("close", {}, "resolution", "required:"),
        ("close", {"resolution": ""}, "resolution", "non_empty:"),
        ("close", {"resolution": "   "}, "resolution", "non_empty:"),
        ("close", {"resolution": "x" * 2001}, "resolution", "length:"),
        ("close", {"resolution": 5}, "resolution", ""),
        ("close", {"resolution": "a\x00b"}, "resolution", "charset:"),
        ("acknowledge", {"note": ""}, "note", "length:"),
        ("acknowledge", {"note": "nul\x00"}, "note", "charset:"),
        ("acknowledge", {"note": ["a"]}, "note", ""),
    ],
)
def test_bad_transition_bodies_are_422(mworld: World, action, body, field, rule):
    alert_id = raise_(mworld, rule_name(), "s")["id"]
    resp = post(mworld, "regulator", f"/v1/alerts/{alert_id}/{action}", body)
    assert resp.status_code == 422, resp.get_json()
    messages = resp.get_json()["errors"]["json"][field]
    assert messages[0].startswith(rule), messages
    assert row(mworld, alert_id)["status"] == "open"


@pytest.mark.parametrize(
    ("params", "field", "rule"),
    [
        ({"status": "pending"}, "status", "one_of:"),
        ({"limit": "0"}, "limit", "range:"),
        ({"limit": "many"}, "limit", "integer:"),
        ({"cursor": "%%%"}, "cursor", "cursor:"),
        ({"cursor": "WyJhbGVydHMiLDEsMl0"}, "cursor", "cursor:"),  # ["alerts",1,2]: wrong size
        ({"rule": "r" * 101}, "rule", "one_of:"),
        ({"rule": "no_such_rule"}, "rule", "one_of: must be one of clone, "),
        ({"rule": "a\x00"}, "rule", "charset:"),
    ],
)
def test_bad_list_parameters_are_422(mworld: World, params, field, rule):
    resp = get(mworld, "regulator", "/v1/alerts", **params)
    assert resp.status_code == 422, resp.get_json()
    assert resp.get_json()["errors"]["query"][field][0].startswith(rule)


def test_unknown_alerts_are_404(mworld: World):
    for alert_id in ("999999999", "0", str(2**70)):
        resp = get(mworld, "regulator", f"/v1/alerts/{alert_id}")
        assert resp.status_code == 404, (alert_id, resp.get_json())
        assert post(mworld, "regulator", f"/v1/alerts/{alert_id}/acknowledge").status_code == 404
    assert get(mworld, "regulator", "/v1/alerts/abc").status_code == 404


def test_alerts_need_an_api_key(mworld: World):
    alert_id = raise_(mworld, rule_name(), "s")["id"]
    assert mworld.client.get("/v1/alerts").status_code == 401
    assert mworld.client.get(f"/v1/alerts/{alert_id}").status_code == 401
    assert mworld.client.post(f"/v1/alerts/{alert_id}/close", json={"resolution": "x"}).status_code == 401
