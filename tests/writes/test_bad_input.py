"""Bad input to the write API, idempotency, and the readings upload.

The corpus: every request is a 4xx problem document naming the field (or header) and the rule it
broke, never a 500, and none creates an operation row. It runs against one world per module whose
chain holds a product, a lot and two cases of the maker's; nothing is pumped there after setup.
Idempotency, the readings happy path and the pre-check-versus-chain cases pump the chain, so they
use the per-test `world` and `stock` of conftest.py.

"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest

from app.ids import sscc_id
from app.services import custody
from app.services.readings import MAX_READINGS
from app.services.writes import MAX_UNITS

from .conftest import World, check_digit
from .test_authz import module_world, new_gtin, operations, settle

PROBLEM = "application/problem+json"
STORAGE = {"min_celsius": 2, "max_celsius": 8}
YESTERDAY = (datetime.now(UTC).date() - timedelta(days=1)).isoformat()


def bad_check(code: str) -> str:
    """The same key with a wrong check digit."""
    return code[:-1] + str((int(code[-1]) + 1) % 10)


@pytest.fixture(scope="module")
def mworld(w3, anvil, pg_server, migrated_template, tmp_path_factory) -> Iterator[World]:
    with module_world(w3, anvil, pg_server, migrated_template, tmp_path_factory.mktemp("badinput")) as world:
        yield world


@pytest.fixture(scope="module")
def state(mworld: World) -> dict:
    """The maker's product (2..8 °C), lot (serials S0000000000…09) and cases c1 (packs 5, 6), c2 (7, 8)."""
    s = {"gtin": new_gtin(), "lot": "L" + uuid.uuid4().hex[:6].upper()}
    settle(
        mworld, ("maker", mworld.post("maker", "/v1/products", {"gtin": s["gtin"], "name": "A", "storage": STORAGE}))
    )
    serials = {"prefix": "S", "first": 0, "count": 10, "digits": 10}
    lot = {"gtin": s["gtin"], "lot": s["lot"], "expiry": "2030-12-31", "serial_range": serials}
    settle(mworld, ("maker", mworld.post("maker", "/v1/lots", lot)))
    s["c1"], s["c2"] = mworld.sscc(), mworld.sscc()
    run = {"gtin": s["gtin"], "lot": s["lot"], "count": 2}
    settle(mworld, *[("maker", mworld.post("maker", "/v1/cases", {"sscc": s[c], "first_index": i} | run))
                     for c, i in (("c1", 5), ("c2", 7))])  # fmt: skip
    s["unknown_gln"] = check_digit(f"97{uuid.uuid4().int % 10**10:010d}")
    s["sscc"], s["sscc2"] = mworld.sscc(), mworld.sscc()  # well-formed, never packed
    s["distributor"] = mworld.parties["distributor"].gln
    return s


def pack(s: dict, n: int) -> str:
    return f"(01){s['gtin']}(21)S{n:010d}"


def csv_rows(n: int, step: int = 300, start: int = 1_746_086_400, temp: str = "5.0") -> str:
    return "time,temperature_c\n" + "".join(f"{start + i * step},{temp}\n" for i in range(n))


# --------------------------------------------------------------------------- the corpus


@dataclass(frozen=True)
class Bad:
    """One bad request: who posts what where, and the problem it must get."""

    id: str
    who: str
    path: str | Callable[[dict], str]
    body: object = None  # a JSON value, or a function of the state giving one
    status: int = 422
    where: tuple = ()  # (location, field, subfield…) in `errors`; location None: any; a tuple: any of these
    rule: str = ""  # text that must appear in the message there
    data: str | bytes | None = None  # a raw body instead of JSON
    content_type: str | None = None
    headers: dict = field(default_factory=dict)
    query: str = ""


def _lot_body(s, **changes):
    body = {"gtin": s["gtin"], "lot": "LX1", "expiry": "2030-06-30", "serials": ["X1", "X2"]}
    return {k: v for k, v in (body | changes).items() if v is not None}


def _readings(**changes):
    body = {"sensor_id": "logger-1", "start": "2025-05-01T08:00:00Z", "interval": 60, "celsius": [4, 5]}
    return body | changes


