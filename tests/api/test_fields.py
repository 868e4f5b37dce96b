"""The input rules every schema shares: text fields refuse control characters, and the OpenAPI
document is valid (checked with openapi-spec-validator), so schema-driven clients and fuzzers can use it.

These need no database or chain: the app is built with an unreachable DATABASE_URL (it connects lazily)."""

from __future__ import annotations

import pytest
from marshmallow import Schema, ValidationError, fields
from openapi_spec_validator import OpenAPIV30SpecValidator

from app.api import fields as pt_fields
from app.api.fields import Text


@pytest.fixture(scope="module")
def offline_app():
    from app import create_app
    from app.config import Settings

    app = create_app(Settings.from_env({"DATABASE_URL": "postgresql://nobody@127.0.0.1:9/none", "LOG_LEVEL": "ERROR"}))
    yield app
    app.extensions["pharmatrack"].db.close()


@pytest.fixture(scope="module")
def spec(offline_app) -> dict:
    return offline_app.test_client().get("/openapi.json").get_json()


# --------------------------------------------------------------------------- the OpenAPI document


def test_the_openapi_document_is_valid(spec):
    errors = [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in OpenAPIV30SpecValidator(spec).iter_errors()
    ]
    assert errors == []


def test_storage_bounds_are_numbers(spec):
    storage = spec["components"]["schemas"]["Storage"]["properties"]
    for name in ("min_celsius", "max_celsius"):
        assert (storage[name]["minimum"], storage[name]["maximum"]) == (-100, 100)


def test_text_fields_state_the_control_character_rule(spec):
    name = spec["components"]["schemas"]["ProductRegistration"]["properties"]["name"]
    assert name["pattern"].startswith("^[^\\u0000-\\u001f")


def test_the_alert_rule_parameter_lists_the_rules(spec):
    (rule,) = [p for p in spec["paths"]["/v1/alerts"]["get"]["parameters"] if p["name"] == "rule"]
    assert {"clone", "recalled", "impossible_travel", "temperature_excursion"} <= set(rule["schema"]["enum"])


# --------------------------------------------------------------------------- every text field is a Text


def _app_schemas(offline_app) -> set[type[Schema]]:
    """Every schema class the API defines or registers in its document."""
    api = offline_app.extensions["flask-smorest"]["apis"][""]["ext_obj"]
    found = {ref[0] for ref in api.ma_plugin.converter.refs if isinstance(ref[0], type)}
    todo = [Schema]
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        found.add(cls)
    return {cls for cls in found if cls.__module__.startswith("app.") or cls.__module__ == "marshmallow.schema"}


def _leaves(field: fields.Field, where: str):
    """(place, field) for the field and every field inside it (list items, dict keys and values, nested schemas)."""
    yield where, field
    if isinstance(field, fields.List):
        yield from _leaves(field.inner, f"{where}[]")
    elif isinstance(field, fields.Tuple):
        for i, inner in enumerate(field.tuple_fields):
            yield from _leaves(inner, f"{where}[{i}]")
    elif isinstance(field, fields.Dict):
        for part in ("key_field", "value_field"):
            if getattr(field, part, None) is not None:
                yield from _leaves(getattr(field, part), f"{where}.{part}")


def test_every_string_field_of_every_schema_is_a_text_field(offline_app):
    schemas = _app_schemas(offline_app)
    assert len(schemas) > 40, "the walk found too few schemas to be complete"
    plain = []
    for cls in schemas:
        for name, field in cls._declared_fields.items():
            for where, leaf in _leaves(field, f"{cls.__module__}.{cls.__name__}.{name}"):
                # A UUID parses to a UUID: no control character gets through it.
                if isinstance(leaf, fields.String) and not isinstance(leaf, Text | fields.UUID):
                    plain.append(where)
    assert plain == [], "use app.api.fields.Text, which refuses control characters"


# --------------------------------------------------------------------------- the Text rule


@pytest.mark.parametrize(
    "value",
    ["a\x00b", "\x01", "tab\there", "line\nbreak", "cr\r", "\x1b[31m", "del\x7f", "c1\x85", "\x9f",
     "sep\u2028", "par\u2029", "lone\ud800", "\udfff"],
)  # fmt: skip
def test_a_single_line_text_refuses_control_characters(value):
    with pytest.raises(ValidationError) as exc:
        Text().deserialize(value)
    assert exc.value.messages[0].startswith("charset: must not contain control characters"), exc.value.messages


@pytest.mark.parametrize(
    "value", ["", "Amoxicillin 500 mg", "Überweisung \u2013 5 µg/ml", "日本語", "emoji \U0001f48a", "~!"]
)
def test_a_single_line_text_takes_printable_unicode(value):
    assert Text().deserialize(value) == value


def test_a_multiline_text_takes_tab_and_line_breaks_but_no_other_control():
    assert Text(multiline=True).deserialize("seen\tok\r\nnext line\u2028") == "seen\tok\r\nnext line\u2028"
    for value in ("a\x00", "a\x0b", "a\x0c", "a\x1d", "a\x85", "a\ud800"):
        with pytest.raises(ValidationError, match="charset: "):
            Text(multiline=True).deserialize(value)


def test_the_error_says_which_character_and_where():
    with pytest.raises(ValidationError) as exc:
        Text().deserialize("ab\x00")
    assert exc.value.messages == [
        "charset: must not contain control characters (a control character, U+0000, at position 2)"
    ]


def test_gs1_codes_take_the_group_separator_of_raw_scan_data_and_nothing_else():
    scan = "]d201095060001343521721123110L1\x1d21SER1"
    assert pt_fields.PackCode().deserialize(scan).serial == "SER1"
    for value in ("(01)09506000134352(21)SER\x001", "]d2010950600013435221SER1\x0010L1"):
        with pytest.raises(ValidationError, match="charset: must not contain control"):
            pt_fields.PackCode().deserialize(value)


@pytest.mark.parametrize("cls", [pt_fields.GTIN, pt_fields.GLN, pt_fields.LotNumber, pt_fields.Serial, pt_fields.SSCC])
def test_gs1_keys_refuse_nul(cls):
    with pytest.raises(ValidationError, match="charset: "):
        cls().deserialize("0950600013435\x002")


# --------------------------------------------------------------------------- query times and expiry dates


@pytest.mark.parametrize(
    "value",
    ["0122-07-05T01:44:56+23:39", "9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+00:00", "1999-12-31T23:59:59Z",
     "2200-01-01T00:00:00Z", "2199-12-31T23:00:00-01:00"],
)  # fmt: skip
def test_a_query_time_outside_2000_to_2199_is_refused(value):
    with pytest.raises(ValidationError) as exc:
        pt_fields.Time().deserialize(value)
    assert exc.value.messages[0].startswith("range: "), exc.value.messages


def test_a_query_time_is_taken_in_utc_whatever_its_offset():
    moment = pt_fields.Time().deserialize("2025-01-01T00:00:00+23:59")
    assert moment.isoformat() == "2024-12-31T00:01:00+00:00"  # Postgres takes offsets only up to ±15:59


@pytest.mark.parametrize("value", ["9999-12-31", "2100-01-01"])
def test_an_expiry_gs1_cannot_print_is_refused(value):
    with pytest.raises(ValidationError, match=r"^date: .*YYMMDD window"):
        pt_fields.Expiry().deserialize(value)
