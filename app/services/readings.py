"""Temperature logger uploads turned into what ``recordReadings`` takes (pure logic: no Flask, no database).

The contract takes ``(start, interval, readings)``: the unix time of the first reading, the seconds between
readings and the readings as packed big-endian int16 centi-degrees Celsius (:func:`app.ids.pack_readings`).
An upload arrives either as JSON (``start``, ``interval`` and a list of °C values) or as a logger's CSV export
(a header row, then one ``time,temperature`` row per reading); both become a :class:`Readings`.

Rules, each reported as a :class:`ReadingsError` naming the field (``start``, ``interval``, ``readings``,
``readings[3]``, ``csv``, ``csv header``, ``csv line 5``) and the rule it broke:

- a temperature is an int, a float or a decimal string of °C, rounded half away from zero to centi-degrees,
  and between -100.00 and 100.00 °C after rounding;
- a time is an ISO-8601 datetime with a timezone or whole unix seconds, on or after 2000-01-01T00:00:00Z and
  before 2^40 s (the contract's ``uint40``); naive datetimes are refused rather than guessed;
- the interval is whole seconds, 1 to 86400; an upload holds 1 to :data:`MAX_READINGS` readings;
- CSV times must increase at a constant interval: the first difference sets it, and each later row may be off
  by at most 1 s from ``first + i * interval``. A single row is a single reading with an interval of 1 s.
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import TypeGuard

from app.errors import PharmatrackError
from app.ids import pack_readings

MAX_READINGS = 10_000
MIN_CENTI, MAX_CENTI = -10_000, 10_000  # -100.00 .. 100.00 °C
MIN_INTERVAL, MAX_INTERVAL = 1, 86_400
MIN_START = 946_684_800  # 2000-01-01T00:00:00Z
MAX_TIME = 2**40  # exclusive: start is a uint40 on-chain
SPACING_TOLERANCE = 1  # seconds a CSV row may deviate from first + i * interval

TIME_COLUMNS = ("time", "timestamp")
TEMPERATURE_COLUMNS = ("temperature_c", "celsius", "temp_c")

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_YEAR_10000 = 253_402_300_800  # unix seconds of 10000-01-01T00:00:00Z
_DECIMAL_RE = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")
_UNIX_RE = re.compile(r"[0-9]+")
_CENTI = Decimal("0.01")
_RANGE_LIMIT = Decimal("100.005")  # the smallest magnitude that rounds outside ±100.00


class ReadingsError(PharmatrackError, ValueError):
    """An upload that breaks a rule: ``field`` says where (``readings[3]``, ``csv line 5``), ``message`` the rule."""

    def __init__(self, field: str, message: str):
        super().__init__(field, message)
        self.field = field
        self.message = message

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


@dataclass(frozen=True)
class Readings:
    """Readings at a fixed interval, as ``recordReadings`` takes them; validated on construction."""

    start: int  # unix seconds of the first reading
    interval: int  # seconds between readings, 1..86400
    centi: tuple[int, ...]  # centi-degrees Celsius

    def __post_init__(self) -> None:
        object.__setattr__(self, "centi", tuple(self.centi))
        if not _is_int(self.start):
            raise ReadingsError("start", "must be unix seconds (an int)")
        _check_time_range(self.start, "start")
        _interval(self.interval)
        _check_count(len(self.centi))
        for i, value in enumerate(self.centi):
            if not _is_int(value) or not MIN_CENTI <= value <= MAX_CENTI:
                raise ReadingsError(f"readings[{i}]", "must be centi-degrees between -10000 and 10000")
        if self.end >= MAX_TIME:
            raise ReadingsError("readings", "the last reading must be before 2^40 unix seconds")

    @property
    def end(self) -> int:
        """Unix seconds of the last reading."""
        return self.start + self.interval * (len(self.centi) - 1)

    def packed(self) -> bytes:
        """The ``readings`` argument of ``recordReadings``: big-endian int16 centi-degrees."""
        return pack_readings(list(self.centi))


def check_not_future(readings: Readings, now: float, skew: float, field: Callable[[int], str]) -> None:
    """Refuse readings taken after `now` (unix seconds) plus `skew` seconds of a logger's clock running fast:
    a logger cannot report the future, and the chain would keep such a time for good. The error names
    ``field(i)`` of the first late reading i."""
    limit = int(now + skew)
    if readings.end <= limit:
        return
    index = max(0, -(-(limit + 1 - readings.start) // readings.interval))  # the first reading after the limit
    seconds = readings.start + index * readings.interval
    at = _EPOCH + timedelta(seconds=seconds) if seconds < _YEAR_10000 else None  # datetime stops at year 9999
    when = at.isoformat().replace("+00:00", "Z") if at else f"{seconds} unix seconds (after the year 9999)"
    raise ReadingsError(
        field(index),
        f"future: reading {index} would be taken at {when}, after now (a logger's clock may run at most {skew:g} s "
        "fast)",
    )


def to_centi(value: object, field: str) -> int:
    """°C (int, float, Decimal or decimal string) as centi-degrees, rounded half away from zero, within ±100.00 °C.

    Floats go through their shortest repr, so ``2.675`` rounds to 268 as written, not as the binary double
    (2.67499…) would."""
    number = _decimal(value, field)
    if abs(number) >= _RANGE_LIMIT:
        raise ReadingsError(field, "must be between -100.00 and 100.00 °C")
    return int(number.quantize(_CENTI, rounding=ROUND_HALF_UP).scaleb(2))  # quantize rounds the exact value


def from_json(start: object, interval: object, values: object) -> Readings:
    """A JSON upload: ``start`` (ISO-8601 with timezone, or unix seconds), ``interval`` (s), ``values`` (°C)."""
    start_ts = _parse_time(start, "start")
    interval_s = _interval(interval)
    if not isinstance(values, list | tuple) or not values:
        raise ReadingsError("readings", "must be a non-empty list of temperatures in °C")
    _check_count(len(values))
    centi = tuple(to_centi(value, f"readings[{i}]") for i, value in enumerate(values))
    return Readings(start_ts, interval_s, centi)


def from_csv(text: str) -> Readings:
    """A logger's CSV export: a header naming a time and a temperature column, then one row per reading."""
    if not isinstance(text, str):
        raise ReadingsError("csv", "must be text")
    rows = _rows(text.removeprefix("\ufeff"))
    header = next(rows, None)
    if header is None:
        raise ReadingsError("csv", "no readings")
    _, cells = header
    time_col, temp_col = _columns(cells)
    names = (cells[time_col].strip(), cells[temp_col].strip())
    times: list[int] = []
    centi: list[int] = []
    for line, row in rows:
        if len(row) != len(cells):
            raise ReadingsError(f"csv line {line}", f"has {len(row)} columns, the header has {len(cells)}")
        if len(times) == MAX_READINGS:
            raise ReadingsError("readings", f"at most {MAX_READINGS} readings per upload")
        t = _parse_time(row[time_col], f"csv line {line}", names[0])
        _check_spacing(times, t, line, unix=_is_unix(row[time_col]))
        times.append(t)
        centi.append(_csv_temperature(row[temp_col], f"csv line {line}", names[1]))
    if not times:
        raise ReadingsError("csv", "no readings")
    interval = times[1] - times[0] if len(times) > 1 else 1
    return Readings(times[0], interval, tuple(centi))