def _units_path(s):
    return f"/v1/units/{s['sscc']}/readings"


CORPUS = [
    # wrong check digits
    Bad("gtin-check-digit", "maker", "/v1/products",
        lambda s: {"gtin": bad_check(s["gtin"]), "name": "A", "storage": STORAGE},
        where=("json", "gtin"), rule="check_digit: "),
    Bad("sscc-check-digit", "maker", "/v1/shipments",
        lambda s: {"units": [bad_check(s["sscc"])], "to": s["distributor"]},
        where=("json", "units", "0"), rule="check_digit: "),
    Bad("sscc-check-digit-element-string", "distributor", "/v1/receipts",
        lambda s: {"units": [f"(00){bad_check(s['sscc'])}"]}, where=("json", "units", "0"), rule="check_digit: "),
    Bad("pallet-sscc-check-digit", "maker", "/v1/pallets", lambda s: {"sscc": bad_check(s["sscc"]), "cases": [s["sscc"]]},
        where=("json", "sscc"), rule="check_digit: "),
    Bad("gln-check-digit", "maker", "/v1/shipments", lambda s: {"units": [s["sscc"]], "to": bad_check(s["distributor"])},
        where=("json", "to"), rule="check_digit: "),
    Bad("pack-code-check-digit", "pharmacy", "/v1/dispensations",
        lambda s: {"packs": [f"(01){bad_check(s['gtin'])}(21)S0000000001"]},
        where=("json", "packs", "0"), rule="check_digit: "),
    Bad("path-sscc-check-digit", "maker", lambda s: f"/v1/units/{bad_check(s['sscc'])}/readings", _readings(),
        where=(None, "code"), rule="check_digit: "),
    # impossible and past dates
    Bad("expiry-feb-30", "maker", "/v1/lots", lambda s: _lot_body(s, expiry="2031-02-30"),
        where=("json", "expiry"), rule="Not a valid date"),
    Bad("pack-code-expiry-feb-30", "pharmacy", "/v1/dispensations",
        lambda s: {"packs": [f"(01){s['gtin']}(17)310230(21)S0000000001"]},
        where=("json", "packs", "0"), rule="date: "),
    Bad("expiry-in-past", "maker", "/v1/lots", lambda s: _lot_body(s, expiry=YESTERDAY),
        where=("json", "expiry"), rule="in_past: "),
    # well-formed but unknown
    Bad("unknown-gln", "maker", "/v1/shipments", lambda s: {"units": [s["sscc"]], "to": s["unknown_gln"]},
        where=("json", "to"), rule="unknown_gln: "),
    Bad("unknown-sscc", "distributor", "/v1/receipts", lambda s: {"units": [s["sscc"]]},
        where=("json", "units[0]"), rule="unknown_unit: "),
    Bad("unknown-sscc-readings", "maker", _units_path, _readings(), where=("json", "sscc"), rule="unknown_unit: "),
    Bad("unknown-serial", "pharmacy", "/v1/dispensations", lambda s: {"packs": [f"(01){s['gtin']}(21)NOPE"]},
        where=("json", "packs[0]"), rule="unknown_serial: "),
    Bad("unknown-lot", "maker", "/v1/lots/recalls", lambda s: {"gtin": s["gtin"], "lot": "NOSUCHLOT"},
        where=("json", "lot"), rule="unknown_lot: "),
    # sizes
    Bad("1001-units", "maker", "/v1/shipments",
        lambda s: {"units": [s["sscc"]] * (MAX_UNITS + 1), "to": s["distributor"]},
        where=("json", "units"), rule="must list 1 to 1000 items"),
    Bad("1001-packs", "pharmacy", "/v1/dispensations", lambda s: {"packs": [pack(s, 1)] * (MAX_UNITS + 1)},
        where=("json", "packs"), rule="must list 1 to 1000 items"),
    Bad("empty-units", "distributor", "/v1/receipts", {"units": []}, where=("json", "units"), rule="must list 1 to"),
    Bad("empty-packs", "pharmacy", "/v1/dispensations", {"packs": []}, where=("json", "packs"), rule="must list 1 to"),
    Bad("empty-cases", "maker", "/v1/pallets", lambda s: {"sscc": s["sscc"], "cases": []},
        where=("json", "cases"), rule="must list 1 to"),
    Bad("empty-serials", "maker", "/v1/lots", lambda s: _lot_body(s, serials=[]),
        where=("json", "serials"), rule="must list 1 to"),
    Bad("empty-readings", "maker", _units_path, _readings(celsius=[]), where=("json", ("celsius", "readings")),
        rule="non-empty"),
    # content type, headers, syntax
    Bad("text-plain", "maker", "/v1/lots/recalls", data="gtin=1&lot=2", content_type="text/plain", status=415,
        where=("headers", "Content-Type"), rule="must be application/json"),
    Bad("text-plain-readings", "maker", _units_path, data="4.5", content_type="text/plain", status=415,
        where=("headers", "Content-Type"), rule="must be application/json or text/csv"),
    Bad("missing-idempotency-key", "maker", "/v1/lots/recalls", lambda s: {"gtin": s["gtin"], "lot": s["lot"]},
        headers={"Idempotency-Key": None}, status=400, where=("headers", "Idempotency-Key"), rule="required"),
    Bad("empty-idempotency-key", "maker", "/v1/lots/recalls", lambda s: {"gtin": s["gtin"], "lot": s["lot"]},
        headers={"Idempotency-Key": ""}, status=400, where=("headers", "Idempotency-Key"), rule="visible ASCII"),
    Bad("idempotency-key-with-space", "maker", "/v1/lots/recalls", lambda s: {"gtin": s["gtin"], "lot": s["lot"]},
        headers={"Idempotency-Key": "scan 42"}, status=400, where=("headers", "Idempotency-Key"),
        rule="visible ASCII"),
    Bad("idempotency-key-256-chars", "maker", "/v1/lots/recalls", lambda s: {"gtin": s["gtin"], "lot": s["lot"]},
        headers={"Idempotency-Key": "k" * 256}, status=400, where=("headers", "Idempotency-Key"),
        rule="visible ASCII"),
    Bad("malformed-json", "maker", "/v1/lots/recalls", data='{"gtin": "0950', content_type="application/json",
        status=400, where=("json",), rule="Invalid JSON"),
    Bad("json-array-not-object", "distributor", "/v1/receipts", ["x"], where=("json", "_schema"), rule="Invalid input"),
    Bad("unknown-field", "maker", "/v1/lots/recalls", lambda s: {"gtin": s["gtin"], "lot": s["lot"], "reason": "x"},
        where=("json", "reason"), rule="Unknown field"),
    Bad("unknown-nested-field", "maker", "/v1/products",
        lambda s: {"gtin": new_gtin(), "name": "A", "storage": STORAGE | {"humidity": 40}},
        where=("json", "storage", "humidity"), rule="Unknown field"),
    Bad("missing-field", "maker", "/v1/shipments", lambda s: {"units": [s["sscc"]]},
        where=("json", "to"), rule="Missing data"),
    Bad("wait-not-confirmed", "maker", "/v1/lots/recalls", lambda s: {"gtin": s["gtin"], "lot": s["lot"]},
        query="?wait=soon", where=("query", "wait"), rule="Must be one of"),
    # shapes and duplicates
    Bad("serials-and-serial-range", "maker", "/v1/lots",
        lambda s: _lot_body(s, serial_range={"first": 0, "count": 2}), where=("json", "serials"),
        rule="give exactly one of serials or serial_range"),
    Bad("neither-serials-nor-range", "maker", "/v1/lots", lambda s: _lot_body(s, serials=None),
        where=("json", "serials"), rule="give exactly one of serials or serial_range"),
    Bad("duplicate-serials", "maker", "/v1/lots", lambda s: _lot_body(s, serials=["X1", "X2", "X1"]),
        where=("json", "serials"), rule="duplicate: "),
    Bad("serial-range-too-wide", "maker", "/v1/lots",
        lambda s: _lot_body(s, serials=None, serial_range={"first": 95, "count": 10, "digits": 2}),
        where=("json", "serial_range.digits"), rule="too_small: "),
    Bad("storage-min-above-max", "maker", "/v1/products",
        lambda s: {"gtin": new_gtin(), "name": "A", "storage": {"min_celsius": 9, "max_celsius": 8}},
        where=("json", "storage.min_celsius"), rule="range: "),
    Bad("duplicate-units-ship", "maker", "/v1/shipments",
        lambda s: {"units": [s["sscc"], s["sscc"]], "to": s["distributor"]}, where=("json", "units"),
        rule="duplicate: "),
    Bad("duplicate-units-receive", "distributor", "/v1/receipts", lambda s: {"units": [s["sscc"], f"(00){s['sscc']}"]},
        where=("json", "units"), rule="duplicate: "),
    Bad("duplicate-cases-pallet", "maker", "/v1/pallets",
        lambda s: {"sscc": s["sscc2"], "cases": [s["sscc"]] * 2},
        where=("json", "cases"), rule="duplicate: "),
    Bad("duplicate-packs-destroy", "maker", "/v1/destructions", lambda s: {"packs": [pack(s, 3), pack(s, 3)]},
        where=("json", "packs"), rule="duplicate: "),
    Bad("duplicate-packs-case", "maker", "/v1/cases",
        lambda s: {"sscc": s["sscc"], "gtin": s["gtin"], "lot": s["lot"], "packs": [pack(s, 4), pack(s, 4)]},
        where=("json", "packs"), rule="duplicate: "),
    Bad("case-run-and-packs", "maker", "/v1/cases",
        lambda s: {"sscc": s["sscc"], "gtin": s["gtin"], "lot": s["lot"], "first_index": 0, "count": 2,
                   "packs": [pack(s, 4)]},
        where=("json", "packs"), rule="give either first_index and count, or packs"),
    Bad("case-run-out-of-range", "maker", "/v1/cases",
        lambda s: {"sscc": s["sscc"], "gtin": s["gtin"], "lot": s["lot"], "first_index": 8, "count": 3},
        where=("json", "count"), rule="out_of_range: "),
    Bad("case-pack-already-packed", "maker", "/v1/cases",
        lambda s: {"sscc": s["sscc"], "gtin": s["gtin"], "lot": s["lot"], "packs": [pack(s, 1), pack(s, 6)]},
        status=409, where=("json", "packs[1]"), rule="already_packed: "),
    Bad("case-run-overlaps-a-case", "maker", "/v1/cases",
        lambda s: {"sscc": s["sscc"], "gtin": s["gtin"], "lot": s["lot"], "first_index": 3, "count": 3},
        status=409, where=("json", "first_index"), rule="already_packed: leaf index 5"),
    Bad("status-target-both", "maker", "/v1/quarantines", lambda s: {"sscc": s["sscc"], "gtin": s["gtin"],
                                                                   "lot": s["lot"]},
        where=("json", "sscc"), rule="give either sscc, or gtin and lot"),
    Bad("sscc-where-pack-expected", "pharmacy", "/v1/dispensations", lambda s: {"packs": [f"(00){s['sscc']}"]},
        where=("json", "packs", "0"), rule="unexpected_kind: "),
    # CSV readings
    Bad("csv-missing-header", "maker", _units_path, data="1746086400,5.0\n1746086700,5.1\n", content_type="text/csv",
        query="?sensor_id=logger-1", where=("json", "csv header"), rule="needs a time column"),
    Bad("csv-uneven-rows", "maker", _units_path,
        data="time,temperature_c\n1746086400,5\n1746086700,5\n1746087000,5\n1746087600,5\n", content_type="text/csv",
        query="?sensor_id=logger-1", where=("json", "csv line 5"), rule="evenly spaced"),
    Bad("csv-non-numeric-temperature", "maker", _units_path,
        data="time,temperature_c\n2025-05-01T08:00:00Z,warm\n", content_type="text/csv", query="?sensor_id=logger-1",
        where=("json", "csv line 2"), rule="temperature_c must be a decimal number"),
    Bad("csv-ragged-row", "maker", _units_path, data="time,temperature_c\n1746086400,5,6\n",
        content_type="text/csv", query="?sensor_id=logger-1", where=("json", "csv line 2"), rule="columns"),
    Bad("csv-missing-sensor-id", "maker", _units_path, data=csv_rows(3), content_type="text/csv",
        where=(None, "sensor_id"), rule="required with text/csv"),
    Bad("csv-not-utf8", "maker", _units_path, data="time,temperature_c\n1746086400,5°\n".encode("latin-1"),
        content_type="text/csv", query="?sensor_id=logger-1", status=400, where=("body", "encoding"),
        rule="must be UTF-8"),
    Bad("csv-10001-readings", "maker", _units_path, data=csv_rows(MAX_READINGS + 1), content_type="text/csv",
        query="?sensor_id=logger-1", where=("json", "readings"), rule=f"at most {MAX_READINGS} readings"),
    # JSON readings
    Bad("readings-naive-datetime", "maker", _units_path, _readings(start="2025-05-01T08:00:00"),
        where=("json", "start"), rule="must include a timezone"),
    Bad("readings-temperature-out-of-range", "maker", _units_path, _readings(celsius=[4, 150]),
        where=("json", ("celsius[1]", "readings[1]")), rule="must be between -100.00 and 100.00"),
    Bad("readings-temperature-not-a-number", "maker", _units_path, _readings(celsius=[4, "cold"]),
        where=("json", ("celsius[1]", "readings[1]")), rule="must be a decimal number"),
    Bad("readings-interval-zero", "maker", _units_path, _readings(interval=0), where=("json", "interval"),
        rule="between 1 and 86400"),
    Bad("readings-10001", "maker", _units_path, _readings(celsius=[5] * (MAX_READINGS + 1)),
        where=("json", ("celsius", "readings")), rule=f"at most {MAX_READINGS} readings"),
    Bad("readings-unknown-field", "maker", _units_path, _readings(unit="F"), where=("json", "unit"),
        rule="Unknown field"),
]  # fmt: skip


