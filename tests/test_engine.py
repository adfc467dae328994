"""The engine on a real DuckDB dummy dataset: privacy-unit checks, exact aggregates, refusals."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import pytest
import yaml

from trusted_env.engine import run_on_dummy, run_plan
from trusted_env.errors import CohortQueryFailed, ContributionBoundViolated, SpecError
from trusted_env.schema import DatasetSchema
from trusted_env.spec.job_folder import compile_job
from trusted_env.spec.plan import Plan


def _job(tmp_path: Path, sql: str, outputs: list[dict[str, Any]], epsilon: float = 1.0,
         codelists: dict[str, str] | None = None) -> Plan:
    spec = {"name": "test_job", "description": "A test.", "dataset": "primary_care",
            "budget": {"epsilon": epsilon}, "outputs": outputs}
    if codelists:
        spec["codelists"] = {}
        for name, text in codelists.items():
            (tmp_path / f"{name}.csv").write_text(text)
            spec["codelists"][name] = f"{name}.csv"
    (tmp_path / "job.yaml").write_text(yaml.safe_dump(spec))
    (tmp_path / "cohort.sql").write_text(sql)
    return compile_job(tmp_path)


REGION_COUNT = [{"name": "by_region", "type": "count",
                 "group_by": [{"column": "region", "keys_from": "patients.region"}]}]


def test_several_rows_per_patient_are_refused(
    tmp_path: Path, dummy_dataset: Path, primary_care: DatasetSchema
) -> None:
    plan = _job(tmp_path, "SELECT e.patient_id, p.region FROM clinical_events e "
                "JOIN patients p USING (patient_id)", REGION_COUNT)
    with pytest.raises(ContributionBoundViolated) as caught:
        run_plan(plan, dummy_dataset, primary_care)
    assert caught.value.category == "contribution_bound_violated"
    assert not any(char.isdigit() for char in caught.value.message)


def test_missing_patient_ids_are_refused(
    tmp_path: Path, dummy_dataset: Path, primary_care: DatasetSchema
) -> None:
    plan = _job(tmp_path, "SELECT CASE WHEN patient_id % 2 = 0 THEN patient_id END AS patient_id,"
                " region FROM patients", REGION_COUNT)
    with pytest.raises(ContributionBoundViolated):
        run_plan(plan, dummy_dataset, primary_care)


def test_exact_values_match_an_independent_query(
    tmp_path: Path, dummy_dataset: Path, primary_care: DatasetSchema
) -> None:
    outputs = [
        *REGION_COUNT,
        {"name": "total_age", "type": "sum", "column": "age", "bounds": [0, 120],
         "resolution": 1, "nulls": "drop"},
        {"name": "mean_age_by_sex", "type": "mean", "column": "age", "bounds": [0, 120],
         "resolution": 1, "nulls": "drop",
         "group_by": [{"column": "sex", "keys": ["female", "male"]}]},
        {"name": "age_bands", "type": "histogram", "column": "age", "bins": [0, 18, 65, 120],
         "nulls": "drop"},
    ]
    age = "date_diff('month', date_of_birth, DATE '2024-01-01') // 12"
    sql = f"SELECT patient_id, region, sex, {age} AS age FROM patients"
    release, exact = run_on_dummy(_job(tmp_path, sql, outputs), dummy_dataset, primary_care)
    with duckdb.connect(str(dummy_dataset), read_only=True) as db:
        # The same clamping as the declared bounds, computed independently.
        ages = f"SELECT region, sex, least(greatest({age}, 0), 120) AS age FROM patients"
        by_region = dict(db.sql(f"SELECT region, count(*) FROM ({ages}) GROUP BY 1").fetchall())
        total = db.sql(f"SELECT sum(age) FROM ({ages})").fetchall()[0][0]
        female = db.sql(f"SELECT avg(age) FROM ({ages}) WHERE sex = 'female'").fetchall()[0][0]
        adults = db.sql(f"SELECT count(*) FROM ({ages}) WHERE age >= 18 AND age < 65").fetchall()
    assert exact["by_region"] == {(r,): float(by_region.get(r, 0))
                                  for r in primary_care.domain_of("patients.region") or ()}
    assert exact["total_age"][()] == pytest.approx(total)
    assert exact["mean_age_by_sex"][("female",)] == pytest.approx(female)
    assert exact["age_bands"][("[18, 65)",)] == adults[0][0]
    assert [o.name for o in release.outputs] == [o["name"] for o in outputs]


def test_declared_keys_absent_from_data_still_get_a_cell_and_others_are_dropped(
    tmp_path: Path, dummy_dataset: Path, primary_care: DatasetSchema
) -> None:
    outputs = [{"name": "n", "type": "count",
                "group_by": [{"column": "sex", "keys": ["female", "nobody"]}]}]
    release, exact = run_on_dummy(_job(tmp_path, "SELECT patient_id, sex FROM patients", outputs),
                                  dummy_dataset, primary_care)
    assert set(exact["n"]) == {("female",), ("nobody",)}
    assert exact["n"][("nobody",)] == 0
    assert [row.keys["sex"] for row in release.output("n").rows] == ["female", "nobody"]


def test_value_columns_must_be_numbers_and_where_columns_booleans(
    tmp_path: Path, dummy_dataset: Path, primary_care: DatasetSchema
) -> None:
    mean_sex = [{"name": "m", "type": "mean", "column": "sex", "bounds": [0, 1],
                 "resolution": 1, "nulls": "drop"}]
    with pytest.raises(SpecError, match="not a number"):
        run_plan(_job(tmp_path, "SELECT patient_id, sex FROM patients", mean_sex),
                 dummy_dataset, primary_care)
    where_text = [{"name": "n", "type": "count", "where": "sex"}]
    with pytest.raises(SpecError, match="not BOOLEAN"):
        run_plan(_job(tmp_path, "SELECT patient_id, sex FROM patients", where_text),
                 dummy_dataset, primary_care)


def test_a_failing_query_carries_no_data_in_its_message(
    tmp_path: Path, dummy_dataset: Path, primary_care: DatasetSchema
) -> None:
    plan = _job(tmp_path, "SELECT patient_id, CAST(sex AS INTEGER) AS x FROM patients",
                [{"name": "n", "type": "count"}])
    with pytest.raises(CohortQueryFailed) as caught:
        run_plan(plan, dummy_dataset, primary_care)
    failure = caught.value
    for value in primary_care.domain_of("patients.sex") or ():
        assert value not in str(failure)
    assert failure.details is not None and "INTEGER" in failure.details.upper()


def test_codelists_are_tables_and_where_filters(
    tmp_path: Path, dummy_dataset: Path, primary_care: DatasetSchema
) -> None:
    sql = ("SELECT p.patient_id, EXISTS (SELECT 1 FROM clinical_events e WHERE "
           "e.patient_id = p.patient_id AND e.snomedct_code IN (SELECT code FROM dm)) AS dm "
           "FROM patients p")
    outputs = [{"name": "with_dm", "type": "count", "where": "dm"}]
    plan = _job(tmp_path, sql, outputs, codelists={"dm": "code\n44054006\n46635009\n"})
    assert plan.reads["clinical_events"] == ("patient_id", "snomedct_code")
    _, exact = run_on_dummy(plan, dummy_dataset, primary_care)
    with duckdb.connect(str(dummy_dataset), read_only=True) as db:
        expected = db.sql("SELECT count(DISTINCT patient_id) FROM clinical_events WHERE "
                          "snomedct_code IN ('44054006', '46635009')").fetchall()[0][0]
    assert exact["with_dm"][()] == expected > 0


def test_quantile_targets_the_exact_median_and_releases_differ(
    tmp_path: Path, dummy_dataset: Path, primary_care: DatasetSchema
) -> None:
    sql = "SELECT patient_id, date_diff('month', date_of_birth, DATE '2024-01-01') // 12 AS age " \
          "FROM patients"
    outputs = [{"name": "median_age", "type": "median", "column": "age", "bounds": [0, 110],
                "resolution": 1, "nulls": "drop"}]
    plan = _job(tmp_path, sql, outputs, epsilon=2.0)
    estimates = []
    for _ in range(5):
        release, exact = run_on_dummy(plan, dummy_dataset, primary_care)
        estimates.append(release.output("median_age").rows[0].estimate)
    with duckdb.connect(str(dummy_dataset), read_only=True) as db:
        median = db.sql(f"SELECT median(age) FROM ({sql})").fetchall()[0][0]
    assert exact["median_age"][()] == pytest.approx(median, abs=1)
    # 4,000 patients at epsilon 2: the exponential mechanism lands within a few years.
    assert all(abs(estimate - median) <= 3 for estimate in estimates)


def test_release_metadata_is_data_free(
    tmp_path: Path, dummy_dataset: Path, primary_care: DatasetSchema
) -> None:
    plan = _job(tmp_path, "SELECT patient_id, region FROM patients", REGION_COUNT, epsilon=0.5)
    release = run_plan(plan, dummy_dataset, primary_care)
    assert release.plan_hash == plan.hash
    assert release.schema_hash == primary_care.hash
    assert release.epsilon_spent == 0.5
    output = release.output("by_region")
    assert output.noise_scales == {"count": pytest.approx(2.0)}
    assert len(output.rows) == len(primary_care.domain_of("patients.region") or ())


def test_rows_beyond_the_declared_bound_are_truncated_per_patient(
    tmp_path: Path, dummy_dataset: Path, primary_care: DatasetSchema
) -> None:
    spec_rows = 3
    sql = "SELECT patient_id, snomedct_code FROM clinical_events"
    plan = _job(tmp_path, sql, [{"name": "events", "type": "count"}])
    plan = plan.model_copy(update={
        "max_rows_per_patient": spec_rows,
        "outputs": tuple(p.model_copy(update={"max_rows_per_patient": spec_rows})
                         for p in plan.outputs),
    })
    release, exact = run_on_dummy(plan, dummy_dataset, primary_care)
    with duckdb.connect(str(dummy_dataset), read_only=True) as db:
        truncated = db.sql("SELECT sum(least(n, 3)) FROM (SELECT count(*) AS n FROM "
                           "clinical_events GROUP BY patient_id)").fetchall()[0][0]
        untruncated = db.sql("SELECT count(*) FROM clinical_events").fetchall()[0][0]
    assert exact["events"][()] == truncated < untruncated
    assert release.output("events").noise_scales["count"] == pytest.approx(spec_rows / 1.0)
