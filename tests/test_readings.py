"""app.services.readings: logger uploads (JSON or CSV) turned into recordReadings' (start, interval, readings)."""

from __future__ import annotations

import pickle
from dataclasses import FrozenInstanceError
from decimal import Decimal

import pytest

from app.errors import PharmatrackError
from app.ids import unpack_readings
from app.services.readings import (
    MAX_READINGS,
    Readings,
    ReadingsError,
    from_csv,
    from_json,
    to_centi,
)

T0 = 1_795_514_400  # 2026-11-24T10:00:00Z
Y2K = 946_684_800  # 2000-01-01T00:00:00Z
RANGE = "must be between -100.00 and 100.00 °C"
EVEN = "readings must be evenly spaced"


def fails(call, *args) -> ReadingsError:
    with pytest.raises(ReadingsError) as info:
        call(*args)
    return info.value


def csv_text(*rows: str, header: str = "time,temperature_c") -> str:
    return "\n".join([header, *rows]) + "\n"


# ------------------------------------------------------------------------------------------------ the error


def test_error_names_field_and_rule():
    exc = ReadingsError("readings[3]", RANGE)
    assert (exc.field, exc.message) == ("readings[3]", RANGE)
    assert str(exc) == f"readings[3]: {RANGE}"
    assert isinstance(exc, PharmatrackError)
    assert isinstance(exc, ValueError)


def test_error_survives_pickling():
    exc = pickle.loads(pickle.dumps(ReadingsError("interval", "must be whole seconds between 1 and 86400")))
    assert (exc.field, str(exc)) == ("interval", "interval: must be whole seconds between 1 and 86400")


# ------------------------------------------------------------------------------------------------ to_centi


@pytest.mark.parametrize(
    ("value", "centi"),
    [
        (0, 0),
        (5, 500),
        (-18, -1800),
        (4.5, 450),
        (2.675, 268),  # as written, not as the binary double 2.67499... would round
        (-2.675, -268),
        (0.005, 1),  # half away from zero, not half to even
        (-0.005, -1),
        (0.015, 2),
        (0.0049, 0),
        (-0.0049, 0),
        ("4.5", 450),
        (" 4.555 ", 456),
        ("-4.545", -455),
        ("+7", 700),
        (".5", 50),
        ("3.", 300),
        ("0.004999999999999999999999999999999999", 0),  # more digits than Decimal's 28: still exact
        (Decimal("21.125"), 2113),
        (100, 10_000),
        (-100, -10_000),
        ("100.004", 10_000),
        ("-100.004", -10_000),
        (1e-300, 0),
    ],
)
def test_to_centi_rounds_half_away_from_zero(value, centi):
    assert to_centi(value, "t") == centi


@pytest.mark.parametrize(
    "value", [100.005, -100.005, "100.01", "-273.15", "9" * 50, 1e308, -(10**400), Decimal("1E+999")]
)
def test_to_centi_refuses_values_outside_plus_minus_100(value):
    exc = fails(to_centi, value, "readings[7]")
    assert (exc.field, exc.message) == ("readings[7]", RANGE)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (True, "must be a number of °C, not bool"),
        (False, "must be a number of °C, not bool"),
        (None, "must be a number of °C, not null"),
        ([4.5], "must be a number of °C, not list"),
        ({"c": 4.5}, "must be a number of °C, not dict"),
        (b"4.5", "must be a number of °C, not bytes"),
        (float("nan"), "must be a finite number of °C"),
        (float("inf"), "must be a finite number of °C"),
        (float("-inf"), "must be a finite number of °C"),
        (Decimal("NaN"), "must be a finite number of °C"),
        (Decimal("-Infinity"), "must be a finite number of °C"),
        ("", "must be a decimal number of °C, got ''"),
        ("abc", "must be a decimal number of °C, got 'abc'"),
        ("nan", "must be a decimal number of °C, got 'nan'"),
        ("Infinity", "must be a decimal number of °C, got 'Infinity'"),
        ("1e1", "must be a decimal number of °C, got '1e1'"),
        ("1_0", "must be a decimal number of °C, got '1_0'"),
        ("4,5", "must be a decimal number of °C, got '4,5'"),
        ("\u0664.\u0665", "must be a decimal number of °C, got '\u0664.\u0665'"),  # Arabic-Indic digits
        ("5 °C", "must be a decimal number of °C, got '5 °C'"),
    ],
)
def test_to_centi_refuses_non_numbers(value, message):
    exc = fails(to_centi, value, "readings[0]")
    assert (exc.field, exc.message) == ("readings[0]", message)


