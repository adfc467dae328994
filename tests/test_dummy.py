"""The dummy-data generator: schema fidelity, consistency, determinism, realism, hints, CLI."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
import pytest
import typer
import yaml
from pydantic import ValidationError
from typer.testing import CliRunner

from trusted_env.cli.dummy import register
from trusted_env.dummy import (
    GENERATOR_VERSION,
    check_hints,
    ensure_dummy_dataset,
    generate_dataset,
    generate_with_manifest,
)
from trusted_env.dummy.cache import manifest_path
from trusted_env.errors import SpecError
from trusted_env.schema import DatasetSchema, available_schemas, load_schema
from trusted_env.schema.hints import ColumnHint, RowsHint, TableHint
from trusted_env.schema.loader import SCHEMA_DIR

PATIENTS = 20_000
AS_OF = "DATE '2025-04-01'"
DIABETES_CODES = "('44054006', '46635009', '73211009', '313436004')"
HBA1C = "'999791000000106'"
CHILD_DATES = {
    "practice_registrations": "start_date",
    "clinical_events": "date",
    "medications": "date",
    "hospital_admissions": "admission_date",
    "vaccinations": "date",
    "ons_deaths": "date",
}


@contextmanager
def connect(path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    connection = duckdb.connect(str(path), read_only=True)
    try:
        yield connection
    finally:
        connection.close()


def scalar(path: Path, sql: str) -> Any:
    with connect(path) as connection:
        rows = connection.sql(sql).fetchall()
    assert len(rows) == 1
    return rows[0][0]


def table_contents(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    with connect(path) as connection:
        names = [
            row[0] for row in connection.sql("SELECT table_name FROM duckdb_tables()").fetchall()
        ]
        return {name: connection.table(name).order("ALL").fetchall() for name in sorted(names)}


def schema_from(raw: dict[str, Any]) -> DatasetSchema:
    return DatasetSchema.model_validate(raw)


def without_hints(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: without_hints(item) for key, item in value.items() if key != "generate"}
    if isinstance(value, list):
        return [without_hints(item) for item in value]
    return value


def primary_care_raw() -> dict[str, Any]:
    raw = yaml.safe_load((SCHEMA_DIR / "primary_care.yaml").read_text(encoding="utf-8"))
    assert isinstance(raw, dict)
    return raw


@pytest.fixture(scope="module")
def schema() -> DatasetSchema:
    return load_schema("primary_care")


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory, schema: DatasetSchema) -> Path:
    path = tmp_path_factory.mktemp("dummy") / "primary_care.duckdb"
    return generate_dataset(schema, path, patients=PATIENTS, seed=7)


# --- The file matches the schema exactly ---------------------------------------------------


def test_tables_columns_types_and_nullability_match_the_schema(
    dataset: Path, schema: DatasetSchema
) -> None:
    with connect(dataset) as connection:
        found = connection.sql(
            "SELECT table_name, column_name, data_type, is_nullable, ordinal_position "
            "FROM information_schema.columns ORDER BY table_name, ordinal_position"
        ).fetchall()
    actual: dict[str, list[tuple[str, str, bool]]] = {}
    for table, column, data_type, nullable, _ in found:
        actual.setdefault(table, []).append((column, data_type, nullable == "YES"))
    expected = {
        name: [(col, spec.type.duckdb_type, spec.nullable) for col, spec in table.columns.items()]
        for name, table in schema.tables.items()
    }
    assert actual == expected


def test_every_table_has_rows_and_nullable_columns_mix_values_and_nulls(dataset: Path) -> None:
    for table in [*CHILD_DATES, "patients"]:
        assert scalar(dataset, f"SELECT count(*) FROM {table}") > 0
    dead = scalar(dataset, "SELECT avg((date_of_death IS NOT NULL)::INT) FROM patients")
    open_spells = scalar(dataset, "SELECT avg((end_date IS NULL)::INT) FROM practice_registrations")
    assert 0.02 < dead < 0.10
    assert 0.4 < open_spells < 0.8
    assert scalar(dataset, "SELECT count(*) FROM clinical_events WHERE numeric_value IS NULL") > 0


def test_values_stay_inside_declared_domains(dataset: Path, schema: DatasetSchema) -> None:
    checked = 0
    for name, table in schema.tables.items():
        for column, spec in table.columns.items():
            if spec.domain is None:
                continue
            with connect(dataset) as connection:
                values = {
                    row[0]
                    for row in connection.sql(f'SELECT DISTINCT "{column}" FROM {name}').fetchall()
                }
            assert values <= set(spec.domain), (name, column)
            assert len(values) > 1 or len(spec.domain) == 1, (name, column)
            checked += 1
    assert checked >= 7


# --- Referential consistency ---------------------------------------------------------------


def test_child_rows_belong_to_patients_and_fall_between_birth_and_death(dataset: Path) -> None:
    for table, date_column in CHILD_DATES.items():
        orphans = scalar(
            dataset,
            f"SELECT count(*) FROM {table} c ANTI JOIN patients p USING (patient_id)",
        )
        outside = scalar(
            dataset,
            f"SELECT count(*) FROM {table} c JOIN patients p USING (patient_id) "
            f"WHERE c.{date_column} < p.date_of_birth "
            f"OR c.{date_column} > coalesce(p.date_of_death, {AS_OF})",
        )
        assert (orphans, outside) == (0, 0), table


def test_deaths_agree_between_patients_and_ons(dataset: Path) -> None:
    mismatches = scalar(
        dataset,
        "SELECT count(*) FROM patients p FULL JOIN ons_deaths d USING (patient_id) "
        "WHERE p.date_of_death IS DISTINCT FROM d.date",
    )
    duplicates = scalar(dataset, "SELECT count(*) - count(DISTINCT patient_id) FROM ons_deaths")
    assert (mismatches, duplicates) == (0, 0)
    assert scalar(dataset, "SELECT count(*) FROM ons_deaths") > 0


def test_registrations_tile_each_record_without_overlap(dataset: Path) -> None:
    overlaps = scalar(
        dataset,
        "SELECT count(*) FROM (SELECT start_date, lag(end_date) OVER w AS previous_end, "
        "lag(start_date) OVER w AS previous_start FROM practice_registrations "
        "WINDOW w AS (PARTITION BY patient_id ORDER BY start_date)) "
        "WHERE previous_start IS NOT NULL AND previous_end <> start_date - 1",
    )
    backwards = scalar(
        dataset, "SELECT count(*) FROM practice_registrations WHERE end_date < start_date"
    )
    open_twice = scalar(
        dataset,
        "SELECT count(*) FROM (SELECT patient_id FROM practice_registrations "
        "WHERE end_date IS NULL GROUP BY 1 HAVING count(*) > 1)",
    )
    dead_but_open = scalar(
        dataset,
        "SELECT count(*) FROM practice_registrations r JOIN patients p USING (patient_id) "
        "WHERE r.end_date IS NULL AND p.date_of_death IS NOT NULL",
    )
    assert (overlaps, backwards, open_twice, dead_but_open) == (0, 0, 0, 0)
    every_patient = scalar(
        dataset,
        "SELECT count(DISTINCT patient_id) = (SELECT count(*) FROM patients) "
        "FROM practice_registrations",
    )
    assert every_patient


def test_discharge_follows_admission(dataset: Path) -> None:
    assert (
        scalar(
            dataset,
            "SELECT count(*) FROM hospital_admissions WHERE discharge_date < admission_date",
        )
        == 0
    )
    assert (
        scalar(
            dataset,
            "SELECT count(*) FROM hospital_admissions WHERE admission_method = 'maternity' AND "
            "patient_id IN (SELECT patient_id FROM patients WHERE sex <> 'female')",
        )
        == 0
    )


def test_flu_vaccinations_are_coded_in_clinical_events_once_per_season(dataset: Path) -> None:
    unmatched = scalar(
        dataset,
        "SELECT count(*) FROM (SELECT patient_id, date FROM vaccinations "
        "WHERE target_disease = 'influenza' EXCEPT ALL SELECT patient_id, date "
        "FROM clinical_events WHERE snomedct_code = '822851000000102')",
    )
    twice = scalar(
        dataset,
        "SELECT count(*) FROM (SELECT patient_id, year(date - INTERVAL 8 MONTH) AS season "
        "FROM vaccinations WHERE target_disease = 'influenza' GROUP BY ALL HAVING count(*) > 1)",
    )
    assert (unmatched, twice) == (0, 0)


# --- Determinism and atomicity -------------------------------------------------------------


def test_same_seed_gives_identical_content_and_another_seed_differs(
    tmp_path: Path, schema: DatasetSchema
) -> None:
    first = table_contents(generate_dataset(schema, tmp_path / "a.duckdb", 3_000, seed=5))
    second = table_contents(generate_dataset(schema, tmp_path / "b.duckdb", 3_000, seed=5))
    third = table_contents(generate_dataset(schema, tmp_path / "c.duckdb", 3_000, seed=6))
    assert first == second
    assert first["patients"] != third["patients"]
    assert first["clinical_events"] != third["clinical_events"]


def test_failed_generation_leaves_the_previous_file_and_no_temporary(
    tmp_path: Path, schema: DatasetSchema
) -> None:
    target = generate_dataset(schema, tmp_path / "x.duckdb", 500, seed=1)
    before = table_contents(target)
    raw = primary_care_raw()
    # Deaths on every patient, in a column that cannot be null: fails after the patients table.
    raw["tables"]["ons_deaths"]["generate"]["streams"][0]["who"] = {}
    raw["tables"]["ons_deaths"]["generate"]["streams"][0]["window"] = {"registered": False}
    with pytest.raises(SpecError, match="not nullable"):
        generate_dataset(schema_from(raw), target, 500, seed=2)
    assert table_contents(target) == before
    assert sorted(path.name for path in tmp_path.iterdir()) == ["x.duckdb"]


# --- Realism -------------------------------------------------------------------------------


def test_diabetes_codes_reach_a_plausible_share_of_patients(dataset: Path) -> None:
    share = scalar(
        dataset,
        f"SELECT count(DISTINCT patient_id) / {PATIENTS} FROM clinical_events "
        f"WHERE snomedct_code IN {DIABETES_CODES}",
    )
    assert 0.05 <= share <= 0.12


def test_hba1c_is_higher_in_diabetics_and_in_plausible_units(dataset: Path) -> None:
    diabetic = (
        "patient_id IN (SELECT patient_id FROM clinical_events "
        f"WHERE snomedct_code IN {DIABETES_CODES})"
    )
    with connect(dataset) as connection:
        rows = connection.sql(
            f"SELECT {diabetic} AS diabetic, median(numeric_value), min(numeric_value), "
            f"max(numeric_value), count(*) FROM clinical_events WHERE snomedct_code = {HBA1C} "
            "GROUP BY 1 ORDER BY 1"
        ).fetchall()
    (_, others, low, _, n_others), (_, diabetics, _, high, n_diabetics) = rows
    assert 33 <= others <= 42 and 50 <= diabetics <= 70
    assert low >= 20 and high <= 140
    assert min(n_others, n_diabetics) > 1_000


def test_hba1c_control_is_worse_in_deprived_areas(dataset: Path) -> None:
    with connect(dataset) as connection:
        means = dict(
            connection.sql(
                "SELECT imd_quintile, avg(numeric_value) FROM clinical_events "
                "JOIN patients USING (patient_id) WHERE snomedct_code = "
                f"{HBA1C} AND patient_id IN (SELECT patient_id FROM clinical_events "
                f"WHERE snomedct_code IN {DIABETES_CODES}) GROUP BY 1"
            ).fetchall()
        )
    assert means["1"] > means["5"] + 3


def test_bmi_and_blood_pressure_are_plausible(dataset: Path) -> None:
    with connect(dataset) as connection:
        bmi, sbp = connection.sql(
            "SELECT median(numeric_value) FILTER (WHERE snomedct_code = '60621009'), "
            "median(numeric_value) FILTER (WHERE snomedct_code = '72313002') "
            "FROM clinical_events"
        ).fetchall()[0]
    assert 24 <= bmi <= 31
    assert 115 <= sbp <= 150


def test_age_pyramid_is_england_like(dataset: Path) -> None:
    with connect(dataset) as connection:
        shares = dict(
            connection.sql(
                f"SELECT least(date_diff('year', date_of_birth, {AS_OF}) // 20, 4), "
                f"count(*) / {PATIENTS} FROM patients GROUP BY 1"
            ).fetchall()
        )
    assert 0.20 < shares[0] < 0.27  # 0-19
    assert 0.22 < shares[2] < 0.30  # 40-59
    assert 0.02 < shares[4] < 0.08  # 80 and over
    assert shares[4] < shares[3] < shares[2]


def test_event_rates_rise_with_age_and_men_have_more_heart_attacks(dataset: Path) -> None:
    with connect(dataset) as connection:
        rates = [
            row[1]
            for row in connection.sql(
                f"SELECT least(date_diff('year', p.date_of_birth, {AS_OF}) // 20, 4) AS band, "
                "count(e.patient_id) / count(DISTINCT p.patient_id) FROM patients p "
                "LEFT JOIN clinical_events e USING (patient_id) GROUP BY 1 ORDER BY 1"
            ).fetchall()
        ]
        mi = dict(
            connection.sql(
                "SELECT sex, count(a.patient_id) / count(DISTINCT p.patient_id) FROM patients p "
                "LEFT JOIN hospital_admissions a ON a.patient_id = p.patient_id "
                "AND a.primary_diagnosis LIKE 'I21%' WHERE sex IN ('female', 'male') GROUP BY 1"
            ).fetchall()
        )
    assert rates == sorted(rates)
    assert rates[-1] > 3 * rates[0]
    assert mi["male"] > 1.5 * mi["female"]


def test_flu_uptake_is_high_in_older_people_and_low_in_younger_adults(dataset: Path) -> None:
    uptake = """
        SELECT avg((patient_id IN (SELECT patient_id FROM vaccinations
                   WHERE target_disease = 'influenza'
                   AND date BETWEEN DATE '2024-09-01' AND DATE '2025-03-31'))::INT)
        FROM patients WHERE date_of_death IS NULL
          AND date_diff('year', date_of_birth, DATE '2024-09-01') BETWEEN {low} AND {high}"""
    older = scalar(dataset, uptake.format(low=65, high=120))
    younger = scalar(dataset, uptake.format(low=20, high=49))
    assert 0.6 <= older <= 0.9
    assert younger < 0.3


def test_metformin_goes_to_people_with_diabetes(dataset: Path) -> None:
    share_coded = scalar(
        dataset,
        "SELECT avg((patient_id IN (SELECT patient_id FROM clinical_events "
        f"WHERE snomedct_code IN {DIABETES_CODES}))::INT) FROM (SELECT DISTINCT patient_id "
        "FROM medications WHERE dmd_code IN ('325278007', '325279004'))",
    )
    users = scalar(
        dataset,
        "SELECT count(DISTINCT patient_id) FROM medications "
        "WHERE dmd_code IN ('325278007', '325279004')",
    )
    assert share_coded > 0.95
    assert users > 0.02 * PATIENTS


# --- Any schema, hints and their errors ----------------------------------------------------


def test_bundled_schemas_have_valid_hints_and_generate(tmp_path: Path) -> None:
    for name in available_schemas():
        loaded = load_schema(name)
        check_hints(loaded)
        path = generate_dataset(loaded, tmp_path / f"{name}.duckdb", 300, seed=3)
        assert set(table_contents(path)) == set(loaded.tables)


def test_hints_do_not_change_the_structure_hash(schema: DatasetSchema) -> None:
    assert schema.hash == schema_from(without_hints(primary_care_raw())).hash


def test_a_schema_without_any_hint_still_generates_typed_data(tmp_path: Path) -> None:
    bare = schema_from(without_hints(primary_care_raw()))
    path = generate_dataset(bare, tmp_path / "bare.duckdb", 2_000, seed=1)
    with connect(path) as connection:
        sexes = {row[0] for row in connection.sql("SELECT DISTINCT sex FROM patients").fetchall()}
        nulls = connection.sql(
            "SELECT count(*) FILTER (WHERE date_of_death IS NULL), count(*) FROM patients"
        ).fetchall()[0]
    assert sexes == {"female", "male", "intersex", "unknown"}
    assert 0 < nulls[0] < nulls[1]
    test_child_rows_belong_to_patients_and_fall_between_birth_and_death(path)


def episodes_schema() -> DatasetSchema:
    """Hospital-style: no one-row-per-patient table, linked keys, per-patient values."""
    raw: dict[str, Any] = {
        "name": "episodes",
        "version": 1,
        "description": "Hospital episodes, no one-row-per-patient table.",
        "tables": {
            "episodes": {
                "description": "Episodes.",
                "patient_id": "person",
                "columns": {
                    "person": {"type": "string", "description": "Patient."},
                    "episode": {"type": "string", "description": "Key.",
                                "generate": {"sequence": {"prefix": "E"}}},
                    "start": {"type": "date", "description": "Start."},
                    "age": {"type": "integer", "description": "Age.",
                            "generate": {"age": {"at": "start"}}},
                    "sex": {"type": "string", "description": "Sex.", "domain": ["f", "m"],
                            "generate": {"per_patient": "sex", "categorical": {"f": 1, "m": 1}}},
                    "cost": {"type": "float", "description": "Cost.", "nullable": True},
                    "day_case": {"type": "boolean", "description": "Day case."},
                },
                "generate": {"streams": [{"name": "all", "rows": {"poisson": 1.5}}]},
            },
            "diagnoses": {
                "description": "Diagnoses of each episode.",
                "patient_id": "person",
                "columns": {
                    "person": {"type": "string", "description": "Patient."},
                    "episode": {"type": "string", "description": "Key.",
                                "generate": {"sequence": {"prefix": "E"}}},
                    "position": {"type": "integer", "description": "1, 2, ...",
                                 "generate": {"sequence": {"of": "position"}}},
                    "sex": {"type": "string", "description": "Sex.", "domain": ["f", "m"],
                            "generate": {"per_patient": "sex", "categorical": {"f": 1, "m": 1}}},
                },
                "generate": {"streams": [{"name": "dx", "rows": {
                    "same_as": "episodes.all", "each": {"poisson": 1.0, "max": 20}}}]},
            },
        },
    }  # fmt: skip
    return schema_from(raw)


def test_a_schema_with_every_column_type_and_no_population_table(tmp_path: Path) -> None:
    path = generate_dataset(episodes_schema(), tmp_path / "episodes.duckdb", 1_000, seed=4)
    with connect(path) as connection:
        checks = connection.sql(
            "SELECT (SELECT count(*) - count(DISTINCT episode) FROM episodes), "
            "(SELECT count(*) FROM diagnoses d ANTI JOIN episodes e "
            " ON d.episode = e.episode AND d.person = e.person AND d.sex = e.sex), "
            "(SELECT count(*) FROM (SELECT episode FROM diagnoses GROUP BY 1 "
            " HAVING min(position) <> 1 OR max(position) <> count(*))), "
            "(SELECT count(*) FROM episodes WHERE age < 0 OR age > 110), "
            "(SELECT count(DISTINCT day_case) FROM episodes), "
            "(SELECT count(*) FILTER (WHERE cost IS NULL) > 0 FROM episodes)"
        ).fetchall()[0]
        linked = connection.sql("SELECT count(*) FROM diagnoses").fetchall()[0]
    assert checks == (0, 0, 0, 0, 2, True)
    assert linked[0] > 1_000


def test_yaml_number_keys_become_code_strings() -> None:
    hint = ColumnHint.model_validate({"categorical": {44054006: 0.9, 46635009: 0.1}})
    assert hint.categorical == {"44054006": 0.9, "46635009": 0.1}


@pytest.mark.parametrize(
    "rows",
    [{"poisson": 1, "fixed": 2}, {}, {"each": {"fixed": 2}, "poisson": 1}],
)
def test_row_hints_take_exactly_one_kind(rows: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        RowsHint.model_validate(rows)


def test_unknown_hint_keys_are_refused() -> None:
    with pytest.raises(ValidationError):
        TableHint.model_validate({"streams": [{"name": "x", "rows": {"fixed": 1}, "colour": 1}]})


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda t: t["patients"]["columns"]["sex"].update(generate={"categorical": {"other": 1}}),
         "not in the column's domain"),
        (lambda t: t["clinical_events"]["generate"]["streams"][0].update(who={"having": ["gout"]}),
         "unknown trait 'gout'"),
        (lambda t: t["medications"]["generate"]["streams"][0]["columns"].update(dose={"value": 1}),
         "unknown column 'dose'"),
        (lambda t: t["patients"]["columns"]["sex"].update(generate={"null_fraction": 0.1}),
         "not nullable"),
        (lambda t: t["clinical_events"]["generate"]["streams"][0]["columns"].update(
            snomedct_code={"normal": {"mean": 1, "sd": 1}}),
         "numeric distribution cannot fill a string"),
        (lambda t: t["clinical_events"]["generate"]["streams"][-1]["rows"].update(
            same_as="vaccinations.nothing"),
         "same_as 'vaccinations.nothing'"),
        (lambda t: t["vaccinations"]["generate"]["streams"][0]["rows"].update(
            by={"postcode": {"x": 2}}),
         "'postcode' is not a string column"),
    ],
)  # fmt: skip
def test_hint_mistakes_are_reported_with_where_and_what(
    change: Any, message: str, tmp_path: Path
) -> None:
    raw = primary_care_raw()
    change(raw["tables"])
    with pytest.raises(SpecError, match=message):
        generate_dataset(schema_from(raw), tmp_path / "never.duckdb", 100, seed=1)
    assert not (tmp_path / "never.duckdb").exists()


def test_progress_reports_every_step(tmp_path: Path, schema: DatasetSchema) -> None:
    calls: list[tuple[str, int, int]] = []
    generate_dataset(
        schema, tmp_path / "p.duckdb", 200, 1, progress=lambda *call: calls.append(call)
    )
    totals = {total for _, _, total in calls}
    assert len(totals) == 1
    assert [done for _, done, _ in calls] == sorted(done for _, done, _ in calls)
    assert calls[-1][1] == calls[-1][2] == len(schema.tables) + 1
    assert any("clinical_events" in step for step, _, _ in calls)


# --- The default dataset and its manifest --------------------------------------------------


def test_default_dataset_is_generated_once_and_regenerated_when_stale(
    tmp_path: Path, schema: DatasetSchema
) -> None:
    path = ensure_dummy_dataset(schema, tmp_path, patients=300, seed=9)
    manifest = json.loads(manifest_path(path).read_text(encoding="utf-8"))
    assert path == tmp_path / "primary_care.duckdb"
    assert manifest["schema_hash"] == schema.hash
    assert manifest["generator_version"] == GENERATOR_VERSION
    stamp = path.stat().st_mtime_ns
    assert ensure_dummy_dataset(schema, tmp_path, patients=300, seed=9).stat().st_mtime_ns == stamp

    ensure_dummy_dataset(schema, tmp_path, patients=300, seed=10)
    assert json.loads(manifest_path(path).read_text(encoding="utf-8"))["seed"] == 10
    assert scalar(path, "SELECT count(*) FROM patients") == 300

    manifest_path(path).write_text("{not json", encoding="utf-8")
    ensure_dummy_dataset(schema, tmp_path, patients=400, seed=10)
    assert scalar(path, "SELECT count(*) FROM patients") == 400

    manifest_path(path).unlink()
    stamp = path.stat().st_mtime_ns
    ensure_dummy_dataset(schema, tmp_path, patients=400, seed=10)
    assert path.stat().st_mtime_ns != stamp
    assert manifest_path(path).exists()


def test_changed_hints_regenerate_the_default_dataset(tmp_path: Path) -> None:
    raw = primary_care_raw()
    first = schema_from(raw)
    ensure_dummy_dataset(first, tmp_path, patients=300, seed=1)
    raw["tables"]["patients"]["columns"]["sex"]["generate"] = {"categorical": {"female": 1}}
    second = schema_from(raw)
    assert second.hash == first.hash
    path = ensure_dummy_dataset(second, tmp_path, patients=300, seed=1)
    assert scalar(path, "SELECT count(DISTINCT sex) FROM patients") == 1


# --- CLI -----------------------------------------------------------------------------------


def cli() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def root() -> None:
        """Test root."""

    register(app)
    return app


def test_cli_generates_a_dataset_with_its_manifest(tmp_path: Path) -> None:
    out = tmp_path / "out" / "pc.duckdb"
    result = CliRunner().invoke(
        cli(), ["dummy", "generate", "--patients", "400", "--seed", "3", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    words = " ".join(result.output.split())
    assert "clinical_events" in words and "(400 patients, seed 3)" in words
    assert scalar(out, "SELECT count(*) FROM patients") == 400
    assert json.loads(manifest_path(out).read_text(encoding="utf-8"))["seed"] == 3


def test_cli_reports_an_unknown_schema_as_a_user_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli(), ["dummy", "generate", "--schema", "nope", "--out", str(tmp_path / "x.duckdb")]
    )
    assert isinstance(result.exception, SpecError)
    assert "Unknown dataset schema 'nope'" in str(result.exception)
    assert not (tmp_path / "x.duckdb").exists()


def test_generate_with_manifest_writes_both_files(tmp_path: Path, schema: DatasetSchema) -> None:
    path = generate_with_manifest(schema, tmp_path / "m.duckdb", 100, seed=2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.duckdb", "m.duckdb.json"]
    assert json.loads(manifest_path(path).read_text(encoding="utf-8"))["patients"] == 100
