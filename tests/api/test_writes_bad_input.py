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
from urllib.parse import quote, urlencode

import pytest

from app.ids import sscc_id
from app.services import custody, queries
from app.services.readings import MAX_READINGS
from app.services.writes import MAX_UNITS
from tests.api.test_writes_authz import module_world, new_gtin, operations, settle
from tests.world import World, check_digit

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
    s["maker_gln"], s["pharmacy_gln"] = mworld.parties["maker"].gln, mworld.parties["pharmacy"].gln
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
    query: str | Callable[[dict], str] = ""
    method: str = "POST"
    raw_uri: bool = False  # send the path and query as the raw request target (RAW_URI, as gunicorn passes it)


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

# --------------------------------------------------------------------------- issue 12: input rules, reads too

NUL, CHARSET = "\u0000", "charset: must not contain control characters"
NOW = datetime.now(UTC)


def _product(**changes):
    return lambda s: {"gtin": new_gtin(), "name": "A", "storage": STORAGE} | changes


def q(**params) -> str:
    return "?" + urlencode(params)


def _get(id, who, path, query="", **kwargs):
    return Bad(id, who, path, method="GET", query=query, **kwargs)


def _dl(s, serial="%ZZ", query=""):
    return f"https://id.gs1.org/01/{s['gtin']}/21/{serial}{query}"


def _activity(query: str):
    return _get(
        f"activity-{query}",
        "regulator",
        lambda s: f"/v1/partners/{s['distributor']}/activity",
        query,
        where=("query", "from" if "from" in query else "to"),
    )


def _lvm(s, gtin=None, serial="S0000000001"):
    return f"/01/{gtin or s['gtin']}/21/{serial}"


def _lvm_query(s, **changes):
    params = {"reqGLN": s["maker_gln"], "corrUUID": str(uuid.UUID(int=1))} | changes
    return {k: v for k, v in params.items() if v is not None}


