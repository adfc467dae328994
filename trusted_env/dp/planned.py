"""The OpenDP mechanisms of each planned output, and what accuracy they promise.

Used both to release (dp.outputs) and, before any data is read, to show researchers and
stewards the expected accuracy of a plan (spec.review), so the two can never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass

from trusted_env.dp.mechanisms import (
    IntegerLaplace,
    QuantileSelector,
    integer_laplace,
    quantile_selector,
    thresholded_counts,
)
from trusted_env.spec.outputs import (
    CountOutput,
    HistogramOutput,
    MeanOutput,
    QuantileOutput,
    SumOutput,
)
from trusted_env.spec.plan import PlannedOutput

ALPHA = 0.05  # every interval is a 95% interval
REFERENCE_CELL_SIZES = (100, 1_000, 10_000)


def count_mechanism(planned: PlannedOutput) -> IntegerLaplace:
    """A patient's rows (one, or at most max_rows_per_patient) add one each to the counts."""
    return integer_laplace(planned.max_rows_per_patient, planned.epsilon)


def sum_mechanism(output: SumOutput, epsilon: float, rows: int) -> IntegerLaplace:
    lower, upper = output.bounds_in_units()
    return integer_laplace(rows * max(abs(lower), abs(upper)), epsilon)


@dataclass(frozen=True)
class MeanGrid:
    """The integer grid a mean is summed on, centred on the exact midpoint of its bounds.

    Each value v (in grid units of the output's resolution) enters the sum as
    `factor * v - centre`. When the midpoint is a grid point, factor is 1 and each patient moves
    the sum by at most half the range. When it falls between two grid points (bounds [0, 1]:
    every proportion), values are doubled (factor 2) so the midpoint becomes a grid point:
    a patient then moves the sum by at most the range in half-units, i.e. half the range,
    instead of the whole range that centring on a grid point next to the midpoint would allow.
    """

    factor: int
    centre: int
    sensitivity: int
    bounds: tuple[int, int]
    step: float

    def value(self, working: float) -> float:
        """A number on the working grid, in the output's units."""
        return working * self.step


def mean_grid(output: MeanOutput) -> MeanGrid:
    lower, upper = output.bounds_in_units()
    factor = 1 if (lower + upper) % 2 == 0 else 2
    centre = factor * (lower + upper) // 2
    return MeanGrid(factor, centre, factor * (upper - lower) // 2,
                    (factor * lower, factor * upper), output.resolution / factor)


def mean_centre(output: MeanOutput) -> tuple[int, int]:
    """Midpoint of the bounds and the centred sum's per-row sensitivity, on the mean's working
    grid (grid units, or half-units when the midpoint falls between grid points: `mean_grid`).

    Summing (value - midpoint) bounds each patient's contribution by half the range instead of
    the largest absolute bound, which can halve the noise at the same epsilon.
    """
    grid = mean_grid(output)
    return grid.centre, grid.sensitivity


def mean_mechanisms(
    output: MeanOutput, epsilon: float, rows: int
) -> tuple[IntegerLaplace, IntegerLaplace]:
    """Centred sum and count, each with half the epsilon (as OpenDP's polars dp.mean)."""
    _, sensitivity = mean_centre(output)
    return integer_laplace(rows * sensitivity, epsilon / 2), integer_laplace(rows, epsilon / 2)


def quantile_mechanism(output: QuantileOutput, epsilon: float, rows: int) -> QuantileSelector:
    lower, upper = output.bounds_in_units()
    return quantile_selector(list(range(lower, upper + 1)), output.quantile, epsilon, rows)


@dataclass(frozen=True)
class Expected:
    mechanism: str
    noise_scales: dict[str, float]
    half_width: float | None
    text: str


def expected_accuracy(planned: PlannedOutput) -> Expected:
    """Mechanism, noise scales and the 95% accuracy of one output, without any data."""
    output = planned.output
    if output.uses_data_keys:
        threshold = thresholded_counts(planned.epsilon, planned.delta,
                                       planned.max_rows_per_patient)
        half = threshold.accuracy(ALPHA)
        return Expected("OpenDP Laplace with threshold", {"count": threshold.scale}, half,
                        f"counts +/-{half:.1f}; a key is released only if its noisy count "
                        f"reaches {threshold.threshold}")
    if isinstance(output, CountOutput | HistogramOutput):
        counts = count_mechanism(planned)
        half = counts.accuracy(ALPHA)
        return Expected("OpenDP discrete Laplace", {"count": counts.scale}, half,
                        f"each count +/-{half:.1f} (95%)")
    if isinstance(output, SumOutput):
        sums = sum_mechanism(output, planned.epsilon, planned.max_rows_per_patient)
        half = sums.accuracy(ALPHA) * output.resolution
        return Expected("OpenDP discrete Laplace", {"sum": sums.scale * output.resolution},
                        half, f"each sum +/-{half:.6g} (95%)")
    if isinstance(output, MeanOutput):
        return _expected_mean(output, planned.epsilon, planned.max_rows_per_patient)
    if isinstance(output, QuantileOutput):
        selector = quantile_mechanism(output, planned.epsilon, planned.max_rows_per_patient)
        return Expected("OpenDP exponential mechanism", {"score": selector.scale}, None,
                        f"one of {len(selector.candidates)} candidates; the error shrinks as "
                        "cells grow (no interval is released for quantiles)")
    raise TypeError(f"unknown output type {type(output).__name__}")


def _expected_mean(output: MeanOutput, epsilon: float, rows: int) -> Expected:
    sums, counts = mean_mechanisms(output, epsilon, rows)
    grid = mean_grid(output)
    sum_half, count_half = sums.accuracy(ALPHA / 2), counts.accuracy(ALPHA / 2)
    # |(S+e1)/(C+e2) - S/C| <= (|e1| + |S/C| |e2|) / (C - |e2|), and |S/C| <= half the range.
    widths = [
        f"n={n:,}: +/-"
        f"{grid.value((sum_half + grid.sensitivity * count_half) / (n - count_half)):.3g}"
        for n in REFERENCE_CELL_SIZES
        if n > count_half
    ]
    return Expected(
        "OpenDP discrete Laplace on centred sum and count",
        {"centred_sum": grid.value(sums.scale), "count": counts.scale},
        None,
        "mean within (95%), for a cell of " + "; ".join(widths),
    )
