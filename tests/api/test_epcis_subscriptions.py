"""EPCIS named queries and webhook subscriptions (issue 15): CRUD and ownership, bad input, and delivery to a real
local HTTP receiver by the delivery loop (app/services/epcis/subscriptions.Deliverer, what `pharmatrack deliver`
runs): every matching event once, across a restart of the loop, signed (GS1-Signature), retried with backoff.

The clock of the loop is given (no waiting in tests): a retry is due when the test moves the clock past it."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import quote

import pytest

from app.db import subscriptions as store
from app.services.epcis import cbv
from app.services.epcis.subscriptions import Deliverer, next_run
from tests import epcis_scenario
from tests.world import World, module_world

TOKEN = "13df38d8275b13f05704629e5f1cf3d45d6132d5"


@pytest.fixture(scope="module")
def world(w3, anvil, pg_server, migrated_template, tmp_path_factory) -> Iterator[World]:
    with module_world(w3, anvil, pg_server, migrated_template, tmp_path_factory.mktemp("epcis-subs")) as built:
        yield built


@pytest.fixture(scope="module")
def chain(world: World) -> dict:
    return epcis_scenario.build(world)


class Receiver:
    """A webhook endpoint on 127.0.0.1: records every POST (headers by lower-case name, body); answers the
    statuses queued in `fail` first, then 200."""

    def __init__(self):
        self.received: list[tuple[dict, bytes]] = []
        self.fail: list[int] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
                status = receiver.fail.pop(0) if receiver.fail else 200
                self.send_response(status)
                if 300 <= status < 400:
                    self.send_header("Location", receiver.url + "/elsewhere")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):  # quiet
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def events(self) -> list[dict]:
        out = []
        for _, body in self.received:
            out += json.loads(body)["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
        return out

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def auth(world: World, who: str) -> dict:
    return {"Authorization": f"Bearer {world.parties[who].key}"}


def create_query(world: World, who: str, query: dict) -> str:
    name = f"q-{uuid.uuid4().hex[:10]}"
    resp = world.post(who, "/epcis/queries", {"name": name, "query": query})
    assert resp.status_code == 201, resp.get_json()
    return name


def subscribe(world: World, who: str, name: str, body: dict) -> dict:
    resp = world.post(who, f"/epcis/queries/{name}/subscriptions", body)
    assert resp.status_code == 201, resp.get_json()
    assert resp.headers["Location"].endswith(resp.get_json()["subscriptionID"])
    return resp.get_json()


def all_events(world: World, who: str, url: str) -> list[dict]:
    resp = world.client.get(f"{url}?perPage=1000", headers=auth(world, who))
    assert resp.status_code == 200, resp.get_json()
    assert "Link" not in resp.headers
    return resp.get_json()["epcisBody"]["queryResults"]["resultsBody"]["eventList"]


def local(db, **kwargs) -> Deliverer:
    """A delivery loop that may POST to the test's receiver on 127.0.0.1."""
    return Deliverer(db, allow_private=True, **kwargs)


def drain(deliverer: Deliverer) -> None:
    """Rounds until a round handles nothing (each round: scan, then deliver what is due)."""
    while deliverer.run_once():
        pass


# --------------------------------------------------------------------------------------------- named queries


