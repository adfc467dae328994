"""Each aggregate's mechanism and noise scale equal what OpenDP's polars Context gives.

The engine computes bounded aggregates in DuckDB and adds noise with OpenDP core measurements;
these tests build the same query through OpenDP's documented polars path and compare.
"""

from __future__ import annotations

from typing import Any

# OpenDP's own polars path is the reference: if it is missing, these tests fail, never skip.
import opendp.prelude as dp
import polars as pl
import pytest

from trusted_env.dp.mechanisms import integer_laplace, quantile_selector, thresholded_counts
from trusted_env.dp.opendp_core import opendp

dp.enable_features("contrib")

REGIONS = ["London", "North East", "South West"]


@pytest.fixture(scope="module")
def frame() -> pl.DataFrame:
    n = 600
    return pl.DataFrame(
        {
            "patient_id": list(range(n)),
            "region": [REGIONS[i % 3] for i in range(n)],
            "value": [200 + (i * 37) % 1100 for i in range(n)],
        }
    )


def _context(frame: pl.DataFrame, epsilon: float, delta: float = 0.0) -> Any:
    loss = dp.loss_of(epsilon=epsilon, delta=delta) if delta else dp.loss_of(epsilon=epsilon)
    return dp.Context.compositor(
        data=frame.lazy(),
        privacy_unit=dp.unit_of(contributions=1),
        privacy_loss=loss,
        split_evenly_over=1,
        margins=[dp.polars.Margin(by=[], max_length=10_000_000)],
    )


def _scales(query: Any) -> list[float]:
    return [float(scale) for scale in query.summarize(alpha=0.05)["scale"].to_list()]


@pytest.mark.parametrize("epsilon", [0.1, 0.37, 1.0, 3.0])
def test_grouped_count_scale_matches_polars(frame: pl.DataFrame, epsilon: float) -> None:
    keys = pl.DataFrame({"region": REGIONS})
    query = (_context(frame, epsilon).query().group_by("region")
             .agg(dp.len(signed=True)).with_keys(keys))
    assert _scales(query) == [pytest.approx(integer_laplace(1, epsilon).scale, rel=1e-12)]


@pytest.mark.parametrize(("bounds", "epsilon"), [((200, 1300), 0.5), ((-65, 40), 1.0)])
def test_integer_sum_scale_matches_polars(
    frame: pl.DataFrame, bounds: tuple[int, int], epsilon: float
) -> None:
    query = _context(frame, epsilon).query().select(pl.col("value").dp.sum(bounds))
    ours = integer_laplace(max(abs(bounds[0]), abs(bounds[1])), epsilon)
    assert _scales(query) == [pytest.approx(ours.scale, rel=1e-12)]


def test_centred_mean_scales_match_polars(frame: pl.DataFrame) -> None:
    from trusted_env.dp.planned import mean_centre
    from trusted_env.spec.outputs import MeanOutput

    output = MeanOutput(type="mean", name="m", column="value", bounds=(20.0, 130.0),
                        resolution=0.1, nulls="drop")
    centre, sensitivity = mean_centre(output)
    lower, upper = output.bounds_in_units()
    epsilon = 0.8
    query = _context(frame, epsilon).query().select(
        (pl.col("value") - centre).dp.mean((lower - centre, upper - centre))
    )
    sum_scale, count_scale = _scales(query)
    assert sum_scale == pytest.approx(integer_laplace(sensitivity, epsilon / 2).scale, rel=1e-12)
    assert count_scale == pytest.approx(integer_laplace(1, epsilon / 2).scale, rel=1e-12)


@pytest.mark.parametrize(("alpha", "epsilon"), [(0.5, 1.0), (0.25, 0.3), (0.75, 2.0)])
def test_quantile_scale_matches_polars(frame: pl.DataFrame, alpha: float, epsilon: float) -> None:
    candidates = list(range(200, 1301, 10))
    query = _context(frame, epsilon).query().select(
        pl.col("value").dp.quantile(alpha, candidates)
    )
    assert _scales(query) == [
        pytest.approx(quantile_selector(candidates, alpha, epsilon).scale, rel=1e-12)
    ]