ISSUE12 = [
    # control characters in every text field (NUL gave 500 in name, strength, dosage_form and sensor_id)
    Bad("product-name-nul", "maker", "/v1/products", _product(name=f"Amox{NUL}icillin"), where=("json", "name"),
        rule=CHARSET),
    Bad("product-strength-nul", "maker", "/v1/products", _product(strength=f"500{NUL}mg"),
        where=("json", "strength"), rule=CHARSET),
    Bad("product-dosage-form-nul", "maker", "/v1/products", _product(dosage_form=NUL), where=("json", "dosage_form"),
        rule=CHARSET),
    Bad("product-name-c1-control", "maker", "/v1/products", _product(name="A\x85B"), where=("json", "name"),
        rule=CHARSET),
    Bad("product-name-escape-sequence", "maker", "/v1/products", _product(name="\x1b[31mred"),
        where=("json", "name"), rule=CHARSET),
    Bad("product-name-lone-surrogate", "maker", "/v1/products", _product(name="A\ud800"), status=400,
        where=("json",), rule="no low surrogate"),  # refused by the body parser, before the schema
    Bad("product-name-line-separator", "maker", "/v1/products", _product(name="A\u2028B"), where=("json", "name"),
        rule=CHARSET),
    Bad("product-name-newline", "maker", "/v1/products", _product(name="A\nB"), where=("json", "name"), rule=CHARSET),
    Bad("product-name-tab", "maker", "/v1/products", _product(name="A\tB"), where=("json", "name"), rule=CHARSET),
    Bad("product-name-del", "maker", "/v1/products", _product(name="A\x7f"), where=("json", "name"), rule=CHARSET),
    Bad("readings-sensor-id-nul", "maker", _units_path, _readings(sensor_id=f"logger{NUL}1"),
        where=("json", "sensor_id"), rule=CHARSET),
    Bad("readings-csv-sensor-id-nul", "maker", _units_path, data=csv_rows(3), content_type="text/csv",
        query="?sensor_id=logger%001", where=("query", "sensor_id"), rule=CHARSET),
    Bad("lot-number-nul", "maker", "/v1/lots", lambda s: _lot_body(s, lot=f"L{NUL}1"), where=("json", "lot"),
        rule=CHARSET),
    Bad("serial-nul", "maker", "/v1/lots", lambda s: _lot_body(s, serials=["X1", f"X{NUL}2"]),
        where=("json", "serials", "1"), rule=CHARSET),
    Bad("serial-range-prefix-nul", "maker", "/v1/lots",
        lambda s: _lot_body(s, serials=None, serial_range={"prefix": f"S{NUL}", "first": 0, "count": 2}),
        where=("json", "serial_range", "prefix"), rule=CHARSET),
    Bad("recall-lot-nul", "maker", "/v1/lots/recalls", lambda s: {"gtin": s["gtin"], "lot": s["lot"] + NUL},
        where=("json", "lot"), rule=CHARSET),
    Bad("ship-to-gln-nul", "maker", "/v1/shipments", lambda s: {"units": [s["c1"]], "to": s["distributor"] + NUL},
        where=("json", "to"), rule=CHARSET),
    Bad("receive-sscc-nul", "distributor", "/v1/receipts", lambda s: {"units": [f"(00){s['c1']}{NUL}"]},
        where=("json", "units", "0"), rule=CHARSET),
    Bad("dispense-pack-serial-nul", "pharmacy", "/v1/dispensations", lambda s: {"packs": [pack(s, 1) + NUL]},
        where=("json", "packs", "0"), rule=CHARSET),
    Bad("dispense-pack-newline", "pharmacy", "/v1/dispensations", lambda s: {"packs": [pack(s, 1)[:20] + "\n"]},
        where=("json", "packs", "0"), rule=CHARSET),
    Bad("quarantine-sscc-nul", "maker", "/v1/quarantines", lambda s: {"sscc": s["c1"] + NUL},
        where=("json", "sscc"), rule=CHARSET),
    Bad("verify-batch-code-nul", "pharmacy", "/v1/verify", lambda s: {"codes": [pack(s, 1), pack(s, 2) + NUL]},
        where=("json", "codes", "1"), rule=CHARSET),
    Bad("alert-note-nul", "regulator", "/v1/alerts/1/acknowledge", {"note": f"seen{NUL}"}, where=("json", "note"),
        rule=CHARSET),
    Bad("alert-resolution-vertical-tab", "regulator", "/v1/alerts/1/close", {"resolution": "done\x0b"},
        where=("json", "resolution"), rule=CHARSET),
    _get("verify-code-nul", "pharmacy", "/v1/verify", q(code="(01)09506000134352(21)A\x00B"),
         where=("query", "code"), rule="charset: "),
    _get("provenance-code-nul", "regulator", "/v1/units/provenance", q(code="(00)" + "1" * 17 + "\x00"),
         where=("query", "code"), rule=CHARSET),
    _get("alerts-rule-nul", "regulator", "/v1/alerts", "?rule=clone%00", where=("query", "rule"), rule=CHARSET),
    # times: no readings from the future (year 9999 was confirmed on chain), query times in a sane range
    Bad("readings-start-year-9999", "maker", _units_path, _readings(start="9999-12-31T23:59:59Z"),
        where=("json", "start"), rule="future: "),
    Bad("readings-start-in-an-hour", "maker", _units_path,
        _readings(start=(NOW + timedelta(hours=1)).isoformat(timespec="seconds")), where=("json", "start"),
        rule="future: "),
    Bad("readings-start-unix-future", "maker", _units_path, _readings(start=int(NOW.timestamp()) + 86_400),
        where=("json", "start"), rule="future: "),
    Bad("readings-last-reading-future", "maker", _units_path,
        _readings(start=int(NOW.timestamp()) - 60, interval=3600, celsius=[4, 5, 6]),
        where=("json", "celsius[1]"), rule="future: reading 1"),
    Bad("readings-csv-row-in-the-future", "maker", _units_path,
        data=csv_rows(3, step=7200, start=int(NOW.timestamp()) - 3600), content_type="text/csv",
        query="?sensor_id=logger-1", where=("json", "csv line 3"), rule="future: reading 1"),
    _activity("?from=0122-07-05T01:44:56%2B23:39"),
    _activity("?from=9999-12-31T23:59:59-23:59"),
    _activity("?to=1999-12-31T23:59:59Z"),
    _activity("?from=2200-01-01T00:00:00Z"),
    _activity("?to=0001-01-01T00:00:00%2B00:00"),
    _get("activity-naive-time", "regulator", lambda s: f"/v1/partners/{s['distributor']}/activity",
         "?from=2025-01-01T00:00:00", where=("query", "from"), rule="timezone: "),
    _get("activity-not-a-time", "regulator", lambda s: f"/v1/partners/{s['distributor']}/activity",
         "?from=yesterday", where=("query", "from"), rule="iso8601: "),
    _get("activity-to-before-from", "regulator", lambda s: f"/v1/partners/{s['distributor']}/activity",
         "?from=2025-02-01T00:00:00Z&to=2025-01-01T00:00:00Z", where=("query", "to"), rule="order: "),
    _get("activity-bad-gln", "regulator", lambda s: f"/v1/partners/{bad_check(s['distributor'])}/activity",
         where=("path", "gln"), rule="check_digit: "),
    Bad("lot-expiry-year-9999", "maker", "/v1/lots", lambda s: _lot_body(s, expiry="9999-12-31"),
        where=("json", "expiry"), rule="date: "),
    Bad("lot-expiry-beyond-the-yymmdd-window", "maker", "/v1/lots",
        lambda s: _lot_body(s, expiry=f"{NOW.year + 51}-06-30"), where=("json", "expiry"), rule="date: "),
    # malformed %-escapes: refused, not taken as the serial "%ZZ"
    Bad("dispense-digital-link-bad-escape", "pharmacy", "/v1/dispensations", lambda s: {"packs": [_dl(s)]},
        where=("json", "packs", "0"), rule="charset: malformed %-escape"),
    Bad("dispense-digital-link-truncated-escape", "pharmacy", "/v1/dispensations",
        lambda s: {"packs": [_dl(s, "S0000000001%2")]}, where=("json", "packs", "0"),
        rule="charset: malformed %-escape"),
    Bad("dispense-digital-link-bad-escape-in-lot", "pharmacy", "/v1/dispensations",
        lambda s: {"packs": [_dl(s, "S0000000001", "?10=L%G1")]}, where=("json", "packs", "0"),
        rule="charset: malformed %-escape in the Digital Link's lot"),
    Bad("dispense-pack-space-inside-serial", "pharmacy", "/v1/dispensations",
        lambda s: {"packs": [f"(01){s['gtin']}(21)S00000 00001"]}, where=("json", "packs", "0"),
        rule="charset: serial (21) contains whitespace"),
    Bad("verify-batch-digital-link-bad-escape", "pharmacy", "/v1/verify", lambda s: {"codes": [_dl(s)]},
        where=("json", "codes[0]"), rule="charset: malformed %-escape"),
    _get("verify-digital-link-bad-escape", "pharmacy", lambda s: "/v1/verify" + q(code=_dl(s)),
         where=("query", "code"), rule="charset: malformed %-escape"),
    _get("verify-epc-bad-escape", "pharmacy", lambda s: "/v1/verify" + q(code="urn:epc:id:sgtin:9506000.013435.%ZZ"),
         where=("query", "code"), rule="charset: malformed %-escape"),
    _get("url-query-bad-escape", "pharmacy", "/v1/verify", "?code=(01)09506000134352(21)%ZZ", raw_uri=True,
         status=400, where=("query", "code"), rule="percent_encoding: "),
    _get("url-path-bad-escape-lvm", "pharmacy", lambda s: _lvm(s, serial="%ZZ"),
         lambda s: q(**_lvm_query(s, reqGLN=s["pharmacy_gln"])), raw_uri=True, status=400,
         where=("path", "serial"), rule="percent_encoding: "),
    _get("url-path-bad-escape-provenance", "regulator", "/v1/units/%G0/provenance", raw_uri=True, status=400,
         where=("path", "code"), rule="percent_encoding: "),
    # every enum-like query parameter is checked
    _get("alerts-unknown-rule", "regulator", "/v1/alerts", "?rule=anything", where=("query", "rule"),
         rule="one_of: must be one of clone, "),
    _get("alerts-unknown-status", "regulator", "/v1/alerts", "?status=pending", where=("query", "status"),
         rule="one_of: "),
    _get("alerts-misspelt-parameter", "regulator", "/v1/alerts", "?staus=open", where=("query", "staus"),
         rule="Unknown field"),
    _get("lots-misspelt-parameter", "regulator", "/v1/lots", "?manufacturer_gln=9506000000015",
         where=("query", "manufacturer_gln"), rule="Unknown field"),
    _get("verify-unknown-parameter", "pharmacy", "/v1/verify", "?code=(01)09506000134352(21)X&verbose=1",
         where=("query", "verbose"), rule="Unknown field"),
    Bad("write-unknown-query-parameter", "maker", "/v1/lots/recalls", lambda s: {"gtin": s["gtin"], "lot": s["lot"]},
        query="?wait=confirmed&timout=5", where=("query", "timout"), rule="Unknown field"),
    _get("lvm-unknown-link-type", "pharmacy", _lvm, lambda s: q(**_lvm_query(s, linkType="pip")),
         where=("query", "linkType"), rule="Must be one of"),
    _get("lvm-unknown-context", "pharmacy", _lvm, lambda s: q(**_lvm_query(s, context="resale")),
         where=("query", "context"), rule="Must be one of"),
    Bad("wait-timeout-negative", "maker", "/v1/lots/recalls", lambda s: {"gtin": s["gtin"], "lot": s["lot"]},
        query="?wait=confirmed&timeout=-1", where=("query", "timeout"), rule="greater than or equal to 0"),
    Bad("wait-timeout-too-long", "maker", "/v1/lots/recalls", lambda s: {"gtin": s["gtin"], "lot": s["lot"]},
        query="?wait=confirmed&timeout=1000", where=("query", "timeout"), rule="less than or equal to 120"),
    Bad("wait-timeout-nan", "maker", "/v1/lots/recalls", lambda s: {"gtin": s["gtin"], "lot": s["lot"]},
        query="?wait=confirmed&timeout=nan", where=("query", "timeout"), rule="Special numeric values"),
    # provenance
    _get("provenance-code-check-digit", "regulator", lambda s: "/v1/units/provenance" + q(code=bad_check(s["c1"])),
         where=("query", "code"), rule="check_digit: "),
    _get("provenance-code-missing", "regulator", "/v1/units/provenance", where=("query", "code"),
         rule="Missing data"),
    _get("provenance-lot-code-in-unit-path", "regulator",
         lambda s: "/v1/units/" + quote(f"(01){s['gtin']}(10)L1", safe="") + "/provenance",
         where=("path", "code"), rule="missing: "),
    _get("provenance-lot-bad-gtin", "regulator", lambda s: f"/v1/lots/{bad_check(s['gtin'])}/L1/provenance",
         where=("path", "gtin"), rule="check_digit: "),
    _get("provenance-lot-number-with-space", "regulator", lambda s: f"/v1/lots/{s['gtin']}/L%201/provenance",
         where=("path", "lot"), rule="charset: "),
    # regulator queries
    _get("lots-bad-gtin", "regulator", lambda s: "/v1/lots" + q(gtin=bad_check(s["gtin"])),
         where=("query", "gtin"), rule="check_digit: "),
    _get("lots-bad-manufacturer-gln", "regulator", lambda s: "/v1/lots" + q(manufacturer=bad_check(s["maker_gln"])),
         where=("query", "manufacturer"), rule="check_digit: "),
    _get("lots-limit-zero", "regulator", "/v1/lots", "?limit=0", where=("query", "limit"), rule="range: "),
    _get("lots-limit-not-a-number", "regulator", "/v1/lots", "?limit=ten", where=("query", "limit"),
         rule="integer: "),
    _get("lots-cursor-garbage", "regulator", "/v1/lots", "?cursor=abc", where=("query", "cursor"), rule="cursor: "),
    _get("recalls-cursor-of-another-list", "regulator", "/v1/recalls",
         "?cursor=" + queries.encode_cursor("alerts", (1,)), where=("query", "cursor"), rule="cursor: "),
    _get("alerts-limit-501", "regulator", "/v1/alerts", "?limit=501", where=("query", "limit"), rule="range: "),
    _get("products-after-not-a-gtin", "pharmacy", "/v1/products", "?after=abc", where=("query", "after"),
         rule="GTIN-14"),
    _get("product-bad-gtin", "pharmacy", lambda s: f"/v1/products/{bad_check(s['gtin'])}", where=("path", "gtin"),
         rule="check_digit: "),
    # verify
    _get("verify-code-missing", "pharmacy", "/v1/verify", where=("query", "code"), rule="missing: "),
    _get("verify-code-check-digit", "pharmacy", lambda s: "/v1/verify" + q(code=f"(01){bad_check(s['gtin'])}(21)S1"),
         where=("query", "code"), rule="check_digit: "),
    _get("verify-gtin-alone", "pharmacy", lambda s: "/v1/verify" + q(code=f"(01){s['gtin']}"),
         where=("query", "code"), rule="missing: "),
    _get("verify-code-too-long", "pharmacy", "/v1/verify", q(code="(01)09506000134352(21)" + "A" * 600),
         where=("query", "code"), rule="length: "),
    Bad("verify-batch-empty", "pharmacy", "/v1/verify", {"codes": []}, where=("json", "codes"),
        rule="between 1 and 1000 codes"),
    Bad("verify-batch-empty-code", "pharmacy", "/v1/verify", {"codes": [""]}, where=("json", "codes", "0"),
        rule="Length must be between 1"),
    Bad("verify-batch-1001", "pharmacy", "/v1/verify", lambda s: {"codes": [pack(s, 1)] * 1001},
        where=("json", "codes"), rule="between 1 and 1000 codes"),
    Bad("verify-batch-not-strings", "pharmacy", "/v1/verify", {"codes": [42]}, where=("json", "codes", "0"),
        rule="Not a valid string"),
    # GS1 Lightweight Verification Messaging
    _get("lvm-missing-req-gln", "pharmacy", _lvm, lambda s: q(**_lvm_query(s, reqGLN=None)),
         where=("query", "reqGLN"), rule="Missing data"),
    _get("lvm-req-gln-check-digit", "pharmacy", _lvm, lambda s: q(**_lvm_query(s, reqGLN=bad_check(s["maker_gln"]))),
         where=("query", "reqGLN"), rule="check_digit: "),
    _get("lvm-corr-uuid-not-a-uuid", "pharmacy", _lvm, lambda s: q(**_lvm_query(s, corrUUID="42")),
         where=("query", "corrUUID"), rule="Not a valid UUID"),
    _get("lvm-expiry-month-13", "pharmacy", _lvm,
         lambda s: q(**_lvm_query(s, reqGLN=s["pharmacy_gln"]) | {"17": "301301"}), where=("query", "17"),
         rule="date: "),
    _get("lvm-lot-with-space", "pharmacy", _lvm, lambda s: q(**_lvm_query(s) | {"10": "L 1"}),
         where=("query", "10"), rule="charset: "),
    _get("lvm-gtin-check-digit", "pharmacy", lambda s: _lvm(s, gtin=bad_check(s["gtin"])),
         lambda s: q(**_lvm_query(s, reqGLN=s["pharmacy_gln"])), where=("path", "gtin"), rule="check_digit: "),
    _get("lvm-serial-with-space", "pharmacy", lambda s: _lvm(s, serial="S%201"),
         lambda s: q(**_lvm_query(s, reqGLN=s["pharmacy_gln"])), where=("path", "serial"), rule="charset: "),
    _get("check-connectivity-bad-req-gln", "pharmacy", "/checkConnectivity", "?reqGLN=123",
         where=("query", "reqGLN"), rule="length: "),
    _get("check-connectivity-bad-corr-uuid", "pharmacy", "/checkConnectivity",
         lambda s: q(reqGLN=s["pharmacy_gln"], corrUUID="nope"), where=("query", "corrUUID"), rule="format: "),
]  # fmt: skip
CORPUS += ISSUE12


def post_bad(world: World, s: dict, bad: Bad):
    path = bad.path(s) if callable(bad.path) else bad.path
    headers = {"Authorization": f"Bearer {world.parties[bad.who].key}", "Idempotency-Key": uuid.uuid4().hex}
    headers.update(bad.headers)
    headers = {k: v for k, v in headers.items() if v is not None}
    target = path + (bad.query(s) if callable(bad.query) else bad.query)
    extra = {"environ_overrides": {"RAW_URI": target}} if bad.raw_uri else {}
    if bad.method == "GET":
        return world.client.get(target, headers=headers, **extra)
    if bad.data is not None:
        return world.client.post(target, data=bad.data, content_type=bad.content_type, headers=headers, **extra)
    body = bad.body(s) if callable(bad.body) else bad.body
    return world.client.post(target, json=body, headers=headers, **extra)


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
