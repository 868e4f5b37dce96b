"""Mean kinetic temperature: the pure function and the summary built on it."""

from __future__ import annotations

import math
from decimal import Decimal, getcontext

import pytest

from app.services.mkt import mean_kinetic_temperature, summarise


def mkt_by_decimal(celsius, weights=None) -> float:
    """The formula of DOMAIN.md written out directly in 50-digit decimal arithmetic (no log-sum-exp)."""
    getcontext().prec = 50
    weights = weights or [1] * len(celsius)
    total = sum(
        Decimal(w) * (-(Decimal(10_000) / (Decimal(str(t)) + Decimal("273.15")))).exp()
        for t, w in zip(celsius, weights, strict=True)
    )
    return float(Decimal(10_000) / -(total / sum(Decimal(w) for w in weights)).ln() - Decimal("273.15"))


@pytest.mark.parametrize("celsius", [-20.0, 0.0, 5.0, 25.0, 40.0])
def test_constant_temperature_gives_that_temperature(celsius):
    assert mean_kinetic_temperature([celsius] * 48) == pytest.approx(celsius, abs=1e-9)


@pytest.mark.parametrize(
    "celsius",
    [[2, 8], [2, 8, 15], [20, 25, 30, 35], [-5, 4, 4, 4, 30], [7.9, 8.0, 8.1]],
)
def test_mkt_is_at_least_the_arithmetic_mean(celsius):
    """exp(-ΔH/RT) is convex in T over this range, so by Jensen MKT ≥ mean, and > for unequal values."""
    assert mean_kinetic_temperature(celsius) > sum(celsius) / len(celsius)


def test_known_values():
    # 2, 8, 15 °C with equal weights: 9.9507 °C (50-digit decimal evaluation of the formula).
    assert mean_kinetic_temperature([2, 8, 15]) == pytest.approx(9.950714202396299, abs=1e-9)
    assert mean_kinetic_temperature([20, 25, 30, 35]) == pytest.approx(mkt_by_decimal([20, 25, 30, 35]), abs=1e-9)
    assert mean_kinetic_temperature([2, 8, 15]) == pytest.approx(mkt_by_decimal([2, 8, 15]), abs=1e-9)


def test_weights_count_like_repeated_readings():
    weighted = mean_kinetic_temperature([25, 40], [2, 2])
    assert weighted == pytest.approx(mean_kinetic_temperature([25, 25, 40, 40]), abs=1e-9)
    assert mean_kinetic_temperature([25, 25, 40], [1, 1, 2]) == pytest.approx(
        mkt_by_decimal([25, 25, 40], [1, 1, 2]), abs=1e-9
    )


def test_one_hot_reading_pulls_mkt_above_the_mean_more_than_a_cold_one_pushes_it_below():
    base = [5.0] * 99
    hot, cold = mean_kinetic_temperature([*base, 25.0]), mean_kinetic_temperature([*base, -15.0])
    assert hot - 5.0 > 5.0 - cold > 0


def test_summary():
    s = summarise([2.0, 8.0, 15.0], [60, 60, 60])
    assert (s.count, s.min, s.max) == (3, 2.0, 15.0)
    assert s.mean == pytest.approx(25 / 3)
    assert s.mkt == pytest.approx(mkt_by_decimal([2, 8, 15]), abs=1e-9)
    assert summarise([4.0, 10.0], [3, 1]).mean == pytest.approx(5.5)  # time-weighted


@pytest.mark.parametrize(
    ("celsius", "weights", "message"),
    [
        ([], None, "at least one"),
        ([5.0], [1, 2], "2 weights for 1"),
        ([5.0, 6.0], [1, 0], "positive"),
        ([5.0], [-1], "positive"),
        ([math.nan], None, "finite"),
        ([math.inf], None, "finite"),
        ([-273.15], None, "absolute zero"),
    ],
)
def test_bad_input_raises_value_error(celsius, weights, message):
    with pytest.raises(ValueError, match=message):
        mean_kinetic_temperature(celsius, weights)
    with pytest.raises(ValueError, match=message):
        summarise(celsius, weights)
