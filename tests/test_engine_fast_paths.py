"""The engine's fast paths give exactly what the plain ones give, and privacy is unchanged.

Covers the changes made for speed and accuracy: the exact-midpoint centring of means (with its
OpenDP equivalence), the bitmap one-row-per-patient check, public keys enforced on grouped
cells, the structure-only drift check per run, and memoised OpenDP measurements.
"""

from __future__ import annotations

import itertools
import statistics
import warnings
from pathlib import Path
from typing import Any

import duckdb

# OpenDP's own polars path is the reference: if it is missing, these tests fail, never skip.
import opendp.prelude as dp
import polars as pl
import pytest
import yaml

from trusted_env.dp.cells import CellLayout
from trusted_env.dp.mechanisms import integer_laplace, quantile_selector
from trusted_env.dp.outputs import release_means
from trusted_env.dp.planned import mean_grid, mean_mechanisms
from trusted_env.engine import run_on_dummy
from trusted_env.engine.aggregates import COHORT
from trusted_env.engine.cohort import check_one_row_per_patient
from trusted_env.engine.connection import SandboxLimits, open_dataset
from trusted_env.engine.drift import check_dataset_matches_schema
from trusted_env.errors import ContributionBoundViolated, SchemaDriftError
from trusted_env.schema import DatasetSchema
from trusted_env.spec.job_folder import compile_job
from trusted_env.spec.outputs import MeanOutput
from trusted_env.spec.plan import Plan, PlannedOutput

warnings.filterwarnings("ignore", category=FutureWarning)
dp.enable_features("contrib")


def _mean(bounds: tuple[float, float], resolution: float = 1.0) -> MeanOutput:
    return MeanOutput(type="mean", name="m", column="v", bounds=bounds, resolution=resolution,
                      nulls="drop")


# --- exact-midpoint centring of means -------------------------------------------------------


@pytest.mark.parametrize(
    ("bounds", "resolution", "factor"),
    [((0, 1), 1.0, 2), ((20, 150), 0.1, 1), ((20, 150.5), 0.5, 2), ((-3, 4), 1.0, 2),
     ((0, 10), 1.0, 1)],
)
def test_every_value_moves_the_centred_sum_by_at_most_the_sensitivity(
    bounds: tuple[float, float], resolution: float, factor: int
) -> None:
    grid = mean_grid(_mean(bounds, resolution))
    lower, upper = _mean(bounds, resolution).bounds_in_units()
    assert grid.factor == factor
    centred = [grid.factor * units - grid.centre for units in range(lower, upper + 1)]
    assert max(abs(value) for value in centred) == grid.sensitivity
    # The centre is the exact midpoint: the extremes are symmetric.
    assert centred[0] == -centred[-1]
    assert grid.value(grid.centre) == pytest.approx((bounds[0] + bounds[1]) / 2)


@pytest.mark.parametrize(("bounds", "epsilon"), [((0, 1), 0.25), ((-3, 4), 1.0)])
def test_doubled_centred_mean_scales_match_polars(bounds: tuple[int, int],
                                                  epsilon: float) -> None:
    """OpenDP's polars dp.mean of the doubled, centred column has the engine's scales."""
    lower, upper = bounds
    frame = pl.DataFrame({"v": [lower + (i * 7) % (upper - lower + 1) for i in range(300)]})
    context = dp.Context.compositor(
        data=frame.lazy(), privacy_unit=dp.unit_of(contributions=1),
        privacy_loss=dp.loss_of(epsilon=epsilon), split_evenly_over=1,
        margins=[dp.polars.Margin(by=[], max_length=1_000_000)],
    )
    doubled = 2 * pl.col("v") - (lower + upper)
    query = context.query().select(doubled.dp.mean((lower - upper, upper - lower)))
    scales = [float(s) for s in query.summarize(alpha=0.05)["scale"].to_list()]
    sums, counts = mean_mechanisms(_mean((float(lower), float(upper))), epsilon, 1)
    assert scales == [pytest.approx(sums.scale, rel=1e-12), pytest.approx(counts.scale,
                                                                          rel=1e-12)]


