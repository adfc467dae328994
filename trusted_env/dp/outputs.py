"""Turn exact bounded aggregates into released outputs: OpenDP noise, then post-processing.

Inputs are per-cell integers computed by the engine (counts, sums of values on the output's
grid, histograms of grid values). Every released number is an OpenDP draw or a function of
OpenDP draws and public parameters; confidence intervals come from OpenDP's accuracy functions.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

from trusted_env.dp.cells import CellKey, CellLayout, dense
from trusted_env.dp.mechanisms import thresholded_counts
from trusted_env.dp.planned import (
    ALPHA,
    count_mechanism,
    mean_grid,
    mean_mechanisms,
    quantile_mechanism,
    sum_mechanism,
)
from trusted_env.release.model import OutputRelease, ReleasedRow
from trusted_env.spec.outputs import (
    CountOutput,
    HistogramOutput,
    MeanOutput,
    QuantileOutput,
    SumOutput,
)
from trusted_env.spec.plan import PlannedOutput


def _row(layout_columns: Sequence[str], cell: CellKey, est: float | None,
         low: float | None, high: float | None) -> ReleasedRow:
    return ReleasedRow(keys=dict(zip(layout_columns, cell, strict=True)), estimate=est,
                       ci_low=low, ci_high=high)


def _release(planned: PlannedOutput, layout: CellLayout, mechanism: str,
             scales: dict[str, float], accuracy: str, rows: list[ReleasedRow]) -> OutputRelease:
    output = planned.output
    return OutputRelease(
        name=output.name, type=output.type, description=output.description,
        column=getattr(output, "column", None), group_columns=layout.columns_with_bin(output),
        epsilon=planned.epsilon, delta=planned.delta, mechanism=mechanism,
        noise_scales=scales, accuracy=accuracy, rows=tuple(rows),
    )


def release_counts(planned: PlannedOutput, layout: CellLayout,
                   exact: Mapping[CellKey, int]) -> OutputRelease:
    """Counts (and histograms): one patient changes one cell by one, so L1 sensitivity is 1."""
    if not isinstance(planned.output, CountOutput | HistogramOutput):
        raise TypeError("release_counts takes count and histogram outputs")
    if not layout.public:
        return _release_thresholded(planned, layout, exact)
    mechanism = count_mechanism(planned)
    noisy = mechanism.release(dense(layout, exact))
    half = mechanism.accuracy(ALPHA)
    columns = layout.columns_with_bin(planned.output)
    rows = [_row(columns, cell, value, value - half, value + half)
            for cell, value in zip(layout.cells(), noisy, strict=True)]
    return _release(planned, layout, "OpenDP discrete Laplace (make_laplace)",
                    {"count": mechanism.scale},
                    f"95% of intervals of +/-{half:.1f} contain the true count", rows)


def _release_thresholded(planned: PlannedOutput, layout: CellLayout,
                         exact: Mapping[CellKey, int]) -> OutputRelease:
    mechanism = thresholded_counts(planned.epsilon, planned.delta, planned.max_rows_per_patient)
    by_key = {json.dumps(list(cell)): count for cell, count in exact.items()}
    released = mechanism.release(by_key)
    half = mechanism.accuracy(ALPHA)
    rows = [_row(layout.group_columns, tuple(json.loads(key)), value, value - half, value + half)
            for key, value in sorted(released.items())]
    return _release(planned, layout, "OpenDP Laplace with threshold (make_laplace_threshold)",
                    {"count": mechanism.scale},
                    f"keys released only where the noisy count reached {mechanism.threshold}; "
                    f"95% of intervals of +/-{half:.1f} contain the true count", rows)


def release_sums(planned: PlannedOutput, layout: CellLayout,
                 exact: Mapping[CellKey, int]) -> OutputRelease:
    output = planned.output
    if not isinstance(output, SumOutput):
        raise TypeError("release_sums takes sum outputs")
    mechanism = sum_mechanism(output, planned.epsilon, planned.max_rows_per_patient)
    noisy = mechanism.release(dense(layout, exact))
    step = output.resolution
    half = mechanism.accuracy(ALPHA) * step
    rows = [_row(layout.group_columns, cell, value * step, value * step - half,
                 value * step + half)
            for cell, value in zip(layout.cells(), noisy, strict=True)]
    return _release(planned, layout, "OpenDP discrete Laplace (make_laplace) on integer sums",
                    {"sum": mechanism.scale * step},
                    f"95% of intervals of +/-{half:.6g} contain the true clamped sum", rows)


def release_means(planned: PlannedOutput, layout: CellLayout,
                  exact: Mapping[CellKey, tuple[int, int]]) -> OutputRelease:
    """Mean = centre + noisy centred sum / noisy count, each with half the epsilon.

    `exact[cell]` is (sum of centred values, count) on the mean's working grid (`mean_grid`).
    """
    output = planned.output
    if not isinstance(output, MeanOutput):
        raise TypeError("release_means takes mean outputs")
    grid = mean_grid(output)
    sum_mech, count_mech = mean_mechanisms(output, planned.epsilon, planned.max_rows_per_patient)
    cells = layout.cells()
    sums = sum_mech.release([exact.get(cell, (0, 0))[0] for cell in cells])
    counts = count_mech.release([exact.get(cell, (0, 0))[1] for cell in cells])
    # Each interval at alpha/2: both hold together with probability >= 95%.
    sum_half, count_half = sum_mech.accuracy(ALPHA / 2), count_mech.accuracy(ALPHA / 2)
    rows = []
    for cell, noisy_sum, noisy_count in zip(cells, sums, counts, strict=True):
        est, low, high = mean_interval(noisy_sum, noisy_count, sum_half, count_half,
                                       grid.centre, grid.bounds)
        rows.append(_row(layout.group_columns, cell, _scaled(est, grid.step),
                         _scaled(low, grid.step), _scaled(high, grid.step)))
    return _release(
        planned, layout, "OpenDP discrete Laplace (make_laplace) on centred sum and count",
        {"centred_sum": grid.value(sum_mech.scale), "count": count_mech.scale},
        "95% interval from the sum and count intervals (each at 97.5%), within the bounds",
        rows)


def _scaled(value: float | None, step: float) -> float | None:
    return None if value is None else value * step


def mean_interval(noisy_sum: int, noisy_count: int, sum_half: float, count_half: float,
                  centre: int, bounds: tuple[int, int]) -> tuple[float | None, float, float]:
    """Estimate and interval of centre + S/C given S and C within +/- their half-widths."""
    lower, upper = bounds
    if noisy_count - count_half < 1:
        estimate = None if noisy_count < 1 else _clamp(centre + noisy_sum / noisy_count, bounds)
        return estimate, float(lower), float(upper)
    corners = [
        (noisy_sum + ds) / (noisy_count + dc)
        for ds in (-sum_half, sum_half) for dc in (-count_half, count_half)
    ]
    return (
        _clamp(centre + noisy_sum / noisy_count, bounds),
        _clamp(centre + min(corners), bounds),
        _clamp(centre + max(corners), bounds),
    )


def _clamp(value: float, bounds: tuple[int, int]) -> float:
    return float(min(max(value, bounds[0]), bounds[1]))


def release_quantiles(planned: PlannedOutput, layout: CellLayout,
                      histograms: Mapping[CellKey, Sequence[int]]) -> OutputRelease:
    """One exponential-mechanism draw per cell, each calibrated so that a patient's whole
    contribution (max_rows_per_patient rows) costs at most the output's epsilon.

    With one row per patient the cells are disjoint. With up to k rows a patient can touch
    several cells, but OpenDP's privacy map here is linear in the rows changed (score
    sensitivity times rows, and noisy max linear in that), so cells touched by rows adding up to
    k cost together what one cell with k rows costs: at most epsilon.

    `histograms[cell]` counts grid values from lower-1 (anything below) to upper+1 (above).
    """
    output = planned.output
    if not isinstance(output, QuantileOutput):
        raise TypeError("release_quantiles takes quantile outputs")
    selector = quantile_mechanism(output, planned.epsilon, planned.max_rows_per_patient)
    candidates = selector.candidates
    rows = []
    for cell in layout.cells():
        below, above = below_above(histograms.get(cell), len(candidates))
        chosen = selector.release(below, above)
        rows.append(_row(layout.group_columns, cell, chosen * output.resolution, None, None))
    return _release(
        planned, layout, "OpenDP exponential mechanism (make_quantile_score_candidates, "
        "make_noisy_max)", {"score": selector.scale},
        f"chosen among {len(candidates)} candidates; no interval is released for quantiles",
        rows)


def below_above(histogram: Sequence[int] | None, size: int) -> tuple[list[int], list[int]]:
    """#(x < c) and #(x > c) for each candidate c, from a histogram with edge bins."""
    counts = list(histogram) if histogram is not None else [0] * (size + 2)
    if len(counts) != size + 2:
        raise ValueError("histogram must cover every candidate plus one bin each side")
    total = sum(counts)
    below, above, running = [], [], counts[0]
    for index in range(size):
        here = counts[index + 1]
        below.append(running)
        above.append(total - running - here)
        running += here
    return below, above
