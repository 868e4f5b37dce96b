"""bench/epcis.py's documents (pure logic): they pass the official EPCIS 2.0 JSON schema and capture's own document
check, map to the writes the bench expects, and their events are independent (each case in one event at most)."""

from datetime import UTC, datetime

from app.gs1 import LogisticUnit, parse
from app.services.epcis import capture
from bench.epcis import Party, compose, operation_key
from bench.ingest import Case, make_pairs, with_check_digit


def _cases(pair, steps: list[int]) -> list[Case]:
    return [Case(pair, with_check_digit(f"19506009{n:09d}"), step=s) for n, s in enumerate(steps)]


def _mapped(event: dict) -> list[capture.Write]:
    """capture's mapping of an event that needs no database (every kind the bench sends but commissioning)."""
    _kind, action = capture._common(event)
    step = capture._word(event["bizStep"], "bizStep", capture.cbv.BIZ_STEPS)
    return capture._object(None, event, action, step, None)


def test_a_manufacturers_document_validates_and_its_events_are_independent():
    pair = make_pairs(1)[0]
    maker = Party(pair, maker=True)
    cases = _cases(pair, [0] * 30 + [3] * 10)  # 30 held (ship or sensor), 10 coming back (receive)
    doc, tracked = compose(maker, cases, extra_lots=2, now=datetime(2026, 12, 5, 10, tzinfo=UTC))
    events = capture.check_document(doc)
    assert capture.schema_errors(doc) == {}
    assert len(events) == len(tracked) == 42
    kinds = [t.kind for t in tracked]
    assert kinds.count("receiving") == 10 and kinds.count("commissioning") == 2
    assert kinds.count("sensor") == 30 // 4 and kinds.count("shipping") == 30 - 30 // 4
    # independent: a case is named by one event at most; lots and event ids are fresh
    named = [parse(e["epcList"][0]).sscc for e in events if isinstance(parse(e["epcList"][0]), LogisticUnit)]
    assert len(named) == len(set(named)) == 40
    assert len({e["eventID"] for e in events}) == 42
    lots = [e["ilmd"]["cbvmda:lotNumber"] for e in events if e["bizStep"] == "commissioning"]
    assert len(set(lots)) == 2
    # the keys the bench polls are the ones capture gives the events' operations
    assert [t.key for t in tracked] == [capture._key(e["eventID"], 0) for e in events]
    assert operation_key("x") == capture._key("x", 0)
    # each event maps to one write of the expected kind, moving the case one step on
    expected = {"receiving": "receive", "shipping": "ship", "sensor": "record_readings"}
    for event, t in zip(events, tracked, strict=True):
        if t.kind == "commissioning":
            continue
        (write,) = _mapped(event)
        assert write.action == expected[t.kind]
        assert t.next_step == {"receiving": 0, "shipping": 1, "sensor": 0}[t.kind]
        if t.kind == "shipping":
            assert write.body["to"] == pair.distributor.gln


def test_a_distributors_document_receives_and_ships_back():
    pair = make_pairs(1)[0]
    dist = Party(pair, maker=False)
    doc, tracked = compose(dist, _cases(pair, [1, 1, 2, 2]), extra_lots=0, now=datetime.now(UTC))
    assert capture.schema_errors(doc) == {}
    # the fourth case gets a sensor report (one held case in SENSOR_SHARE) and stays where it is
    assert [(t.kind, t.next_step) for t in tracked] == [("receiving", 2), ("receiving", 2), ("shipping", 3),
                                                        ("sensor", 2)]  # fmt: skip
    for event in capture.check_document(doc):
        assert capture.gln_of_location(event["readPoint"], "readPoint") == pair.distributor.gln
        if event["bizStep"] == "shipping":
            assert capture._destination(event) == pair.maker.gln