def post_bad(world: World, s: dict, bad: Bad):
    path = bad.path(s) if callable(bad.path) else bad.path
    headers = {"Authorization": f"Bearer {world.parties[bad.who].key}", "Idempotency-Key": uuid.uuid4().hex}
    headers.update(bad.headers)
    headers = {k: v for k, v in headers.items() if v is not None}
    if bad.data is not None:
        return world.client.post(path + bad.query, data=bad.data, content_type=bad.content_type, headers=headers)
    body = bad.body(s) if callable(bad.body) else bad.body
    return world.client.post(path + bad.query, json=body, headers=headers)


def errors_at(errors: dict, where: tuple) -> object:
    """The messages at (location, field, …); location None: whichever location names the field."""
    location, *keys = where
    if location is None:
        found = [loc for loc, fields in errors.items() if isinstance(fields, dict) and _key(fields, keys[0])]
        assert found, f"{keys[0]!r} not named in {errors}"
        location = found[0]
    node = errors[location]
    for key in keys:
        name = _key(node, key) if isinstance(node, dict) else None
        assert name is not None, f"{key!r} not in {node!r} (errors: {errors})"
        node = node[name]
    return node


def _key(fields: dict, key: str | tuple[str, ...]) -> str | None:
    """`key`, or the first of the alternatives `key` lists, that `fields` has."""
    return next((k for k in ((key,) if isinstance(key, str) else key) if k in fields), None)


