"""95% error of each aggregate, for tre's release and for each peer's.

Counts: every path releases whole numbers, so the error is the smallest integer that 95% of
released counts stay within, derived from OpenDP's accuracy function for the path's noise:
tre, OpenDP's Context and Tumult add discrete Laplace (geometric) noise, SmartNoise adds
continuous Laplace noise and rounds (`integer_error`). Means: every path releases noisy sum /
noisy count; the 95% error at a cell is the widest deviation of (S + e1) / (C + e2) from S / C
over |e1|, |e2| within their 97.5% bounds (`noise_bound`: whole numbers for discrete noise),
evaluated at the cell's true size and mean (tre and Tumult sum values centred on the middle of
the bounds, OpenDP and SmartNoise sum them as they are): the union bound tre's release uses for
its intervals. Medians: the 95th percentile of |released - exact| over repeated draws of tre's
mechanism; a peer releases one draw per run, so its figure is the largest error over its runs.
"""

from __future__ import annotations

import math
import statistics
from typing import Any

ALPHA = 0.05


def _accuracy(distribution: str, scale: float, alpha: float) -> float:
    from trusted_env.dp.opendp_core import opendp

    accuracy = opendp().accuracy
    if _discrete(distribution):
        return float(accuracy.discrete_laplacian_scale_to_accuracy(scale, alpha))
    return float(accuracy.laplacian_scale_to_accuracy(scale, alpha))


def _discrete(distribution: str) -> bool:
    return "Integer" in distribution or "Discrete" in distribution


def noise_bound(distribution: str, scale: float, alpha: float) -> float:
    """Smallest b with P(|noise| > b) <= alpha: OpenDP's accuracy a, P(|X| >= a) <= alpha,
    which for whole-number (discrete) noise means |X| <= ceil(a) - 1. Used for the sums and
    counts inside a mean, so that discrete and continuous noise are compared like for like."""
    accuracy = _accuracy(distribution, scale, alpha)
    return float(math.ceil(accuracy) - 1) if _discrete(distribution) else accuracy


def integer_error(distribution: str, scale: float, alpha: float) -> float:
    """Smallest k with P(|error of a released whole number| > k) <= alpha.

    OpenDP's accuracy a satisfies P(|X| >= a) <= alpha. Discrete noise is whole, so |X| >= a
    means |X| > ceil(a) - 1. Continuous noise rounded to a whole number errs by more than k
    when |X| >= k + 1/2, so k = ceil(a - 1/2).
    """
    if _discrete(distribution):
        return noise_bound(distribution, scale, alpha)
    return float(math.ceil(_accuracy(distribution, scale, alpha) - 0.5))


def mean_half_width(n: int, centred_sum: float, sum_half: float, count_half: float) -> float:
    """Widest |(S + e1)/(C + e2) - S/C| with |e1| <= sum_half, |e2| <= count_half."""
    if n - count_half < 1:
        return float("inf")
    exact = centred_sum / n
    return max(
        abs((centred_sum + ds) / (n + dc) - exact)
        for ds in (-sum_half, sum_half) for dc in (-count_half, count_half)
    )


def _cells(exact_rows: list[list[Any]], width: int) -> dict[tuple[Any, ...], list[Any]]:
    return {tuple(row[:width]): row[width:] for row in exact_rows}


def tre_errors(planned: Any, release_output: dict[str, Any],
               exact_rows: list[list[Any]]) -> list[float]:
    """Per-cell 95% half-widths of tre's release (values on the output's scale)."""
    output = planned.output
    scales = release_output["noise_scales"]
    if output.type == "count":
        return [integer_error("Integer Laplace", scales["count"], ALPHA)]
    if output.type != "mean":
        return []
    lower, upper = output.bounds_in_units()
    centre = (lower + upper) / 2
    step = output.resolution
    sum_half = noise_bound("Integer Laplace", scales["centred_sum"] / step, ALPHA / 2)
    count_half = noise_bound("Integer Laplace", scales["count"], ALPHA / 2)
    width = len(output.group_columns)
    return [
        step * mean_half_width(int(n), int(n) * (float(mean) / step - centre), sum_half,
                               count_half)
        for mean, n in _cells(exact_rows, width).values()
    ]