def test_proportions_get_half_the_sum_noise_of_a_grid_point_centre() -> None:
    sums, _ = mean_mechanisms(_mean((0.0, 1.0)), 0.5, 1)
    assert sums.scale == pytest.approx(integer_laplace(1, 0.25).scale)  # in half-units
    assert mean_grid(_mean((0.0, 1.0))).value(sums.scale) == pytest.approx(2.0)  # was 4.0


@pytest.mark.slow
def test_proportion_intervals_cover_and_stay_in_bounds() -> None:
    output = _mean((0.0, 1.0))
    planned = PlannedOutput(output=output, epsilon=0.5, delta=0, max_rows_per_patient=1)
    grid = mean_grid(output)
    cells = 4000
    layout = CellLayout(("cell",), (tuple(str(i) for i in range(cells)),))
    exact, truths = {}, []
    for i in range(cells):
        count, positives = 40 + (i * 13) % 3000, (i * 7) % 40
        # Each patient adds factor * value - centre: +1 with the condition, -1 without.
        assert (grid.factor, grid.centre) == (2, 1)
        exact[(str(i),)] = (positives - (count - positives), count)
        truths.append(positives / count)
    release = release_means(planned, layout, exact)
    inside = [row.ci_low <= truth <= row.ci_high for row, truth in
              zip(release.rows, truths, strict=True)]
    assert sum(inside) / cells >= 0.93
    assert all(0.0 <= row.ci_low <= row.ci_high <= 1.0 for row in release.rows)
    errors = [abs(row.estimate - t) for row, t in zip(release.rows, truths, strict=True)]
    assert statistics.median(errors) > 0  # noise is drawn


# --- the engine on a dummy dataset --------------------------------------------------------


def _plan(tmp_path: Path, sql: str, outputs: list[dict[str, Any]]) -> Plan:
    spec = {"name": "fast_paths", "description": "A test.", "dataset": "primary_care",
            "budget": {"epsilon": 1.0}, "outputs": outputs}
    (tmp_path / "job.yaml").write_text(yaml.safe_dump(spec))
    (tmp_path / "cohort.sql").write_text(sql)
    return compile_job(tmp_path)


AGE = "date_diff('month', date_of_birth, DATE '2024-01-01') // 12"


def test_proportion_and_grouped_quantile_match_independent_queries(
    tmp_path: Path, dummy_dataset: Path, primary_care: DatasetSchema
) -> None:
    sql = (f"SELECT patient_id, sex, region, {AGE} AS age, "
           f"CASE WHEN {AGE} >= 65 THEN 1 ELSE 0 END AS older FROM patients")
    outputs = [
        {"name": "older_by_sex", "type": "mean", "column": "older", "bounds": [0, 1],
         "resolution": 1, "nulls": "drop", "group_by": [{"column": "sex",
                                                          "keys": ["female", "male"]}]},
        {"name": "median_age_female", "type": "median", "column": "age", "bounds": [0, 110],
         "resolution": 1, "nulls": "drop", "group_by": [{"column": "sex", "keys": ["female"]}]},
    ]
    release, exact = run_on_dummy(_plan(tmp_path, sql, outputs), dummy_dataset, primary_care)
    with duckdb.connect(str(dummy_dataset), read_only=True) as db:
        shares = dict(db.sql(f"SELECT sex, avg(CASE WHEN {AGE} >= 65 THEN 1 ELSE 0 END) "
                             "FROM patients GROUP BY sex").fetchall())
        median = db.sql(f"SELECT quantile_disc({AGE}, 0.5) FROM patients "
                        "WHERE sex = 'female'").fetchall()[0][0]
    assert exact["older_by_sex"] == {(sex,): pytest.approx(shares[sex])
                                     for sex in ("female", "male")}
    assert exact["median_age_female"] == {("female",): pytest.approx(median, abs=1)}
    assert [row.keys for row in release.output("median_age_female").rows] == [{"sex": "female"}]
    scales = release.output("older_by_sex").noise_scales
    assert scales["centred_sum"] == pytest.approx(scales["count"] / 2)