@pytest.mark.parametrize("bad", CORPUS, ids=[b.id for b in CORPUS])
def test_bad_input(mworld: World, state: dict, bad: Bad):
    before = operations(mworld)
    resp = post_bad(mworld, state, bad)
    body = resp.get_json()
    assert resp.status_code == bad.status, body
    assert resp.mimetype == PROBLEM
    assert body["status"] == bad.status
    if bad.where:
        messages = errors_at(body["errors"], bad.where)
        assert isinstance(messages, list) and messages, body
        assert any(bad.rule in m for m in messages), body
    assert operations(mworld) == before, "a refused request must not create an operation"


def test_corpus_ids_are_unique():
    assert len({b.id for b in CORPUS}) == len(CORPUS)


# The API's own field names are where `errors` should point: these cases name something else today.


@pytest.mark.parametrize(
    ("celsius", "field"), [([4, 150], "celsius[1]"), ([5] * (MAX_READINGS + 1), "celsius")], ids=["range", "count"]
)
def test_json_readings_errors_name_the_celsius_field(mworld: World, state: dict, celsius, field):
    resp = post_bad(mworld, state, Bad("x", "maker", _units_path, _readings(celsius=celsius)))
    assert resp.status_code == 422
    assert field in resp.get_json()["errors"]["json"], resp.get_json()


