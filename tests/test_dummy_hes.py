"""Dummy HES: the `hes` schema's generation hints give HES-shaped data, and the two hint features
they needed (`sequence: {of: copy}`, `age: {since: ...}`) work on any schema."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest

from trusted_env.dummy import ensure_dummy_dataset, generate_dataset
from trusted_env.engine.drift import check_dataset_matches_schema
from trusted_env.errors import SpecError
from trusted_env.schema import DatasetSchema, load_schema

HES = load_schema("hes")


@pytest.fixture(scope="module")
def connection(tmp_path_factory: pytest.TempPathFactory) -> Iterator[duckdb.DuckDBPyConnection]:
    path = ensure_dummy_dataset(HES, tmp_path_factory.mktemp("dummy"))
    assert path.name == "hes.duckdb"
    conn = duckdb.connect(str(path), read_only=True)
    try:
        yield conn
    finally:
        conn.close()


def one(conn: duckdb.DuckDBPyConnection, sql: str) -> tuple[Any, ...]:
    rows = conn.execute(sql).fetchall()
    assert len(rows) == 1
    return tuple(rows[0])


def test_the_file_matches_the_schema_and_its_domains(connection: duckdb.DuckDBPyConnection) -> None:
    check_dataset_matches_schema(connection, HES)  # types, nullability and domains, every table
    sizes = {t: one(connection, f"SELECT count(*) FROM {t}")[0] for t in HES.tables}
    assert all(size > 1_000 for size in sizes.values()), sizes


def test_episodes_per_patient_are_skewed(connection: duckdb.DuckDBPyConnection) -> None:
    patients, one_or_two, ten_or_more, most = one(
        connection,
        "SELECT count(*), count(*) FILTER (WHERE n <= 2), count(*) FILTER (WHERE n >= 10), "
        "max(n) FROM (SELECT patient_id, count(*) AS n FROM hes_apc GROUP BY 1)",
    )
    assert one_or_two / patients > 0.8
    assert ten_or_more >= 10
    assert most >= 25


def test_spells_group_episodes_and_keys_link_the_tables(
    connection: duckdb.DuckDBPyConnection,
) -> None:
    duplicate_episodes, spells, episodes = one(
        connection,
        "SELECT count(*) - count(DISTINCT episode_id), count(DISTINCT spell_id), count(*) "
        "FROM hes_apc",
    )
    assert duplicate_episodes == 0 and spells < episodes
    # Two-episode spells: same patient and admission date, episodes 1 then 2, the first not
    # the last, no discharge on the first, the length of stay on the second.
    wrong = one(
        connection,
        "SELECT count(*) FROM (SELECT spell_id FROM hes_apc GROUP BY spell_id HAVING count(*) > 1 "
        "AND NOT (count(*) = 2 AND count(DISTINCT patient_id) = 1 "
        "AND count(DISTINCT admission_date) = 1 AND list_sort(list(episode_order)) = [1, 2] "
        "AND bool_and(first_episode_in_spell = (episode_order = 1)) "
        "AND bool_and(last_episode_in_spell = (episode_order = 2)) "
        "AND bool_and((discharge_date IS NULL) OR episode_order = 2)))",
    )
    assert wrong == (0,)
    multi = one(
        connection,
        "SELECT count(*) FROM (SELECT spell_id FROM hes_apc GROUP BY 1 HAVING count(*) = 2)",
    )
    assert multi[0] > 50
    for table in ("hes_apc_diagnoses", "hes_apc_procedures"):
        orphans, bad_positions = one(
            connection,
            f"SELECT (SELECT count(*) FROM {table} AS c ANTI JOIN hes_apc AS e "
            f"   ON c.episode_id = e.episode_id AND c.patient_id = e.patient_id), "
            f"(SELECT count(*) FROM (SELECT episode_id FROM {table} GROUP BY 1 "
            f"   HAVING min(position) <> 1 OR max(position) <> count(*)))",
        )
        assert (orphans, bad_positions) == (0, 0), table
    # Second episodes have diagnoses of their own (linked to the episode, not the spell).
    linked = one(
        connection,
        "SELECT count(DISTINCT d.episode_id) FROM hes_apc_diagnoses AS d "
        "JOIN hes_apc AS e USING (episode_id) WHERE e.episode_order = 2",
    )
    assert linked == multi
    every_episode_has_a_primary_row = one(
        connection,
        "SELECT count(*) FROM hes_apc AS e ANTI JOIN hes_apc_diagnoses AS d "
        "ON d.episode_id = e.episode_id AND d.position = 1",
    )
    assert every_episode_has_a_primary_row == (0,)


def test_admission_methods_stays_and_dates_are_hes_like(
    connection: duckdb.DuckDBPyConnection,
) -> None:
    groups = dict(
        connection.sql("SELECT admission_method_group, count(*) FROM hes_apc GROUP BY 1").fetchall()
    )
    total = sum(groups.values())
    assert set(groups) == {"elective", "emergency", "maternity", "other"}
    assert 0.3 < groups["emergency"] / total < 0.6 and 0.3 < groups["elective"] / total < 0.6
    mismatched_groups = one(
        connection,
        "SELECT count(*) FROM hes_apc WHERE admission_method_group <> CASE "
        "WHEN admission_method IN ('11', '12', '13') THEN 'elective' "
        "WHEN admission_method IN ('31', '32') THEN 'maternity' "
        "WHEN admission_method IN ('81', '82', '83', '84', '89', '98', '99') THEN 'other' "
        "ELSE 'emergency' END",
    )
    assert mismatched_groups == (0,)
    wrong_los, median, p99, longest, day_cases_not_same_day = one(
        connection,
        "SELECT count(*) FILTER (WHERE length_of_stay IS DISTINCT FROM "
        "  date_diff('day', admission_date, discharge_date)), "
        "median(length_of_stay) FILTER (WHERE admission_method_group = 'emergency'), "
        "quantile_disc(length_of_stay, 0.99), max(length_of_stay), "
        "count(*) FILTER (WHERE patient_classification = '2' AND length_of_stay <> 0) "
        "FROM hes_apc",
    )
    assert wrong_los == 0 and day_cases_not_same_day == 0
    assert 1 <= median <= 5 and p99 >= 20 and longest >= 60  # skewed to the right
    outside, ongoing, electives_without_decision = one(
        connection,
        "SELECT count(*) FILTER (WHERE admission_date NOT BETWEEN DATE '2023-04-01' "
        "  AND DATE '2024-03-31'), "
        "count(*) FILTER (WHERE discharge_date IS NULL AND last_episode_in_spell), "
        "count(*) FILTER (WHERE admission_method_group = 'elective' "
        "  AND NOT decision_to_admit_date < admission_date) FROM hes_apc",
    )
    assert outside == 0 and ongoing > 0 and electives_without_decision == 0


def test_diagnoses_cover_the_icd10_chapters(connection: duckdb.DuckDBPyConnection) -> None:
    letters = {
        row[0]
        for row in connection.sql(
            "SELECT DISTINCT left(primary_diagnosis, 1) FROM hes_apc"
        ).fetchall()
    }
    # Every chapter but XX (V-Y: external causes are never a primary diagnosis).
    assert set("ABCDEFGHIJKLMNOPQRSTUZ") <= letters and not letters & set("VWXY")
    malformed = one(
        connection,
        "SELECT (SELECT count(*) FROM hes_apc WHERE NOT regexp_full_match(primary_diagnosis, "
        "'[A-Z][0-9]{2}[0-9X]') OR NOT regexp_full_match(main_procedure, '[A-Z][0-9]{3}')), "
        "(SELECT count(*) FROM hes_apc_diagnoses WHERE NOT regexp_full_match(icd10_code, "
        "'[A-Z][0-9]{2}[0-9X]')), (SELECT count(*) FROM hes_apc_procedures WHERE NOT "
        "regexp_full_match(opcs4_code, '[A-Z][0-9]{3}'))",
    )
    assert malformed == (0, 0, 0)
    births_and_deliveries = one(
        connection,
        "SELECT count(*) FILTER (WHERE primary_diagnosis LIKE 'Z38%' AND age_at_start = 0), "
        "count(*) FILTER (WHERE primary_diagnosis LIKE 'O%' AND sex = 'female'), "
        "count(*) FILTER (WHERE primary_diagnosis LIKE 'O%' AND sex <> 'female') FROM hes_apc",
    )
    assert births_and_deliveries[0] > 50 and births_and_deliveries[1] > 50
    assert births_and_deliveries[2] == 0


def test_infants_have_age_zero_and_a_band(connection: duckdb.DuckDBPyConnection) -> None:
    for table, age in (
        ("hes_apc", "age_at_start"),
        ("hes_ae", "age_at_arrival"),
        ("hes_op", "age_at_appointment"),
    ):
        infants, banded, inconsistent = one(
            connection,
            f"SELECT count(*) FILTER (WHERE {age} = 0), count(infant_age_band), "
            f"count(*) FILTER (WHERE ({age} = 0) IS DISTINCT FROM (infant_age_band IS NOT NULL) "
            f"AND {age} IS NOT NULL) FROM {table}",
        )
        assert infants > 20 and banded == infants and inconsistent == 0, table
    newborn = one(
        connection,
        "SELECT count(*) FROM hes_apc WHERE infant_age_band = 'less than 1 day' "
        "AND admission_method IN ('82', '83')",
    )
    assert newborn[0] > 50


def test_patients_keep_their_sex_ethnicity_and_region_across_tables(
    connection: duckdb.DuckDBPyConnection,
) -> None:
    rows = " UNION ALL ".join(
        f"SELECT patient_id, sex, ethnicity, ethnicity_code, region, provider_code FROM {t}"
        for t in ("hes_apc", "hes_ae", "hes_op")
    )
    varying = one(
        connection,
        f"SELECT count(*) FROM (SELECT patient_id FROM ({rows}) GROUP BY 1 "
        "HAVING count(DISTINCT sex) > 1 OR count(DISTINCT ethnicity_code) > 1 "
        "OR count(DISTINCT region) > 1 OR count(DISTINCT provider_code) > 1)",
    )
    assert varying == (0,)
    groups = dict(
        connection.sql(
            "SELECT ethnicity_code, any_value(ethnicity) FROM hes_apc GROUP BY 1"
        ).fetchall()
    )
    expected = {
        "A": "White",
        "H": "Asian or Asian British",
        "N": "Black or Black British",
        "F": "Mixed",
        "S": "Other ethnic group",
        "Z": "Not stated",
        "99": "Not known",
    }
    assert {code: groups[code] for code in expected} == expected
    inconsistent = one(
        connection,
        "SELECT count(*) FROM (SELECT ethnicity_code FROM hes_apc GROUP BY 1 "
        "HAVING count(DISTINCT ethnicity) > 1)",
    )
    assert inconsistent == (0,)


def test_ae_and_outpatients_hold_some_patients(connection: duckdb.DuckDBPyConnection) -> None:
    ae_only, op, apc = one(
        connection,
        "SELECT (SELECT count(DISTINCT patient_id) FROM hes_ae WHERE patient_id NOT IN "
        "(SELECT patient_id FROM hes_apc)), (SELECT count(DISTINCT patient_id) FROM hes_op), "
        "(SELECT count(DISTINCT patient_id) FROM hes_apc)",
    )
    assert ae_only > 500 and op > apc
    same_day = one(
        connection,
        "SELECT count(*) FROM hes_apc AS e SEMI JOIN hes_ae AS a ON a.patient_id = e.patient_id "
        "AND a.arrival_date = e.admission_date WHERE e.admission_method_group = 'emergency' "
        "AND e.episode_order = 1",
    )
    emergencies = one(
        connection,
        "SELECT count(*) FROM hes_apc WHERE admission_method_group = 'emergency' "
        "AND episode_order = 1",
    )
    assert same_day == emergencies
    r69 = one(connection, "SELECT avg((primary_diagnosis = 'R69X')::INT) FROM hes_op")[0]
    assert r69 > 0.8


# --- The hint features, on a schema of their own ---------------------------------------------


def spells_schema(**overrides: Any) -> DatasetSchema:
    """Spells -> second episodes -> their diagnoses: a copy of a copy, and a stay in days."""
    stay: dict[str, Any] = {"age": {"at": "discharged", "since": "admitted", "unit": "days"}}
    stay.update(overrides)
    return DatasetSchema.model_validate({
        "name": "spells",
        "version": 1,
        "description": "Episodes in spells, with diagnoses.",
        "tables": {
            "episodes": {
                "description": "Episodes.",
                "patient_id": "person",
                "columns": {
                    "person": {"type": "string", "description": "Patient."},
                    "episode": {"type": "string", "description": "Episode key.",
                                "generate": {"sequence": {"of": "copy", "prefix": "E"}}},
                    "spell": {"type": "string", "description": "Spell key.",
                              "generate": {"sequence": {"prefix": "S"}}},
                    "admitted": {"type": "date", "description": "Admission."},
                    "discharged": {"type": "date", "description": "Discharge.", "nullable": True,
                                   "generate": {"date": {"after": "admitted", "offset_days": {
                                       "uniform": {"min": 0, "max": 30}}}}},
                    "stay": {"type": "integer", "description": "Days.", "nullable": True,
                             "generate": stay},
                },
                "generate": {"streams": [
                    {"name": "first", "rows": {"poisson": 1.0}},
                    {"name": "later", "rows": {"same_as": "episodes.first",
                                               "each": {"poisson": 1.0, "max": 3}}},
                ]},
            },
            "diagnoses": {
                "description": "Diagnoses of later episodes.",
                "patient_id": "person",
                "columns": {
                    "person": {"type": "string", "description": "Patient."},
                    "episode": {"type": "string", "description": "Episode key.",
                                "generate": {"sequence": {"prefix": "E"}}},
                    "position": {"type": "integer", "description": "1, 2, ...",
                                 "generate": {"sequence": {"of": "position"}}},
                },
                "generate": {"streams": [{"name": "dx", "rows": {
                    "same_as": "episodes.later", "each": {"poisson": 1.0, "max": 5}}}]},
            },
        },
    })  # fmt: skip


def test_copies_of_copies_link_to_their_own_source_row(tmp_path: Path) -> None:
    path = generate_dataset(spells_schema(), tmp_path / "spells.duckdb", 2_000, seed=3)
    with duckdb.connect(str(path), read_only=True) as conn:
        duplicates, spells, episodes, shared = one(
            conn,
            "SELECT count(*) - count(DISTINCT episode), count(DISTINCT spell), count(*), "
            "(SELECT count(*) FROM (SELECT spell FROM episodes GROUP BY 1 "
            " HAVING count(*) > 1 AND count(DISTINCT person) = 1 AND count(DISTINCT admitted) = 1))"
            " FROM episodes",
        )
        orphans, first_episodes_with_dx = one(
            conn,
            "SELECT (SELECT count(*) FROM diagnoses d ANTI JOIN episodes e "
            " ON d.episode = e.episode AND d.person = e.person), "
            "(SELECT count(*) FROM diagnoses d JOIN episodes e ON d.episode = e.episode "
            " WHERE e.episode = 'E' || substr(e.spell, 2))",
        )
        wrong_stays = one(
            conn,
            "SELECT count(*) FROM episodes "
            "WHERE stay IS DISTINCT FROM date_diff('day', admitted, discharged)",
        )
    assert duplicates == 0 and spells < episodes and shared > 500
    assert (orphans, first_episodes_with_dx) == (0, 0)
    assert wrong_stays == (0,)


def test_age_since_must_name_a_date_column() -> None:
    schema = spells_schema(age={"at": "discharged", "since": "spell", "unit": "days"})
    with pytest.raises(SpecError, match=r"episodes\.stay\.generate: 'spell' is not a date column"):
        generate_dataset(schema, Path("/nonexistent/never.duckdb"), 10, seed=1)