def test_to_centi_shortens_long_garbage_in_the_message():
    exc = fails(to_centi, "x" * 100, "readings[0]")
    assert exc.message == f"must be a decimal number of °C, got '{'x' * 40}…'"


# ------------------------------------------------------------------------------------------------ Readings


def test_readings_end_and_packed_round_trip():
    readings = Readings(T0, 600, (420, -1850, 0, 10_000, -10_000))
    assert readings.end == T0 + 4 * 600
    assert readings.packed() == bytes.fromhex("01a4 f8c6 0000 2710 d8f0")
    assert unpack_readings(readings.packed()) == [420, -1850, 0, 10_000, -10_000]


def test_single_reading_ends_where_it_starts():
    assert Readings(T0, 1, (450,)).end == T0


def test_readings_is_frozen_and_keeps_a_tuple():
    readings = Readings(T0, 60, [1, 2])  # type: ignore[arg-type]
    assert readings.centi == (1, 2)
    with pytest.raises(FrozenInstanceError):
        readings.start = 0  # type: ignore[misc]


@pytest.mark.parametrize(
    ("args", "field", "message"),
    [
        ((Y2K - 1, 60, (1,)), "start", "must not be before 2000-01-01T00:00:00Z"),
        ((2**40, 60, (1,)), "start", "must be before 2^40 unix seconds"),
        ((True, 60, (1,)), "start", "must be unix seconds (an int)"),
        ((float(T0), 60, (1,)), "start", "must be unix seconds (an int)"),
        ((T0, 0, (1,)), "interval", "must be whole seconds between 1 and 86400"),
        ((T0, 86_401, (1,)), "interval", "must be whole seconds between 1 and 86400"),
        ((T0, 60, ()), "readings", "must not be empty"),
        ((T0, 1, (0,) * (MAX_READINGS + 1)), "readings", "at most 10000 readings per upload"),
        ((T0, 60, (1, 10_001)), "readings[1]", "must be centi-degrees between -10000 and 10000"),
        ((T0, 60, (1, 2, 4.5)), "readings[2]", "must be centi-degrees between -10000 and 10000"),
        ((2**40 - 1, 60, (1, 2)), "readings", "the last reading must be before 2^40 unix seconds"),
    ],
)
def test_readings_validates_on_construction(args, field, message):
    exc = fails(Readings, *args)
    assert (exc.field, exc.message) == (field, message)


# ------------------------------------------------------------------------------------------------ from_json


@pytest.mark.parametrize(
    "start",
    [
        T0,
        "2026-11-24T10:00:00Z",
        "2026-11-24T10:00:00+00:00",
        "2026-11-24T11:00:00+01:00",
        "2026-11-24T04:30:00-05:30",
        "2026-11-24 10:00:00Z",
        "2026-11-24T10:00Z",
        " 2026-11-24T10:00:00Z ",
        "2026-11-24T10:00:00.000Z",
    ],
)
def test_from_json_start_is_an_instant(start):
    assert from_json(start, 600, [4.2, 4.5, 9.3]) == Readings(T0, 600, (420, 450, 930))


def test_from_json_round_trip_through_packed():
    values = [4.2, -18.5, 0, "7.25", 99.994, -100]
    readings = from_json("2026-11-24T10:00:00Z", 300, values)
    assert unpack_readings(readings.packed()) == [420, -1850, 0, 725, 9999, -10_000]
    assert readings.end == T0 + 5 * 300


@pytest.mark.parametrize("interval", [1, 60, 86_400])
def test_from_json_interval_bounds(interval):
    assert from_json(T0, interval, [1]).interval == interval