def test_csv_missing_sensor_id_is_a_query_error(mworld: World, state: dict):
    bad = Bad("x", "maker", _units_path, data=csv_rows(3), content_type="text/csv")
    resp = post_bad(mworld, state, bad)
    assert resp.status_code == 422
    assert resp.get_json()["errors"]["query"]["sensor_id"] == ["required with text/csv"], resp.get_json()


def test_bad_path_sscc_is_a_path_error(mworld: World, state: dict):
    bad = Bad("x", "maker", lambda s: f"/v1/units/{bad_check(s['sscc'])}/readings", _readings())
    resp = post_bad(mworld, state, bad)
    assert resp.status_code == 422
    assert resp.get_json()["errors"]["path"]["code"][0].startswith("check_digit: "), resp.get_json()


# --------------------------------------------------------------------------- idempotency


def ops_with_key(world: World, key: str) -> int:
    with world.db.connection() as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM operations WHERE idempotency_key = %s", (key,))
        return cur.fetchone()[0]


def test_same_key_same_body_replays_the_operation(world: World, stock):
    body = {"units": [stock["pallet"]], "to": world.parties["distributor"].gln}
    key = "scan-" + uuid.uuid4().hex
    first = world.post("maker", "/v1/shipments", body, key=key)
    second = world.post("maker", "/v1/shipments", body, key=key)
    assert first.status_code == 202 and "Idempotent-Replayed" not in first.headers
    assert second.status_code == 202, second.get_json()
    assert second.headers["Idempotent-Replayed"] == "true"
    assert second.get_json()["operation"]["id"] == first.get_json()["operation"]["id"]
    assert second.headers["Location"] == first.headers["Location"]
    assert ops_with_key(world, key) == 1