def test_quantile_scale_per_unit_of_rank_matches_polars(frame: pl.DataFrame) -> None:
    """For an alpha with no short binary fraction, OpenDP writes alpha as num/den with a
    denominator chosen from the size bound (polars: u64::MAX // max_length; unsized: 10_000).
    Scores scale with den, so the noise per unit of rank is what must agree."""
    alpha, epsilon, max_length = 0.9, 2.0, 10_000_000
    candidates = list(range(200, 1301, 10))
    query = _context(frame, epsilon).query().select(
        pl.col("value").dp.quantile(alpha, candidates)
    )
    polars_den = (2**64 - 1) // max_length
    ours = quantile_selector(candidates, alpha, epsilon)
    assert ours.alpha_den == 10_000
    assert _scales(query)[0] / polars_den == pytest.approx(ours.scale / ours.alpha_den, rel=1e-6)


@pytest.mark.parametrize("alpha", [0.5, 0.1, 0.333, 0.75])
def test_quantile_scores_match_opendp_transformation(alpha: float) -> None:
    import random

    core = opendp()
    candidates = list(range(-5, 40, 3))
    selector = quantile_selector(candidates, alpha, 1.0)
    transformation = core.transformations.make_quantile_score_candidates(
        core.domains.vector_domain(core.domains.atom_domain(T="i64")),
        core.metrics.symmetric_distance(), candidates, alpha,
    )
    rng = random.Random(7)
    for size in (0, 1, 5, 50, 333):
        data = [rng.randint(-12, 48) for _ in range(size)]
        below = [sum(x < c for x in data) for c in candidates]
        above = [sum(x > c for x in data) for c in candidates]
        assert selector.scores(below, above) == list(transformation(data))


def test_threshold_release_matches_polars(frame: pl.DataFrame) -> None:
    epsilon, delta = 1.0, 1e-7
    query = _context(frame, epsilon, delta).query().group_by("region").agg(dp.len(signed=True))
    summary = query.summarize(alpha=0.05)
    ours = thresholded_counts(epsilon, delta)
    assert float(summary["scale"][0]) == pytest.approx(ours.scale, rel=1e-12)
    measurement = query.resolve()
    assert measurement.map(1)[1] <= delta
    assert ours._measurement.map((1, 1, 1))[1] <= delta


@pytest.mark.parametrize("rows", [2, 5])
def test_scales_with_a_contribution_bound_match_polars(frame: pl.DataFrame, rows: int) -> None:
    """With up to `rows` rows per patient, OpenDP's row-level unit gives the same scales."""
    epsilon = 1.0

    def context() -> Any:
        return dp.Context.compositor(
            data=frame.lazy(), privacy_unit=dp.unit_of(contributions=rows),
            privacy_loss=dp.loss_of(epsilon=epsilon), split_evenly_over=1,
            margins=[dp.polars.Margin(by=[], max_length=10_000_000)],
        )

    keys = pl.DataFrame({"region": REGIONS})
    counts = context().query().group_by("region").agg(dp.len(signed=True)).with_keys(keys)
    assert _scales(counts) == [pytest.approx(integer_laplace(rows, epsilon).scale, rel=1e-12)]
    sums = context().query().select(pl.col("value").dp.sum((200, 1300)))
    assert _scales(sums) == [pytest.approx(integer_laplace(rows * 1300, epsilon).scale,
                                           rel=1e-12)]
    candidates = list(range(200, 1301, 10))
    median = context().query().select(pl.col("value").dp.quantile(0.5, candidates))
    ours = quantile_selector(candidates, 0.5, epsilon, contributions=rows)
    assert _scales(median) == [pytest.approx(ours.scale, rel=1e-12)]