def _cohort(ids: list[Any], sql_type: str) -> duckdb.DuckDBPyConnection:
    connection = duckdb.connect()
    connection.execute(f"CREATE TEMP TABLE {COHORT} (patient_id {sql_type})")
    if ids:
        connection.executemany(f"INSERT INTO {COHORT} VALUES (?)", [[i] for i in ids])
    return connection


@pytest.mark.parametrize(
    ("sql_type", "unique", "duplicated"),
    [
        ("INTEGER", [3, 1, 2, 10], [3, 1, 3]),
        ("BIGINT", [-5, 2**40, 7], [2**40, 7, 2**40]),  # wide range: count(DISTINCT)
        ("SMALLINT", [-7, -6, 0], [-7, -7]),
        ("UINTEGER", [1, 4_000_000_000], [9, 9]),
        ("VARCHAR", ["a", "b"], ["a", "b", "a"]),
        ("HUGEINT", [1, 2], [2, 2]),
    ],
)
def test_one_row_per_patient_check_is_exact_for_every_id_type(
    sql_type: str, unique: list[Any], duplicated: list[Any]
) -> None:
    with _cohort(unique, sql_type) as connection:
        check_one_row_per_patient(connection, "patient_id", sql_type)
    with _cohort(duplicated, sql_type) as connection, pytest.raises(ContributionBoundViolated):
        check_one_row_per_patient(connection, "patient_id", sql_type)
    with _cohort([*unique, None], sql_type) as connection, \
            pytest.raises(ContributionBoundViolated):
        check_one_row_per_patient(connection, "patient_id", sql_type)


def test_an_empty_cohort_has_one_row_per_patient() -> None:
    with _cohort([], "INTEGER") as connection:
        check_one_row_per_patient(connection, "patient_id", "INTEGER")


def test_bitmap_check_finds_a_single_duplicate_among_many() -> None:
    ids = list(range(1, 200_001))
    with _cohort([], "INTEGER") as connection:
        connection.execute(f"INSERT INTO {COHORT} SELECT range FROM range(1, 200001)")
        check_one_row_per_patient(connection, "patient_id", "INTEGER")
        connection.execute(f"INSERT INTO {COHORT} VALUES ({ids[123_456]})")
        with pytest.raises(ContributionBoundViolated):
            check_one_row_per_patient(connection, "patient_id", "INTEGER")


# --- drift per run and memoised measurements ---------------------------------------


def test_structure_only_drift_check_skips_value_scans_but_not_structure(
    tmp_path: Path, primary_care: DatasetSchema
) -> None:
    path = tmp_path / "drifted.duckdb"
    with duckdb.connect(str(path)) as db:
        for name, table in primary_care.tables.items():
            columns = ", ".join(f'"{c}" {spec.type.duckdb_type}'
                                for c, spec in table.columns.items())
            db.execute(f'CREATE TABLE "{name}" ({columns})')
        db.execute("INSERT INTO patients (patient_id, sex, region) VALUES (1, 'other', 'Mars')")
    connection = open_dataset(path, SandboxLimits(threads=1))
    try:
        check_dataset_matches_schema(connection, primary_care, data=False)
        with pytest.raises(SchemaDriftError, match="outside its declared domain"):
            check_dataset_matches_schema(connection, primary_care)
    finally:
        connection.close()
    with duckdb.connect(str(path)) as db:
        db.execute("ALTER TABLE patients DROP COLUMN ethnicity")
    connection = open_dataset(path, SandboxLimits(threads=1))
    try:
        with pytest.raises(SchemaDriftError, match="ethnicity"):
            check_dataset_matches_schema(connection, primary_care, data=False)
    finally:
        connection.close()


def test_memoised_measurements_still_draw_fresh_noise() -> None:
    assert integer_laplace(1, 0.3) is integer_laplace(1, 0.3)
    assert quantile_selector([1, 2, 3], 0.5, 1.0) is quantile_selector((1, 2, 3), 0.5, 1.0)
    mechanism = integer_laplace(1, 0.3)
    draws = [tuple(mechanism.release([0] * 20)) for _ in range(3)]
    assert len(set(draws)) == 3
    assert len(set(itertools.chain.from_iterable(draws))) > 1