def opendp_errors(planned: Any, summary: list[dict[str, Any]],
                  exact_rows: list[list[Any]]) -> list[float]:
    """Per-cell 95% half-widths of OpenDP's release, from its summarize() scales."""
    output = planned.output
    by_aggregate = {row["aggregate"]: row for row in summary}
    if output.type == "count":
        row = next(iter(summary))
        return [integer_error(row["distribution"], row["scale"], ALPHA)]
    if output.type != "mean":
        return []
    total, length = by_aggregate["Sum"], by_aggregate["Length"]
    sum_half = noise_bound(total["distribution"], total["scale"], ALPHA / 2)
    count_half = noise_bound(length["distribution"], length["scale"], ALPHA / 2)
    width = len(output.group_columns)
    return [
        mean_half_width(int(n), int(n) * float(mean), sum_half, count_half)
        for mean, n in _cells(exact_rows, width).values()
    ]


def smartnoise_errors(planned: Any, accuracy: list[float | None] | None,
                      exact_rows: list[list[Any]]) -> list[float]:
    """Per-cell 95% half-widths of SmartNoise's release, from its get_simple_accuracy().

    Counts: its continuous Laplace noise (scale recovered from its 95% accuracy with OpenDP's
    inverse), rounded as SmartNoise rounds. Means: its SUM and COUNT accuracies at 97.5%,
    combined as above.
    """
    output = planned.output
    if not accuracy or output.type not in ("count", "mean"):
        return []
    if output.type == "count":
        from trusted_env.dp.opendp_core import opendp

        scale = opendp().accuracy.accuracy_to_laplacian_scale(float(accuracy[-1] or 0.0), ALPHA)
        return [integer_error("Laplace", float(scale), ALPHA)]
    sum_half, count_half = float(accuracy[-2] or 0.0), float(accuracy[-1] or 0.0)
    width = len(output.group_columns)
    return [
        mean_half_width(int(n), int(n) * float(mean), sum_half, count_half)
        for mean, n in _cells(exact_rows, width).values()
    ]


def tumult_errors(planned: Any, noise: list[dict[str, Any]], midpoint: float | None,
                  exact_rows: list[list[Any]]) -> list[float]:
    """Per-cell 95% half-widths of Tumult's release, from the noise its Session reports.

    Counts: its geometric (discrete Laplace) noise. Means: noisy sum of deviations from the
    midpoint of the bounds (a whole number for integer columns) over a noisy count, as tre.
    """
    output = planned.output
    kinds = {"GEOMETRIC": "Discrete Laplace", "LAPLACE": "Laplace"}
    if output.type == "count":
        return [integer_error(kinds[noise[0]["mechanism"]], noise[0]["scale"], ALPHA)]
    if output.type != "mean" or midpoint is None:
        return []
    deviations, count = noise  # Tumult composes the sum of deviations, then the count
    sum_half = noise_bound(kinds[deviations["mechanism"]], deviations["scale"], ALPHA / 2)
    count_half = noise_bound(kinds[count["mechanism"]], count["scale"], ALPHA / 2)
    width = len(output.group_columns)
    return [
        mean_half_width(int(n), int(n) * (float(mean) - midpoint), sum_half, count_half)
        for mean, n in _cells(exact_rows, width).values()
    ]


def quantile_errors(selector_draws: list[float], exact: float) -> float:
    """95th percentile of |draw - exact|."""
    errors = sorted(abs(draw - exact) for draw in selector_draws)
    return errors[min(len(errors) - 1, round(0.95 * (len(errors) - 1)))]


def summarise(errors: list[float]) -> str:
    if not errors:
        return "-"
    if len(errors) == 1:
        return f"+/-{errors[0]:.4g}"
    return f"+/-{statistics.median(errors):.3g} (cells {min(errors):.3g} to {max(errors):.3g})"
