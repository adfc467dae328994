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


def mean_centre(output: MeanOutput) -> tuple[int, int]:
    """Midpoint of the bounds on the grid, and the centred sum's sensitivity.

    Summing (value - midpoint) bounds each patient's contribution by half the range instead of
    the largest absolute bound, which can halve the noise at the same epsilon.
    """
    lower, upper = output.bounds_in_units()
    centre = (lower + upper) // 2
    return centre, max(abs(lower - centre), abs(upper - centre))


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
    _, half_range = mean_centre(output)
    sum_half, count_half = sums.accuracy(ALPHA / 2), counts.accuracy(ALPHA / 2)
    step = output.resolution
    # |(S+e1)/(C+e2) - S/C| <= (|e1| + |S/C| |e2|) / (C - |e2|), and |S/C| <= half_range.
    widths = [
        f"n={n:,}: +/-{(sum_half + half_range * count_half) / (n - count_half) * step:.3g}"
        for n in REFERENCE_CELL_SIZES
        if n > count_half
    ]
    return Expected(
        "OpenDP discrete Laplace on centred sum and count",
        {"centred_sum": sums.scale * step, "count": counts.scale},
        None,
        "mean within (95%), for a cell of " + "; ".join(widths),
    )