def test_same_key_different_body_is_422(world: World, stock):
    key = "scan-" + uuid.uuid4().hex
    first = world.post("maker", "/v1/shipments", {"units": [stock["pallet"]], "to": world.parties["distributor"].gln},
                       key=key)  # fmt: skip
    assert first.status_code == 202
    before = operations(world)
    for path, body in [
        ("/v1/shipments", {"units": [stock["pallet"]], "to": world.parties["pharmacy"].gln}),  # another body
        ("/v1/unpackings", {"units": [stock["pallet"]]}),  # another action
    ]:
        resp = world.post("maker", path, body, key=key)
        problem = resp.get_json()
        assert resp.status_code == 422, problem
        assert resp.mimetype == PROBLEM
        assert problem["errors"]["headers"]["Idempotency-Key"] == ["was used before with a different request"]
        assert problem["operation"] == first.get_json()["operation"]["id"]
    assert operations(world) == before
    assert ops_with_key(world, key) == 1


def test_replay_after_confirmation_returns_the_first_operation(world: World, stock):
    body = {"units": [stock["pallet"]], "to": world.parties["distributor"].gln}
    key = "scan-" + uuid.uuid4().hex
    op = world.done("maker", world.post("maker", "/v1/shipments", body, key=key))
    again = world.post("maker", "/v1/shipments", body, key=key)
    assert again.status_code == 202, again.get_json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json()["operation"]["id"] == op["id"]
    assert again.get_json()["operation"]["status"] == "confirmed"
    # the pre-check would refuse the same scan now: the pallet is in transit
    fresh = world.post("maker", "/v1/shipments", body)
    assert fresh.status_code == 409 and fresh.get_json()["code"] == "in_transit", fresh.get_json()
    assert ops_with_key(world, key) == 1
    # keys belong to an organisation: the recipient may use the same key for its own scan
    received = world.post("distributor", "/v1/receipts", {"units": [stock["pallet"]]}, key=key)
    assert received.status_code == 202 and "Idempotent-Replayed" not in received.headers
    assert received.get_json()["operation"]["id"] != op["id"]
    assert ops_with_key(world, key) == 2