def test_from_json_accepts_max_readings():
    assert len(from_json(T0, 1, [5.0] * MAX_READINGS).centi) == MAX_READINGS


@pytest.mark.parametrize(
    ("start", "message"),
    [
        ("2026-11-24T10:00:00", "must include a timezone"),
        ("2026-11-24", "must include a timezone"),
        ("2026-11-24T10:00:00.5Z", "must be whole seconds"),
        ("1999-12-31T23:59:59Z", "must not be before 2000-01-01T00:00:00Z"),
        ("2000-01-01T00:30:00+01:00", "must not be before 2000-01-01T00:00:00Z"),
        (Y2K - 1, "must not be before 2000-01-01T00:00:00Z"),
        (-1, "must not be before 2000-01-01T00:00:00Z"),
        (2**40, "must be before 2^40 unix seconds"),
        ("yesterday", "must be an ISO-8601 datetime with a timezone or unix seconds, got 'yesterday'"),
        ("24/11/2026 10:00", "must be an ISO-8601 datetime with a timezone or unix seconds, got '24/11/2026 10:00'"),
        ("", "must be an ISO-8601 datetime with a timezone or unix seconds, got ''"),
        (float(T0), "must be an ISO-8601 datetime with a timezone or unix seconds"),
        (True, "must be an ISO-8601 datetime with a timezone or unix seconds"),
        (None, "must be an ISO-8601 datetime with a timezone or unix seconds"),
    ],
)
def test_from_json_start_rules(start, message):
    exc = fails(from_json, start, 600, [4.5])
    assert (exc.field, exc.message) == ("start", message)


def test_from_json_start_just_before_2_40_is_allowed():
    assert from_json(2**40 - 1, 600, [4.5]).start == 2**40 - 1
    assert from_json(Y2K, 600, [4.5]).start == Y2K


@pytest.mark.parametrize("interval", [0, -60, 86_401, 60.0, "60", True, None])
def test_from_json_interval_rules(interval):
    exc = fails(from_json, T0, interval, [4.5])
    assert (exc.field, exc.message) == ("interval", "must be whole seconds between 1 and 86400")


@pytest.mark.parametrize("values", [[], None, "4.5", 4.5, {"0": 4.5}])
def test_from_json_readings_must_be_a_non_empty_list(values):
    exc = fails(from_json, T0, 60, values)
    assert (exc.field, exc.message) == ("readings", "must be a non-empty list of temperatures in °C")


def test_from_json_refuses_more_than_max_readings():
    exc = fails(from_json, T0, 1, [5.0] * (MAX_READINGS + 1))
    assert (exc.field, exc.message) == ("readings", "at most 10000 readings per upload")


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (150, RANGE),
        (None, "must be a number of °C, not null"),
        ("warm", "must be a decimal number of °C, got 'warm'"),
        (float("nan"), "must be a finite number of °C"),
    ],
)
def test_from_json_names_the_bad_reading_by_index(bad, message):
    exc = fails(from_json, T0, 60, [4.0, 4.1, 4.2, bad, 4.4])
    assert (exc.field, exc.message) == ("readings[3]", message)
    assert str(exc) == f"readings[3]: {message}"


def test_from_json_refuses_a_last_reading_past_2_40():
    exc = fails(from_json, 2**40 - 100, 60, [1, 2, 3])
    assert (exc.field, exc.message) == ("readings", "the last reading must be before 2^40 unix seconds")


# ------------------------------------------------------------------------------------------------ from_csv


def test_from_csv_iso_times():
    text = csv_text("2026-11-24T10:00:00Z,4.2", "2026-11-24T10:10:00Z,4.5", "2026-11-24T10:20:00Z,-9.3")
    assert from_csv(text) == Readings(T0, 600, (420, 450, -930))


def test_from_csv_unix_times_round_trip_through_packed():
    readings = from_csv(csv_text(f"{T0},4.2", f"{T0 + 60},4.25", f"{T0 + 120},-18.005"))
    assert (readings.start, readings.interval, readings.end) == (T0, 60, T0 + 120)
    assert unpack_readings(readings.packed()) == [420, 425, -1801]


