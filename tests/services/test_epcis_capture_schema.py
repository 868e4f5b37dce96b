"""capture's schema check (pure logic): the compiled validator (jsonschema-rs) and jsonschema give one verdict,
and a refusal still names the event, the field and jsonschema's message."""

import copy

import jsonschema

from app.services.epcis import capture

GLN = "9506000000019"
EVENT = {
    "type": "ObjectEvent", "eventID": "urn:uuid:6b1b7e2c-0a3c-4b7e-9d2e-1f5a3c9e8d10", "action": "OBSERVE",
    "eventTime": "2026-12-05T10:00:00.000Z", "eventTimeZoneOffset": "+00:00", "bizStep": "sensor_reporting",
    "readPoint": {"id": "urn:epc:id:sgln:9506000.00001.0"}, "epcList": ["urn:epc:id:sscc:9506000.0000000001"],
    # not a URI: jsonschema's format checker does not check uri (no rfc3987), so neither does the fast one
    "sensorElementList": [{"sensorMetadata": {"deviceID": "logger-7"},
                           "sensorReport": [{"type": "gs1:Temperature", "value": 4.5, "uom": "CEL"}]}],
}  # fmt: skip


def _doc(*events) -> dict:
    return {"@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"], "type": "EPCISDocument",
            "schemaVersion": "2.0", "creationDate": "2026-12-05T10:00:00Z", "epcisBody": {"eventList": list(events)}}  # fmt: skip


def _jsonschema_valid(doc) -> bool:
    return not any(True for _ in capture._validator().iter_errors(doc))


def test_the_fast_validator_agrees_with_jsonschema():
    good = _doc(EVENT, EVENT | {"eventID": "urn:uuid:2"})
    bad_time = _doc(EVENT, EVENT | {"eventTime": "2026-12-05T10:00:00"})  # no zone: not an RFC 3339 date-time
    bad_zone = _doc(EVENT | {"eventTimeZoneOffset": "+25:00"})
    missing = _doc({k: v for k, v in EVENT.items() if k != "action"})
    wrong_type = copy.deepcopy(good)
    wrong_type["epcisBody"]["eventList"][1]["epcList"] = "urn:epc:id:sscc:9506000.0000000001"
    for doc, valid in ((good, True), (bad_time, False), (bad_zone, False), (missing, False), (wrong_type, False)):
        assert capture._fast_validator().is_valid(doc) is valid
        assert _jsonschema_valid(doc) is valid
    assert capture._formats(capture._schema()) <= {"uri", "date-time"} | set(
        jsonschema.Draft7Validator.FORMAT_CHECKER.checkers
    )


def test_a_refusal_names_the_event_and_the_field():
    assert capture.schema_errors(_doc(EVENT)) == {}
    errors = capture.schema_errors(_doc(EVENT, EVENT | {"eventTime": "2026-12-05T10:00:00"}))
    assert errors == {1: ("eventTime", "'2026-12-05T10:00:00' is not a 'date-time'")}