@pytest.mark.parametrize("change", ["unit", "sensor_id"])
def test_same_key_for_other_readings_is_422(mworld: World, state: dict, change: str):
    key = "log-" + uuid.uuid4().hex

    def upload(unit: str, sensor: str):
        return post_bad(mworld, state, Bad("x", "maker", f"/v1/units/{state[unit]}/readings", data=csv_rows(3),
                                           content_type="text/csv", query=f"?sensor_id={sensor}",
                                           headers={"Idempotency-Key": key}))  # fmt: skip

    first = upload("c1", "a")
    assert first.status_code == 202, first.get_json()
    second = upload("c2", "a") if change == "unit" else upload("c1", "b")  # same key, same body
    assert second.status_code == 422, (second.headers.get("Idempotent-Replayed"), second.get_json())
    assert "Idempotency-Key" in second.get_json()["errors"]["headers"]


# --------------------------------------------------------------------------- readings: the happy path


def excursion(world: World, sscc: str) -> bool:
    return world.pt.functions.unit(sscc_id(sscc)).call()[6]


def test_readings_json_and_csv_are_recorded(world: World, stock):
    pallet = stock["pallet"]
    path = f"/v1/units/{pallet}/readings"
    world.done("maker", world.post("maker", path, _readings(celsius=[4.5, 5.0, 7.99, "6.5"])))
    start = int(datetime(2025, 5, 2, 8, tzinfo=UTC).timestamp())
    resp = world.post("maker", path + "?sensor_id=logger-2", data=csv_rows(5, start=start, temp="3.25"),
                      content_type="text/csv")  # fmt: skip
    op = world.done("maker", resp)
    assert op["action"] == "record_readings"
    assert excursion(world, pallet) is False  # every reading within 2..8 °C


def test_reading_above_the_maximum_flags_an_excursion(world: World, stock):
    pallet = stock["pallet"]
    assert excursion(world, pallet) is False
    resp = world.post("maker", f"/v1/units/{pallet}/readings?sensor_id=logger-3",
                      data="time,temperature_c\n2025-05-01T08:00:00Z,5.0\n2025-05-01T08:05:00Z,8.5\n",
                      content_type="text/csv")  # fmt: skip
    world.done("maker", resp)
    assert excursion(world, pallet) is True
    with world.db.connection() as conn:
        assert custody.unit_state(conn, sscc_id(pallet)).excursion is True


# --------------------------------------------------------------------------- pre-checks that disagree with the chain


def lot_id(world: World, stock) -> bytes:
    return world.pt.functions.unit(sscc_id(stock["cases"][0])).call()[10]


@pytest.mark.parametrize("how", ["recalled-lot", "quarantined-case"])
def test_packs_of_recalled_or_quarantined_stock_can_be_destroyed(world: World, stock, how):
    """The contract's destroy() ignores recall and quarantine (that is what destruction is for)."""
    if how == "recalled-lot":
        world.done("maker", world.post("maker", "/v1/lots/recalls", {"gtin": stock["gtin"], "lot": stock["lot"]}))
        index = 90  # loose at the maker
    else:
        world.done("maker", world.post("maker", "/v1/quarantines", {"sscc": stock["cases"][0]}))
        index = 1  # in the quarantined case
    resp = world.post("maker", "/v1/destructions", {"packs": [f"(01){stock['gtin']}(21)S{index:010d}"]})
    assert resp.status_code == 202, resp.get_json()
    world.done("maker", resp)
    assert world.pt.functions.packState(lot_id(world, stock), index).call()[2] is True


