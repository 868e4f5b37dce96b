"""Cold-chain readings: calldata and events only; an out-of-range reading flags the unit."""

from __future__ import annotations

from app.ids import pack_readings, unpack_readings
from tests.contracts.conftest import MAX_TEMP, MIN_TEMP
from tests.contracts.helpers import events, reverts

SENSOR = b"LOGGER-0042".ljust(32, b"\0")
START = 1_800_000_000
UNKNOWN = b"\x05" * 32


def record(world, unit, readings: bytes, by, interval=600):
    return world.send(world.pt.functions.recordReadings(unit, SENSOR, START, interval, readings), by)


def test_recordReadings_in_range_emits_them_and_stores_nothing(world):
    pt = world.pt
    case = world.pack_case(1, 0, 10)
    values = [MIN_TEMP, 450, MAX_TEMP]
    receipt = record(world, case, pack_readings(values), world.maker)
    assert world.unit(case)["excursion"] is False
    [(name, args)] = events(pt, receipt)
    assert name == "TemperatureRecorded"
    assert args == {
        "unitId": case,
        "sensorId": SENSOR,
        "by": world.maker,
        "start": START,
        "interval": 600,
        "readings": pack_readings(values),
    }
    assert unpack_readings(args["readings"]) == values


def test_recordReadings_out_of_range_flags_an_excursion(world):
    pt = world.pt
    case = world.pack_case(1, 0, 10)
    receipt = record(world, case, pack_readings([500, 510, MAX_TEMP + 1, -40]), world.maker)
    assert world.unit(case)["excursion"] is True
    assert [name for name, _ in events(pt, receipt)] == ["TemperatureRecorded", "ExcursionDetected"]
    assert events(pt, receipt)[1][1] == {
        "unitId": case,
        "sensorId": SENSOR,
        "time": START + 2 * 600,
        "value": MAX_TEMP + 1,
        "minTemp": MIN_TEMP,
        "maxTemp": MAX_TEMP,
    }


def test_recordReadings_below_range_flags_an_excursion(world):
    case = world.pack_case(1, 0, 10)
    receipt = record(world, case, pack_readings([MIN_TEMP - 1]), world.maker)
    assert events(world.pt, receipt)[1][1]["value"] == MIN_TEMP - 1
    assert world.unit(case)["excursion"] is True


def test_recordReadings_second_excursion_keeps_the_flag_and_reports_again(world):
    case = world.pack_case(1, 0, 10)
    record(world, case, pack_readings([900]), world.maker)
    receipt = record(world, case, pack_readings([450, -100]), world.maker)
    assert [name for name, _ in events(world.pt, receipt)] == ["TemperatureRecorded", "ExcursionDetected"]
    assert world.unit(case)["excursion"] is True


def test_recordReadings_by_recipient_while_in_transit(world):
    case = world.pack_case(1, 0, 10)
    world.send(world.pt.functions.ship([case], world.distributor), world.maker)
    receipt = record(world, case, pack_readings([450]), world.distributor)
    assert events(world.pt, receipt)[0][1]["by"] == world.distributor


def test_recordReadings_for_a_case_on_a_pallet_in_transit_by_the_pallets_recipient(world):
    case = world.pack_case(1, 0, 10)
    pallet = world.pack_pallet(1, [case])
    world.send(world.pt.functions.ship([pallet], world.distributor), world.maker)
    record(world, case, pack_readings([2000]), world.distributor)
    assert (world.unit(case)["excursion"], world.unit(pallet)["excursion"]) == (True, False)


def test_recordReadings_unknown_unit_reverts(world):
    call = world.pt.functions.recordReadings(UNKNOWN, SENSOR, START, 600, pack_readings([1]))
    reverts(world.pt, call, world.maker, "UnitNotFound", UNKNOWN)


def test_recordReadings_by_other_party_reverts(world):
    case = world.pack_case(1, 0, 10)
    call = world.pt.functions.recordReadings(case, SENSOR, START, 600, pack_readings([1]))
    reverts(world.pt, call, world.pharmacy, "UnitNotHeld", case, world.pharmacy)


def test_recordReadings_in_transit_by_other_than_the_recipient_reverts(world):
    case = world.pack_case(1, 0, 10)
    world.send(world.pt.functions.ship([case], world.distributor), world.maker)
    call = world.pt.functions.recordReadings(case, SENSOR, START, 600, pack_readings([1]))
    reverts(world.pt, call, world.pharmacy, "UnitNotHeld", case, world.pharmacy)


def test_recordReadings_malformed_reverts(world):
    case = world.pack_case(1, 0, 10)
    for data in (b"", b"\x01\x02\x03"):
        call = world.pt.functions.recordReadings(case, SENSOR, START, 600, data)
        reverts(world.pt, call, world.maker, "ReadingsMalformed", len(data))