# ---------------------------------------------------------------------------------------------- helpers


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _decimal(value: object, field: str) -> Decimal:
    """A number of °C as an exact Decimal; refuses bools, None, NaN, infinities and non-numbers."""
    if _is_int(value):
        return Decimal(value)
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ReadingsError(field, "must be a finite number of °C")
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ReadingsError(field, "must be a finite number of °C")
        return Decimal(repr(value))
    if isinstance(value, str):
        if not _DECIMAL_RE.fullmatch(value.strip()):
            raise ReadingsError(field, f"must be a decimal number of °C, got {_show(value)}")
        return Decimal(value.strip())
    raise ReadingsError(field, f"must be a number of °C, not {_type_name(value)}")


def _type_name(value: object) -> str:
    return "null" if value is None else type(value).__name__


def _show(value: str, limit: int = 40) -> str:
    return repr(value if len(value) <= limit else value[:limit] + "…")


def _csv_temperature(cell: str, field: str, column: str) -> int:
    """:func:`to_centi` of a CSV cell, the column's name put in front of any error message."""
    try:
        return to_centi(cell, field)
    except ReadingsError as exc:
        raise ReadingsError(field, f"{column} {exc.message}") from None


def _parse_time(value: object, field: str, column: str = "") -> int:
    """An ISO-8601 datetime with a timezone, or whole unix seconds (an int; in CSV, a string of digits)."""
    prefix = f"{column} " if column else ""
    if column and isinstance(value, str) and _is_unix(value):
        digits = value.strip().lstrip("0") or "0"
        value = int(digits) if len(digits) <= len(str(MAX_TIME)) else MAX_TIME  # no 4300-digit int() limit
    if _is_int(value):
        _check_time_range(value, field, prefix)
        return value
    if not isinstance(value, str):
        raise ReadingsError(field, f"{prefix}must be an ISO-8601 datetime with a timezone or unix seconds")
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ReadingsError(
            field, f"{prefix}must be an ISO-8601 datetime with a timezone or unix seconds, got {_show(value)}"
        ) from None
    if moment.utcoffset() is None:
        raise ReadingsError(field, f"{prefix}must include a timezone")
    elapsed = moment - _EPOCH
    if elapsed.microseconds:
        raise ReadingsError(field, f"{prefix}must be whole seconds")
    seconds = elapsed // timedelta(seconds=1)
    _check_time_range(seconds, field, prefix)
    return seconds