def test_from_csv_timezones_are_instants():
    # the same instants written in three offsets (a logger that changed zone mid-trip)
    text = csv_text("2026-11-24T11:00:00+01:00,4", "2026-11-24T10:05:00Z,5", "2026-11-24T05:10:00-05:00,6")
    assert from_csv(text) == Readings(T0, 300, (400, 500, 600))


@pytest.mark.parametrize(
    ("header", "row"),
    [
        ("time,temperature_c", f"{T0},4.5"),
        ("timestamp,celsius", f"{T0},4.5"),
        ("Time,Temp_C", f"{T0},4.5"),
        (" TIMESTAMP , Temperature_C ", f"{T0},4.5"),
        ("temp_c,time", f"4.5,{T0}"),
        ("logger,time,humidity,temperature_c,battery", f"LG-7,{T0},55,4.5,ok"),
        ('"time","temperature_c"', f'"{T0}","4.5"'),
    ],
)
def test_from_csv_header_names(header, row):
    assert from_csv(csv_text(row, header=header)) == Readings(T0, 1, (450,))


def test_from_csv_single_row_has_interval_1():
    readings = from_csv(csv_text("2026-11-24T10:00:00Z,4.5"))
    assert (readings.start, readings.interval, readings.centi, readings.end) == (T0, 1, (450,), T0)


def test_from_csv_bom_crlf_and_trailing_blank_lines():
    text = f"\ufefftime,temperature_c\r\n{T0},4.5\r\n{T0 + 60},4.6\r\n\r\n\r\n"
    assert from_csv(text) == Readings(T0, 60, (450, 460))


def test_from_csv_without_final_newline():
    assert from_csv(f"time,temperature_c\n{T0},4.5").centi == (450,)


def test_from_csv_tolerates_one_second_of_jitter_without_drift():
    rows = [f"{T0},1", f"{T0 + 60},2", f"{T0 + 121},3", f"{T0 + 179},4", f"{T0 + 241},5"]
    readings = from_csv(csv_text(*rows))
    assert (readings.start, readings.interval, len(readings.centi)) == (T0, 60, 5)


def test_from_csv_uneven_spacing_names_the_line():
    exc = fails(from_csv, csv_text(f"{T0},1", f"{T0 + 60},2", f"{T0 + 120},3", f"{T0 + 182},4"))
    assert (exc.field, exc.message) == ("csv line 5", f"{EVEN}: expected {T0 + 180}, got {T0 + 182}")
    assert str(exc) == f"csv line 5: {EVEN}: expected {T0 + 180}, got {T0 + 182}"


def test_from_csv_uneven_spacing_in_iso_shows_iso():
    rows = ["2026-11-24T10:00:00Z,1", "2026-11-24T10:10:00Z,2", "2026-11-24T11:25:00+01:00,3"]
    exc = fails(from_csv, csv_text(*rows))
    assert (exc.field, exc.message) == (
        "csv line 4",
        f"{EVEN}: expected 2026-11-24T10:20:00Z, got 2026-11-24T10:25:00Z",
    )


def test_from_csv_a_missing_row_is_uneven_spacing():
    exc = fails(from_csv, csv_text(f"{T0},1", f"{T0 + 60},2", f"{T0 + 180},4"))
    assert (exc.field, exc.message) == ("csv line 4", f"{EVEN}: expected {T0 + 120}, got {T0 + 180}")


@pytest.mark.parametrize(
    ("rows", "line", "message"),
    [
        ((f"{T0},1", f"{T0},2"), 3, f"times must increase: {T0} is not after {T0}"),
        ((f"{T0},1", f"{T0 - 60},2"), 3, f"times must increase: {T0 - 60} is not after {T0}"),
        # with interval 1 a repeated time is within the 1 s tolerance: still refused
        ((f"{T0},1", f"{T0 + 1},2", f"{T0 + 1},3"), 4, f"times must increase: {T0 + 1} is not after {T0 + 1}"),
        ((f"{T0},1", f"{T0 + 60},2", f"{T0 + 30},3"), 4, f"times must increase: {T0 + 30} is not after {T0 + 60}"),
        (
            ("2026-11-24T10:00:00Z,1", "2026-11-24T09:59:00Z,2"),
            3,
            "times must increase: 2026-11-24T09:59:00Z is not after 2026-11-24T10:00:00Z",
        ),
        ((f"{T0},1", f"{T0 + 86_401},2"), 3, "interval must be between 1 and 86400 s, got 86401"),
    ],
)
def test_from_csv_time_order(rows, line, message):
    exc = fails(from_csv, csv_text(*rows))
    assert (exc.field, exc.message) == (f"csv line {line}", message)