def test_named_query_crud_and_ownership(world, chain):
    query = {"EQ_bizStep": ["shipping", "receiving"], "eventType": "ObjectEvent"}
    name = create_query(world, "maker", query)
    one = world.client.get(f"/epcis/queries/{name}", headers=auth(world, "maker"))
    assert one.status_code == 200 and one.get_json()["query"] == query and one.get_json()["name"] == name
    listed = world.client.get("/epcis/queries", headers=auth(world, "maker")).get_json()
    assert name in [q["name"] for q in listed]
    assert world.post("maker", "/epcis/queries", {"name": name, "query": {}}).status_code == 409
    # another organisation: nothing of it, not even that it exists; it may use the same name for its own
    for path in (f"/epcis/queries/{name}", f"/epcis/queries/{name}/events", f"/epcis/queries/{name}/subscriptions"):
        assert world.client.get(path, headers=auth(world, "distributor")).status_code == 404, path
    assert world.client.delete(f"/epcis/queries/{name}", headers=auth(world, "distributor")).status_code == 404
    assert name not in [
        q["name"] for q in world.client.get("/epcis/queries", headers=auth(world, "distributor")).get_json()
    ]
    resp = world.post("distributor", "/epcis/queries", {"name": name, "query": {"EQ_bizStep": "shipping"}})
    assert resp.status_code == 201
    assert world.client.get(f"/epcis/queries/{name}", headers=auth(world, "maker")).get_json()["query"] == query
    # run: the same as GET /epcis/events with its parameters
    ran = all_events(world, "maker", f"/epcis/queries/{name}/events")
    direct = world.client.get("/epcis/events?EQ_bizStep=shipping,receiving&eventType=ObjectEvent&perPage=1000",
                              headers=auth(world, "maker")).get_json()  # fmt: skip
    assert ran and [e["eventID"] for e in ran] == [
        e["eventID"] for e in direct["epcisBody"]["queryResults"]["resultsBody"]["eventList"]]  # fmt: skip
    assert world.client.delete(f"/epcis/queries/{name}", headers=auth(world, "maker")).status_code == 204
    assert world.client.get(f"/epcis/queries/{name}", headers=auth(world, "maker")).status_code == 404
    assert world.client.get(f"/epcis/queries/{name}", headers=auth(world, "distributor")).status_code == 200


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"query": {}}, "name"),
        ({"name": "has space", "query": {}}, "name"),
        ({"name": "x", "query": []}, "query"),
        ({"name": "x", "query": {"colour": "red"}}, "query.colour"),
        ({"name": "x", "query": {"EQ_bizStep": ["teleporting"]}}, "query.EQ_bizStep"),
        ({"name": "x", "query": {"GE_eventTime": "yesterday"}}, "query.GE_eventTime"),
        ({"name": "x", "query": {"eventType": [3]}}, "query.eventType"),
        ({"name": "x", "query": {"perPage": "5"}}, "query.perPage"),
        ({"name": "x", "query": {"EQ_eventID": "a\x00b"}}, "query.EQ_eventID"),
        ({"name": "x", "query": {}, "colour": 1}, "colour"),
    ],
)
def test_a_bad_query_definition_is_400_naming_the_field(world, chain, body, field):
    resp = world.post("maker", "/epcis/queries", body)
    got = resp.get_json()
    assert resp.status_code == 400, got
    assert got["field"] == field and field in got["detail"], got


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"stream": True}, "dest"),
        ({"dest": "ftp://example.com/x", "stream": True}, "dest"),
        ({"dest": "https://", "stream": True}, "dest"),
        ({"dest": "https://example.com/x"}, "stream"),
        ({"dest": "https://example.com/x", "stream": True, "schedule": {"minute": "5"}}, "stream"),
        ({"dest": "https://example.com/x", "stream": "yes"}, "stream"),
        ({"dest": "https://example.com/x", "schedule": {"hour": "25"}}, "schedule.hour"),
        ({"dest": "https://example.com/x", "schedule": {"minute": "[9-2]"}}, "schedule.minute"),
        ({"dest": "https://example.com/x", "schedule": {"fortnight": "1"}}, "schedule.fortnight"),
        ({"dest": "https://example.com/x", "schedule": {"month": "2", "dayOfMonth": "31"}}, "schedule"),
        ({"dest": "https://example.com/x", "stream": True, "signatureToken": 7}, "signatureToken"),
        ({"dest": "https://example.com/x", "stream": True, "reportIfEmpty": True}, "reportIfEmpty"),
        (
            {"dest": "https://example.com/x", "stream": True, "initialRecordTime": "2026-01-01T00:00:00"},
            "initialRecordTime",
        ),
        ({"dest": "https://example.com/x", "stream": True, "secret": "x"}, "secret"),
        ({"dest": "https://example.com/x", "stream": True, "initialRecordTime": None}, "initialRecordTime"),
        ({"dest": "https://example.com/x", "stream": True, "schedule": None}, "schedule"),
        ({"dest": "https://example.com/\x00", "stream": True}, "dest"),
        ({"dest": "https://example.com/x", "stream": True, "signatureToken": "a\x00"}, "signatureToken"),
    ],
)
def test_a_bad_subscription_is_400_naming_the_field(world, chain, body, field):
    name = create_query(world, "maker", {"EQ_bizStep": "shipping"})
    resp = world.post("maker", f"/epcis/queries/{name}/subscriptions", body)
    got = resp.get_json()
    assert resp.status_code == 400, got
    assert got["field"] == field, got