def test_an_unpacked_pallet_cannot_be_shipped(world: World, stock):
    world.done("maker", world.post("maker", "/v1/unpackings", {"units": [stock["pallet"]]}))
    resp = world.post("maker", "/v1/shipments", {"units": [stock["pallet"]], "to": world.parties["distributor"].gln})
    if resp.status_code == 202:  # show what the chain makes of it
        world.pump()
        op = world.operation("maker", resp.get_json()["operation"]["id"])
        assert op["status"] == "confirmed", f"accepted, then {op['status']} on chain: {op['error']}"
    assert resp.status_code == 409 and resp.get_json()["code"] == "unpacked", resp.get_json()


def test_a_quarantined_lot_cannot_be_packed(world: World, stock):
    world.done("maker", world.post("maker", "/v1/quarantines", {"gtin": stock["gtin"], "lot": stock["lot"]}))
    resp = world.post("maker", "/v1/cases", {"sscc": world.sscc(), "gtin": stock["gtin"], "lot": stock["lot"],
                                             "first_index": 80, "count": 5})  # fmt: skip
    if resp.status_code == 202:
        world.pump()
        op = world.operation("maker", resp.get_json()["operation"]["id"])
        assert op["status"] == "confirmed", f"accepted, then {op['status']} on chain: {op['error']}"
    assert resp.status_code == 409 and resp.get_json()["code"] == "quarantined", resp.get_json()


def test_recipient_records_readings_for_a_case_on_a_pallet_in_transit(world: World, stock):
    """The contract lets the recipient of a moving pallet record readings for the cases on it."""
    world.done("maker", world.post("maker", "/v1/shipments", {"units": [stock["pallet"]],
                                                              "to": world.parties["distributor"].gln}))  # fmt: skip
    resp = world.post("distributor", f"/v1/units/{stock['cases'][0]}/readings", _readings())
    assert resp.status_code == 202, resp.get_json()
    world.done("distributor", resp)


def test_no_dispensing_from_a_case_on_a_quarantined_pallet(world: World, stock):
    p = world.parties
    world.done("maker", world.post("maker", "/v1/shipments", {"units": [stock["pallet"]], "to": p["pharmacy"].gln}))
    world.done("pharmacy", world.post("pharmacy", "/v1/receipts", {"units": [stock["pallet"]]}))
    world.done("pharmacy", world.post("pharmacy", "/v1/quarantines", {"sscc": stock["pallet"]}))
    resp = world.post("pharmacy", "/v1/dispensations", {"packs": [f"(01){stock['gtin']}(21)S0000000001"]})
    if resp.status_code == 202:
        world.pump()
        op = world.operation("pharmacy", resp.get_json()["operation"]["id"])
        assert op["status"] == "confirmed", f"accepted, then {op['status']} on chain: {op['error']}"
    assert resp.status_code == 409 and resp.get_json()["code"] == "quarantined", resp.get_json()


def test_nothing_is_shipped_to_a_suspended_organisation(world: World, stock, w3, pharmatrack):
    """The contract refuses a shipment to a suspended recipient (OrganisationIsSuspended): the pre-check
    says so at once, and once the organisation is reinstated the same shipment is accepted."""
    p = world.parties
    tx = pharmatrack.functions.suspendOrganisation(p["pharmacy2"].account).transact({"from": w3.eth.accounts[0]})
    assert w3.eth.wait_for_transaction_receipt(tx).status == 1
    world.indexer.run_until_caught_up()
    body = {"units": [stock["pallet"]], "to": p["pharmacy2"].gln}
    resp = world.post("maker", "/v1/shipments", body)
    assert resp.status_code == 409 and resp.get_json()["code"] == "recipient_suspended", resp.get_json()
    assert resp.get_json()["errors"]["json"]["to"][0].startswith("recipient_suspended: ")
    tx = pharmatrack.functions.reinstateOrganisation(p["pharmacy2"].account).transact({"from": w3.eth.accounts[0]})
    assert w3.eth.wait_for_transaction_receipt(tx).status == 1
    world.indexer.run_until_caught_up()
    assert world.done("maker", world.post("maker", "/v1/shipments", body))["status"] == "confirmed"