def test_from_csv_accepts_the_longest_interval():
    assert from_csv(csv_text(f"{T0},1", f"{T0 + 86_400},2")).interval == 86_400


@pytest.mark.parametrize(
    ("cell", "message"),
    [
        ("2026-11-24T10:00:00", "time must include a timezone"),
        ("2026-11-24T10:00:00.250Z", "time must be whole seconds"),
        ("1999-12-31T23:59:59Z", "time must not be before 2000-01-01T00:00:00Z"),
        ("946684799", "time must not be before 2000-01-01T00:00:00Z"),
        ("1099511627776", "time must be before 2^40 unix seconds"),
        ("9" * 5000, "time must be before 2^40 unix seconds"),  # beyond int()'s 4300-digit limit
        ("-1795514400", "time must be an ISO-8601 datetime with a timezone or unix seconds, got '-1795514400'"),
        ("1795514400.5", "time must be an ISO-8601 datetime with a timezone or unix seconds, got '1795514400.5'"),
        ("", "time must be an ISO-8601 datetime with a timezone or unix seconds, got ''"),
        ("noon", "time must be an ISO-8601 datetime with a timezone or unix seconds, got 'noon'"),
    ],
)
def test_from_csv_bad_time_names_line_and_column(cell, message):
    exc = fails(from_csv, csv_text(f"{T0 - 60},1", f"{cell},2", header="Time,temperature_c"))
    assert exc.field == "csv line 3"
    assert exc.message == message.replace("time ", "Time ", 1)


def test_from_csv_unix_time_with_leading_zeros_and_spaces():
    assert from_csv(csv_text(f" 0{T0} , 4.5 ")).start == T0


@pytest.mark.parametrize(
    ("cell", "message"),
    [
        ("warm", "must be a decimal number of °C, got 'warm'"),
        ("", "must be a decimal number of °C, got ''"),
        ("4,5", "must be a decimal number of °C, got '4,5'"),
        ("NaN", "must be a decimal number of °C, got 'NaN'"),
        ("100.01", RANGE),
        ("-120", RANGE),
    ],
)
def test_from_csv_bad_temperature_names_line_and_column(cell, message):
    text = csv_text(f"{T0},4.5", f"{T0 + 60},4.6", f'{T0 + 120},"{cell}"', header="timestamp,celsius")
    exc = fails(from_csv, text)
    assert (exc.field, exc.message) == ("csv line 4", f"celsius {message}")


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (f"{T0}", "has 1 columns, the header has 2"),
        (f"{T0},4.5,extra", "has 3 columns, the header has 2"),
        (f"{T0},4.5,", "has 3 columns, the header has 2"),
    ],
)
def test_from_csv_column_count(row, message):
    exc = fails(from_csv, csv_text(f"{T0 - 60},4.5", row))
    assert (exc.field, exc.message) == ("csv line 3", message)


@pytest.mark.parametrize(
    "header",
    [
        "time;temperature_c",  # ';' is not a separator here
        "time,temperature",
        "date,temperature_c",
        "temperature_c",
        "time",
        f"{T0},4.5",  # no header row at all
    ],
)
def test_from_csv_header_needs_time_and_temperature(header):
    exc = fails(from_csv, csv_text(f"{T0},4.5", header=header))
    assert (exc.field, exc.message) == ("csv header", "needs a time column and a temperature_c column")


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("time,timestamp,temperature_c", "has more than one time column: time, timestamp"),
        ("time,celsius,temp_c", "has more than one temperature column: celsius, temp_c"),
        ("time,temperature_c,Temperature_C", "has more than one temperature column: temperature_c, temperature_c"),
    ],
)
def test_from_csv_header_must_not_be_ambiguous(header, message):
    exc = fails(from_csv, csv_text(f"{T0},4.5,4.6", header=header))
    assert (exc.field, exc.message) == ("csv header", message)