def test_subscription_crud(world, chain):
    name = create_query(world, "maker", {"EQ_bizStep": "shipping"})
    sub = subscribe(world, "maker", name, {"dest": "https://client.example.com/cb", "signatureToken": TOKEN,
                                           "schedule": {"hour": "1", "minute": "5"}, "reportIfEmpty": True})  # fmt: skip
    assert sub["schedule"] == {"hour": "1", "minute": "5"} and sub["reportIfEmpty"] is True
    assert "signatureToken" not in json.dumps(sub) and TOKEN not in json.dumps(sub)  # never shown back
    base = f"/epcis/queries/{name}/subscriptions"
    assert [s["subscriptionID"] for s in world.client.get(base, headers=auth(world, "maker")).get_json()] == [
        sub["subscriptionID"]]  # fmt: skip
    one = f"{base}/{sub['subscriptionID']}"
    assert world.client.get(one, headers=auth(world, "maker")).get_json() == sub
    assert world.client.get(one, headers=auth(world, "distributor")).status_code == 404
    assert world.client.get(f"{base}/not-a-uuid", headers=auth(world, "maker")).status_code == 404
    assert world.client.delete(one, headers=auth(world, "distributor")).status_code == 404
    assert world.client.delete(one, headers=auth(world, "maker")).status_code == 204
    assert world.client.get(one, headers=auth(world, "maker")).status_code == 404
    resp = world.post(
        "distributor", f"/epcis/queries/{name}/subscriptions", {"dest": "https://x.example/", "stream": True}
    )
    assert resp.status_code == 404


def test_next_run_of_a_schedule():
    at = datetime(2026, 12, 5, 16, 0, 0, tzinfo=UTC)
    assert next_run({"hour": "1", "minute": "5"}, at) == datetime(2026, 12, 6, 1, 5, tzinfo=UTC)
    assert next_run({"minute": "0,30"}, at) == datetime(2026, 12, 5, 16, 30, tzinfo=UTC)
    assert next_run({"second": "[10-12]"}, at) == datetime(2026, 12, 5, 16, 0, 10, tzinfo=UTC)
    assert next_run({"dayOfWeek": "1", "hour": "0", "minute": "0"}, at) == datetime(2026, 12, 7, tzinfo=UTC)  # Monday
    assert next_run({"month": "2", "dayOfMonth": "30"}, at) is None


# --------------------------------------------------------------------------------------------- delivery


