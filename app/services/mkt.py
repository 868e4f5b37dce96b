"""Mean kinetic temperature and the summary statistics of a series of temperature readings (pure functions).

The mean kinetic temperature (MKT) is the single temperature that would degrade a product as much as the
varying temperatures it actually saw (Arrhenius kinetics; USP <1079.2>, ICH Q1A):

    T_mk = (ΔH/R) / -ln( Σ tᵢ·e^(-ΔH/(R·Tᵢ)) / Σ tᵢ ),   Tᵢ in kelvin,

with ΔH/R = 10,000 K (ΔH = 83.144 kJ/mol) and tᵢ the time each reading stands for (equal weights when the
readings are evenly spaced). The exponentials are tiny (e^-36 at 5 °C), so the sum is taken in log space
(log-sum-exp) to keep full precision whatever the range.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

DELTA_H_OVER_R = 10_000.0  # kelvin: ΔH = 83.144 kJ/mol over R = 8.3144 J/(mol·K)
ZERO_CELSIUS = 273.15  # kelvin


@dataclass(frozen=True)
class Summary:
    """count, min, max, time-weighted mean and MKT of a series, in °C."""

    count: int
    min: float
    max: float
    mean: float
    mkt: float


def mean_kinetic_temperature(
    celsius: Sequence[float], weights: Sequence[float] | None = None, *, delta_h_over_r: float = DELTA_H_OVER_R
) -> float:
    """The MKT of `celsius` in °C; `weights` (e.g. seconds each reading covers) default to equal.

    Raises ValueError for an empty series, weights that do not match or are not positive, or a temperature
    that is not finite or not above absolute zero."""
    values, w = _checked(celsius, weights)
    if not math.isfinite(delta_h_over_r) or delta_h_over_r <= 0:
        raise ValueError(f"delta_h_over_r must be a positive number of kelvin, got {delta_h_over_r!r}")
    exponents = [-delta_h_over_r / (c + ZERO_CELSIUS) for c in values]
    top = max(exponents)
    log_mean = top + math.log(math.fsum(wi * math.exp(e - top) for wi, e in zip(w, exponents, strict=True)))
    log_mean -= math.log(math.fsum(w))
    return delta_h_over_r / -log_mean - ZERO_CELSIUS


def summarise(celsius: Sequence[float], weights: Sequence[float] | None = None) -> Summary:
    """Count, min, max, weighted mean and MKT of a series (ValueError as for mean_kinetic_temperature)."""
    values, w = _checked(celsius, weights)
    mean = math.fsum(wi * c for wi, c in zip(w, values, strict=True)) / math.fsum(w)
    return Summary(
        count=len(values),
        min=min(values),
        max=max(values),
        mean=mean,
        mkt=mean_kinetic_temperature(values, w),
    )


def _checked(celsius: Sequence[float], weights: Sequence[float] | None) -> tuple[list[float], list[float]]:
    values = [float(c) for c in celsius]
    if not values:
        raise ValueError("needs at least one temperature")
    for c in values:
        if not math.isfinite(c) or c <= -ZERO_CELSIUS:
            raise ValueError(f"temperature must be a finite number of °C above absolute zero, got {c!r}")
    if weights is None:
        return values, [1.0] * len(values)
    w = [float(x) for x in weights]
    if len(w) != len(values):
        raise ValueError(f"got {len(w)} weights for {len(values)} temperatures")
    for x in w:
        if not math.isfinite(x) or x <= 0:
            raise ValueError(f"weights must be positive finite numbers, got {x!r}")
    return values, w