@pytest.mark.parametrize("text", ["", "\ufeff", "\n\n", "  \n", "time,temperature_c", "time,temperature_c\n\n\n"])
def test_from_csv_without_readings(text):
    exc = fails(from_csv, text)
    assert (exc.field, exc.message) == ("csv", "no readings")


def test_from_csv_blank_line_between_readings():
    exc = fails(from_csv, f"time,temperature_c\n{T0},4.5\n\n{T0 + 60},4.6\n")
    assert (exc.field, exc.message) == ("csv line 3", "blank lines are only allowed at the end")


def test_from_csv_blank_line_before_header():
    exc = fails(from_csv, f"\ntime,temperature_c\n{T0},4.5\n")
    assert (exc.field, exc.message) == ("csv line 1", "blank lines are only allowed at the end")


def test_from_csv_line_numbers_count_physical_lines():
    # a quoted field spanning two lines: the bad row after it is on line 5
    text = f'time,temperature_c,note\n{T0},4.5,"two\nlines"\n{T0 + 60},4.6,x\n{T0 + 120},hot,x\n'
    exc = fails(from_csv, text)
    assert (exc.field, exc.message) == ("csv line 5", "temperature_c must be a decimal number of °C, got 'hot'")


def test_from_csv_malformed_csv():
    exc = fails(from_csv, f"time,temperature_c\n{T0},{'9' * 200_000}\n")
    assert exc.field == "csv line 2"
    assert exc.message.startswith("is not valid CSV: field larger than field limit")


def test_from_csv_refuses_bytes():
    exc = fails(from_csv, b"time,temperature_c\n")
    assert (exc.field, exc.message) == ("csv", "must be text")


def test_from_csv_max_readings():
    rows = [f"{T0 + i},5" for i in range(MAX_READINGS)]
    assert len(from_csv(csv_text(*rows)).centi) == MAX_READINGS
    exc = fails(from_csv, csv_text(*rows, f"{T0 + MAX_READINGS},5"))
    assert (exc.field, exc.message) == ("readings", "at most 10000 readings per upload")


def test_from_csv_and_from_json_agree():
    values = [4.2, 4.55, -0.005, 7]
    text = csv_text(*(f"2026-11-24T10:{10 * i:02d}:00Z,{v}" for i, v in enumerate(values)))
    assert from_csv(text) == from_json("2026-11-24T10:00:00Z", 600, values)


# --- not from the future (issue 12: readings with start in year 9999 were confirmed on chain) ------------------


def test_readings_up_to_the_clock_skew_are_accepted():
    from app.services.readings import check_not_future

    check_not_future(Readings(T0, 60, (1, 2, 3)), now=T0 + 120 - 300, skew=300, field=str)  # last one at the limit


@pytest.mark.parametrize(
    ("readings", "field", "index"),
    [
        (Readings(T0 + 301, 60, (1, 2)), "0", 0),  # the first is late
        (Readings(T0 - 60, 181, (1, 2, 3)), "2", 2),  # at T0 - 60 and T0 + 121 on time, at T0 + 302 not
        (Readings(253_402_300_799, 1, (1,)), "0", 0),  # 9999-12-31T23:59:59Z
        (Readings(2**40 - 10, 1, (1,)), "0", 0),  # the year 36812: no calendar date, still a message
    ],
)
def test_readings_after_the_clock_skew_name_the_first_late_one(readings, field, index):
    from app.services.readings import check_not_future

    with pytest.raises(ReadingsError) as info:
        check_not_future(readings, now=T0, skew=300, field=str)
    assert info.value.field == field
    assert info.value.message.startswith(f"future: reading {index} would be taken at ")
    assert "300 s fast" in info.value.message