def _signed(headers: dict, body: bytes) -> bool:
    expected = "sha256=" + hmac.new(TOKEN.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(headers.get("gs1-signature", ""), expected)


def test_every_matching_event_once_across_a_restart_signed(world, chain, receiver):
    p = world.parties
    name = create_query(world, "maker", {"EQ_bizStep": ["shipping"]})
    sub = subscribe(world, "maker", name, {"dest": receiver.url, "signatureToken": TOKEN, "stream": True,
                                           "initialRecordTime": "2000-01-01T00:00:00Z"})  # fmt: skip
    expected = [e["eventID"] for e in all_events(world, "maker", f"/epcis/queries/{name}/events")]
    assert len(expected) >= 3
    first = local(world.db, batch=2)
    first.run_once()  # scans all, delivers 2 of them: then the process "stops"
    assert len(receiver.received) == 2
    second = local(world.db, batch=2)  # a new process: what is delivered is recorded, the rest is queued
    drain(second)
    got = [e["eventID"] for e in receiver.events()]
    assert sorted(got) == sorted(expected) and len(got) == len(set(got))
    assert all(_signed(h, b) for h, b in receiver.received)
    assert {h["content-type"] for h, _ in receiver.received} == {"application/ld+json"}
    docs = [json.loads(b) for _, b in receiver.received]
    assert {d["epcisBody"]["queryResults"]["subscriptionID"] for d in docs} == {sub["subscriptionID"]}
    assert {d["epcisBody"]["queryResults"]["queryName"] for d in docs} == {name}
    # a new shipment after the restart: that one event, once
    case = world.sscc()
    world.done("maker", world.post("maker", "/v1/cases", {"sscc": case, "gtin": chain["gtin"], "lot": chain["lot"],
                                                          "first_index": 60, "count": 5}))  # fmt: skip
    world.done("maker", world.post("maker", "/v1/shipments", {"units": [case], "to": p["distributor"].gln}))
    world.indexer.run_until_caught_up()
    drain(local(world.db))
    new = [e for e in receiver.events()[len(got) :]]
    assert [e["pt:event"] for e in new] == ["shipped"] and new[0]["epcList"] == [cbv.sscc(case)]
    drain(local(world.db))  # nothing more: every row is recorded delivered
    assert len(receiver.received) == len(expected) + 1
    subscription = world.client.get(f"/epcis/queries/{name}/subscriptions/{sub['subscriptionID']}",
                                    headers=auth(world, "maker")).get_json()  # fmt: skip
    assert "lastNotifiedAt" in subscription


def test_a_stream_without_initial_record_time_starts_now(world, chain, receiver):
    name = create_query(world, "maker", {"EQ_bizStep": ["shipping"]})
    subscribe(world, "maker", name, {"dest": receiver.url, "stream": True})
    drain(local(world.db))
    assert receiver.received == []  # the shipments before the subscription are not new


def test_a_failing_receiver_is_retried_with_backoff(world, chain, receiver):
    name = create_query(world, "maker", {"EQ_bizStep": ["shipping"], "MATCH_anyEPC": [cbv.sscc(chain["pallet"])]})
    sub = subscribe(world, "maker", name, {"dest": receiver.url, "signatureToken": TOKEN, "stream": True,
                                           "initialRecordTime": "2000-01-01T00:00:00Z"})  # fmt: skip
    now = [datetime.now(UTC)]
    deliverer = local(world.db, backoff_base=10.0, clock=lambda: now[0])
    receiver.fail = [500, 307]  # an error, then a redirect (a failure too: never followed)
    deliverer.run_once()
    assert len(receiver.received) == 1  # failed: next attempt in 10 s
    deliverer.run_once()
    assert len(receiver.received) == 1  # not due yet
    now[0] += timedelta(seconds=11)
    deliverer.run_once()
    assert len(receiver.received) == 2  # failed again: next in 20 s
    now[0] += timedelta(seconds=11)
    deliverer.run_once()
    assert len(receiver.received) == 2
    now[0] += timedelta(seconds=10)
    deliverer.run_once()
    assert len(receiver.received) == 3
    with world.db.connection() as conn:
        rows = store.deliveries(conn, sub["subscriptionID"])
    assert [(r["status"], r["attempts"]) for r in rows] == [("delivered", 3)]
    assert len({b for _, b in receiver.received}) >= 1 and all(_signed(h, b) for h, b in receiver.received)
    now[0] += timedelta(days=1)
    drain(deliverer)
    assert len(receiver.received) == 3


def test_an_unreachable_receiver_is_retried(world, chain):
    """No answer: retried with backoff; the subscription's other rows wait as long (one attempt per step, not one
    per queued row, so one dead subscriber does not hold up the others)."""
    name = create_query(world, "maker", {"EQ_bizStep": ["shipping"]})
    sub = subscribe(world, "maker", name, {"dest": "http://127.0.0.1:9/nothing-listens", "stream": True,
                                           "initialRecordTime": "2000-01-01T00:00:00Z"})  # fmt: skip
    now = [datetime.now(UTC)]
    deliverer = local(world.db, timeout=2.0, clock=lambda: now[0])
    deliverer.run_once()
    with world.db.connection() as conn:
        rows = store.deliveries(conn, sub["subscriptionID"])
    assert len(rows) >= 3 and {r["status"] for r in rows} == {"pending"}
    assert sum(r["attempts"] for r in rows) == 1 and all(r["next_attempt_at"] > now[0] for r in rows)
    assert next(r["last_error"] for r in rows if r["attempts"])
    now[0] += timedelta(seconds=1.5)
    deliverer.run_once()
    with world.db.connection() as conn:
        assert sum(r["attempts"] for r in store.deliveries(conn, sub["subscriptionID"])) == 2


def test_a_subscriber_gets_only_what_it_may_see(world, chain, receiver):
    """A distributor's query naming no object: what arrives is what GET /epcis/events shows it, never more."""
    name = create_query(world, "distributor", {"eventType": ["ObjectEvent", "AggregationEvent"]})
    subscribe(world, "distributor", name, {"dest": receiver.url, "stream": True,
                                           "initialRecordTime": "2000-01-01T00:00:00Z"})  # fmt: skip
    drain(local(world.db))
    got = {e["eventID"] for e in receiver.events()}
    mine = all_events(world, "distributor", f"/epcis/queries/{name}/events")
    assert got and got == {e["eventID"] for e in mine}
    regulator = {e["eventID"] for e in all_events(world, "regulator", "/epcis/events")}
    assert got < regulator  # the distributor's cut: not the whole chain


def test_an_event_no_longer_visible_at_delivery_is_withheld(world, chain, receiver):
    """The access policy is asked again at delivery: the subscriber's organisation suspended meanwhile gets nothing."""
    from app.db import fetch_one

    name = create_query(world, "pharmacy2", {"MATCH_epc": [cbv.sgtin(chain["gtin"], "S0000000005")]})
    sub = subscribe(world, "pharmacy2", name, {"dest": receiver.url, "stream": True,
                                               "initialRecordTime": "2000-01-01T00:00:00Z"})  # fmt: skip
    deliverer = local(world.db)
    deliverer.scan(datetime.now(UTC))  # queued while it may see them
    org = world.parties["pharmacy2"]
    with world.db.connection() as conn:
        fetch_one(conn, "UPDATE organisations SET suspended_at = now() WHERE gln = %s RETURNING id", (org.gln,))
    try:
        drain(deliverer)
    finally:
        with world.db.connection() as conn:
            fetch_one(conn, "UPDATE organisations SET suspended_at = NULL WHERE gln = %s RETURNING id", (org.gln,))
    assert receiver.received == []
    with world.db.connection() as conn:
        rows = store.deliveries(conn, sub["subscriptionID"])
    assert rows and {r["status"] for r in rows} == {"withheld"}


def test_a_scheduled_subscription_reports_when_due_even_if_empty(world, chain, receiver):
    name = create_query(world, "maker", {"EQ_bizStep": ["shipping"], "MATCH_anyEPC": [cbv.sscc(chain["pallet"])]})
    sub = subscribe(world, "maker", name, {"dest": receiver.url, "signatureToken": TOKEN, "reportIfEmpty": True,
                                           "schedule": {"minute": "0"}})  # fmt: skip
    now = [datetime.now(UTC)]
    deliverer = local(world.db, clock=lambda: now[0])
    drain(deliverer)
    assert receiver.received == []  # not due before the next full hour
    now[0] += timedelta(hours=1)
    drain(deliverer)
    assert len(receiver.received) == 1 and receiver.events() == []  # nothing new since: an empty report
    assert _signed(*receiver.received[0])
    with world.db.connection() as conn:
        assert [r["status"] for r in store.deliveries(conn, sub["subscriptionID"])] == ["delivered"]


def test_the_deliver_command_exists():
    from app import cli

    assert "deliver" in cli.cli.commands


def test_a_query_name_in_the_path_is_quoted(world, chain):
    assert (
        world.client.get(f"/epcis/queries/{quote('no such', safe='')}", headers=auth(world, "maker")).status_code == 404
    )


def test_a_private_destination_is_refused_unless_allowed(world, chain, receiver):
    """SSRF: by default the deliverer POSTs to public addresses only; the row fails with the reason, is retried."""
    name = create_query(world, "maker", {"EQ_bizStep": ["shipping"], "MATCH_anyEPC": [cbv.sscc(chain["pallet"])]})
    sub = subscribe(world, "maker", name, {"dest": receiver.url, "stream": True,
                                           "initialRecordTime": "2000-01-01T00:00:00Z"})  # fmt: skip
    now = [datetime.now(UTC)]
    Deliverer(world.db, clock=lambda: now[0]).run_once()
    assert receiver.received == []
    with world.db.connection() as conn:
        rows = store.deliveries(conn, sub["subscriptionID"])
    assert [(r["status"], r["attempts"]) for r in rows] == [("pending", 1)]
    assert "not a public address" in rows[0]["last_error"]
    now[0] += timedelta(hours=1)
    local(world.db, clock=lambda: now[0]).run_once()
    assert len(receiver.received) == 1


def test_a_reorg_makes_the_scans_read_the_replayed_blocks_again(world, chain):
    """The indexer's rollback and reset hooks (app.stack.indexer_hooks) move every scan back; a scan whose head
    block a reorg removed meanwhile is not recorded (it is redone)."""
    from app import stack
    from app.db import fetch_one
    from app.services.epcis import subscriptions

    assert subscriptions.on_mirror_rollback in stack.indexer_hooks()["on_rollback"]
    assert subscriptions.on_mirror_reset in stack.indexer_hooks()["on_reset"]
    name = create_query(world, "maker", {"EQ_bizStep": ["shipping"]})
    sub = subscribe(world, "maker", name, {"dest": "https://client.example.com/cb", "stream": True,
                                           "initialRecordTime": "2000-01-01T00:00:00Z"})  # fmt: skip

    def scanned() -> int:
        with world.db.connection() as conn:
            return fetch_one(conn, "SELECT scanned_block FROM epcis_subscriptions WHERE id = %s",
                             (sub["subscriptionID"],))["scanned_block"]  # fmt: skip

    local(world.db).scan(datetime.now(UTC))
    with world.db.connection() as conn:
        head, head_hash = store.mirror_head(conn)
    assert scanned() == head
    with world.db.connection() as conn:
        subscriptions.on_mirror_rollback(conn, head - 1)
    assert scanned() == head - 2
    with world.db.connection() as conn:  # a scan that read a head block a reorg has replaced: not recorded
        assert not store.mark_scanned(conn, sub["subscriptionID"], head - 2, (head, b"\x00" * 32), None)
        assert store.mark_scanned(conn, sub["subscriptionID"], head - 2, (head, head_hash), None)
    with world.db.connection() as conn:
        subscriptions.on_mirror_reset(conn)
    assert scanned() == -1


def test_a_row_that_cannot_be_read_backs_off_and_does_not_block_the_others(world, chain, receiver):
    """A queued row whose event cannot be read (here: not an event at all) fails with the reason and is retried
    later; the rows behind it, of its subscription too, are delivered meanwhile."""
    name = create_query(world, "maker", {"EQ_bizStep": ["shipping"]})  # naming no object: read through its home
    sub = subscribe(world, "maker", name, {"dest": receiver.url, "stream": True,
                                           "initialRecordTime": "2000-01-01T00:00:00Z"})  # fmt: skip
    now = [datetime.now(UTC)]
    deliverer = local(world.db, clock=lambda: now[0])
    deliverer.scan(now[0])
    with world.db.connection() as conn:
        store.enqueue(conn, sub["subscriptionID"], [{"event_id": "broken", "event": "not an event", "block_number": 0,
                                                     "log_index": 0}], now[0] - timedelta(seconds=1))  # fmt: skip
    drain(deliverer)
    with world.db.connection() as conn:
        rows = {r["event_id"]: r for r in store.deliveries(conn, sub["subscriptionID"])}
    assert rows["broken"]["status"] == "pending" and rows["broken"]["attempts"] == 1
    assert "AttributeError" in rows["broken"]["last_error"]
    others = [r["status"] for k, r in rows.items() if k != "broken"]
    assert others and set(others) == {"delivered"} and len(receiver.received) == len(others)
