"""DP releases are random: test them over many draws, with tolerance bands.

Each test releases thousands of cells at once (a vector release draws independent noise per
cell), checks that errors have the advertised scale and that about 95% of the reported
intervals contain the true value.
"""

from __future__ import annotations

import math
import statistics

import pytest

from trusted_env.dp.cells import CellLayout
from trusted_env.dp.outputs import release_counts, release_means, release_quantiles, release_sums
from trusted_env.spec.outputs import CountOutput, MeanOutput, QuantileOutput, SumOutput
from trusted_env.spec.plan import PlannedOutput

CELLS = 4000
# Coverage of CELLS independent intervals: sd of the proportion is about 0.0035.
COVERAGE_BAND = (0.93, 0.97)


def _layout(cells: int = CELLS) -> CellLayout:
    return CellLayout(("cell",), (tuple(str(i) for i in range(cells)),))


def _coverage(rows: list, truths: list[float]) -> float:
    inside = [row.ci_low <= truth <= row.ci_high for row, truth in zip(rows, truths, strict=True)]
    return sum(inside) / len(inside)


def test_counts_have_advertised_scale_and_coverage() -> None:
    epsilon = 0.5
    planned = PlannedOutput(output=CountOutput(type="count", name="n"), epsilon=epsilon, delta=0,
                            max_rows_per_patient=1)
    truths = [(i * 7) % 500 for i in range(CELLS)]
    exact = {(str(i),): truth for i, truth in enumerate(truths)}
    release = release_counts(planned, _layout(), exact)
    errors = [row.estimate - truth for row, truth in zip(release.rows, truths, strict=True)]
    scale = release.noise_scales["count"]
    assert scale == pytest.approx(1 / epsilon)
    # Laplace(b) has mean absolute deviation b; discrete Laplace is within a few % of it.
    assert statistics.fmean(abs(e) for e in errors) == pytest.approx(scale, rel=0.08)
    assert abs(statistics.fmean(errors)) < 4 * scale * math.sqrt(2 / CELLS)
    assert COVERAGE_BAND[0] <= _coverage(list(release.rows), truths) <= COVERAGE_BAND[1]


def test_integer_sums_scale_with_the_largest_bound() -> None:
    output = SumOutput(type="sum", name="s", column="v", bounds=(-2.0, 5.0), resolution=0.5,
                       nulls="drop")
    planned = PlannedOutput(output=output, epsilon=2.0, delta=0, max_rows_per_patient=1)
    truths_units = [(i * 13) % 900 for i in range(CELLS)]
    exact = {(str(i),): t for i, t in enumerate(truths_units)}
    release = release_sums(planned, _layout(), exact)
    # Largest |bound| is 10 grid steps of 0.5: scale 10 / 2.0 steps = 2.5 in value units.
    assert release.noise_scales["sum"] == pytest.approx(2.5)
    truths = [t * 0.5 for t in truths_units]
    errors = [row.estimate - truth for row, truth in zip(release.rows, truths, strict=True)]
    assert statistics.fmean(abs(e) for e in errors) == pytest.approx(2.5, rel=0.08)
    assert COVERAGE_BAND[0] <= _coverage(list(release.rows), truths) <= COVERAGE_BAND[1]


def test_mean_intervals_cover_at_least_95_percent() -> None:
    output = MeanOutput(type="mean", name="m", column="v", bounds=(20.0, 120.0), resolution=0.1,
                        nulls="drop")
    planned = PlannedOutput(output=output, epsilon=0.5, delta=0, max_rows_per_patient=1)
    # Cells of 30 to 3000 patients with true means spread over the bounds.
    exact, truths = {}, []
    for i in range(CELLS):
        count = 30 + (i * 17) % 2970
        mean_units = 300 + (i * 29) % 800
        centre = (200 + 1200) // 2
        exact[(str(i),)] = ((mean_units - centre) * count, count)
        truths.append(mean_units * 0.1)
    release = release_means(planned, _layout(), exact)
    coverage = _coverage(list(release.rows), truths)
    assert coverage >= COVERAGE_BAND[0]  # the interval is conservative by construction
    # Every estimate and interval stays inside the public bounds.
    for row in release.rows:
        assert 20.0 <= row.ci_low <= row.estimate <= row.ci_high <= 120.0
    # Accuracy improves with cell size: large cells have narrow intervals.
    widths = {int(i): row.ci_high - row.ci_low for i, row in enumerate(release.rows)}
    large = [w for i, w in widths.items() if 30 + (i * 17) % 2970 > 2500]
    small = [w for i, w in widths.items() if 30 + (i * 17) % 2970 < 100]
    assert statistics.fmean(large) < statistics.fmean(small) / 10


def test_median_lands_near_the_true_median() -> None:
    output = QuantileOutput(type="median", name="q", column="v", bounds=(0.0, 100.0),
                            resolution=1.0, nulls="drop")
    planned = PlannedOutput(output=output, epsilon=1.0, delta=0, max_rows_per_patient=1)
    cells = 400
    # 1,000 patients per cell, uniform on 0..99 (true median 49.5 -> candidates 49 or 50).
    histogram = [0] + [10] * 100 + [0] + [0]
    exact = {(str(i),): histogram for i in range(cells)}
    release = release_quantiles(planned, _layout(cells), exact)
    near = [abs(row.estimate - 49.5) <= 5 for row in release.rows]
    assert sum(near) / cells >= 0.95
    estimates = [row.estimate for row in release.rows]
    assert len(set(estimates)) > 1  # noise is really drawn per cell


def test_signed_counts_are_kept_below_zero() -> None:
    planned = PlannedOutput(output=CountOutput(type="count", name="n"), epsilon=0.1, delta=0,
                            max_rows_per_patient=1)
    release = release_counts(planned, _layout(500), {})
    assert any(row.estimate < 0 for row in release.rows)