def _is_unix(cell: str) -> bool:
    return bool(_UNIX_RE.fullmatch(cell.strip()))


def _check_time_range(seconds: int, field: str, prefix: str = "") -> None:
    if seconds < MIN_START:
        raise ReadingsError(field, f"{prefix}must not be before 2000-01-01T00:00:00Z")
    if seconds >= MAX_TIME:
        raise ReadingsError(field, f"{prefix}must be before 2^40 unix seconds")


def _interval(value: object) -> int:
    if not _is_int(value) or not MIN_INTERVAL <= value <= MAX_INTERVAL:
        raise ReadingsError("interval", f"must be whole seconds between {MIN_INTERVAL} and {MAX_INTERVAL}")
    return value


def _check_count(count: int) -> None:
    if count == 0:
        raise ReadingsError("readings", "must not be empty")
    if count > MAX_READINGS:
        raise ReadingsError("readings", f"at most {MAX_READINGS} readings per upload")


def _rows(text: str) -> Iterator[tuple[int, list[str]]]:
    """Non-blank CSV rows with the 1-based line each ends on; a blank line is only allowed after the last row."""
    reader = csv.reader(io.StringIO(text, newline=""))
    blank_at = 0
    try:
        for row in reader:
            if not any(cell.strip() for cell in row):
                blank_at = blank_at or reader.line_num
                continue
            if blank_at:
                raise ReadingsError(f"csv line {blank_at}", "blank lines are only allowed at the end")
            yield reader.line_num, row
    except csv.Error as exc:
        raise ReadingsError(f"csv line {reader.line_num}", f"is not valid CSV: {exc}") from None


def _columns(header: Sequence[str]) -> tuple[int, int]:
    """The indexes of the time and temperature columns (names case-insensitive, trimmed)."""
    names = [name.strip().lower() for name in header]
    found = []
    for kind, accepted in (("time", TIME_COLUMNS), ("temperature", TEMPERATURE_COLUMNS)):
        indexes = [i for i, name in enumerate(names) if name in accepted]
        if len(indexes) > 1:
            raise ReadingsError(
                "csv header", f"has more than one {kind} column: {', '.join(names[i] for i in indexes)}"
            )
        found.append(indexes[0] if indexes else None)
    time_col, temp_col = found
    if time_col is None or temp_col is None:
        raise ReadingsError("csv header", "needs a time column and a temperature_c column")
    return time_col, temp_col


def _check_spacing(times: Sequence[int], t: int, line: int, *, unix: bool) -> None:
    """``t`` must come after the previous time and, from the third row on, within 1 s of its expected slot."""
    if not times:
        return
    field = f"csv line {line}"
    if t <= times[-1]:
        raise ReadingsError(field, f"times must increase: {_when(t, unix)} is not after {_when(times[-1], unix)}")
    if len(times) == 1:
        if t - times[0] > MAX_INTERVAL:
            raise ReadingsError(
                field, f"interval must be between {MIN_INTERVAL} and {MAX_INTERVAL} s, got {t - times[0]}"
            )
        return
    expected = times[0] + (times[1] - times[0]) * len(times)
    if abs(t - expected) > SPACING_TOLERANCE:
        raise ReadingsError(
            field, f"readings must be evenly spaced: expected {_when(expected, unix)}, got {_when(t, unix)}"
        )


def _when(seconds: int, unix: bool) -> str:
    """A time as the file wrote it: unix seconds, or ISO-8601 in UTC."""
    if unix:
        return str(seconds)
    return (_EPOCH + timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z")
