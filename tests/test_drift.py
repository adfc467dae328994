"""The runner refuses a dataset whose structure or values do not match its schema."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import duckdb
import pytest

from trusted_env.engine.connection import SandboxLimits, open_dataset
from trusted_env.engine.drift import check_dataset_matches_schema
from trusted_env.errors import SchemaDriftError
from trusted_env.schema import DatasetSchema, load_schema
from trusted_env.spec.plan import Codelist

REAL_VALUE = "REAL_VALUE-VALUE-7731"

SMALL = DatasetSchema.model_validate(
    {
        "name": "small",
        "version": 1,
        "description": "Two tables for drift tests.",
        "tables": {
            "patients": {
                "description": "People.",
                "patient_id": "patient_id",
                "columns": {
                    "patient_id": {"type": "integer", "description": "Id."},
                    "sex": {"type": "string", "description": "Sex.", "domain": ["f", "m"]},
                    "region": {
                        "type": "string",
                        "description": "Region.",
                        "nullable": True,
                        "domain": ["north", "south"],
                    },
                    "date_of_birth": {"type": "date", "description": "Birth."},
                },
            },
            "events": {
                "description": "Events.",
                "patient_id": "patient_id",
                "columns": {
                    "patient_id": {"type": "integer", "description": "Id."},
                    "value": {"type": "float", "description": "Value.", "nullable": True},
                    "flag": {"type": "boolean", "description": "Flag."},
                },
            },
        },
    }
)

GOOD_ROWS = {
    "patients": "(1, 'f', 'north', DATE '1980-01-01'), (2, 'm', NULL, DATE '1990-06-01')",
    "events": "(1, 4.5, true), (2, NULL, false)",
}


def _create_statements(schema: DatasetSchema, *, not_null: bool) -> dict[str, str]:
    statements = {}
    for name, table in schema.tables.items():
        columns = ", ".join(
            f"{column} {spec.type.duckdb_type}"
            + (" NOT NULL" if not_null and not spec.nullable else "")
            for column, spec in table.columns.items()
        )
        statements[name] = f"CREATE TABLE {name} ({columns})"
    return statements


def _build(
    path: Path,
    *,
    not_null: bool = False,
    rows: dict[str, str] | None = None,
    edit: Callable[[duckdb.DuckDBPyConnection], None] | None = None,
) -> Path:
    with duckdb.connect(str(path)) as conn:
        for statement in _create_statements(SMALL, not_null=not_null).values():
            conn.execute(statement)
        for table, values in (GOOD_ROWS if rows is None else rows).items():
            conn.execute(f"INSERT INTO {table} VALUES {values}")
        if edit is not None:
            edit(conn)
    return path


def _drift(path: Path, schema: DatasetSchema = SMALL) -> str:
    conn = open_dataset(path, SandboxLimits(threads=1))
    try:
        with pytest.raises(SchemaDriftError) as drift:
            check_dataset_matches_schema(conn, schema)
    finally:
        conn.close()
    return str(drift.value)


def _check(path: Path, schema: DatasetSchema = SMALL) -> None:
    conn = open_dataset(path, SandboxLimits(threads=1))
    try:
        check_dataset_matches_schema(conn, schema)
    finally:
        conn.close()


@pytest.mark.parametrize("not_null", [False, True])
def test_matching_dataset_passes(tmp_path: Path, not_null: bool) -> None:
    _check(_build(tmp_path / "ok.duckdb", not_null=not_null))


def test_empty_tables_pass(tmp_path: Path) -> None:
    _check(_build(tmp_path / "empty.duckdb", rows={}))


def test_bundled_schema_on_an_empty_dataset(tmp_path: Path) -> None:
    schema = load_schema("primary_care")
    path = tmp_path / "primary_care.duckdb"
    with duckdb.connect(str(path)) as conn:
        for statement in _create_statements(schema, not_null=True).values():
            conn.execute(statement)
    _check(path, schema)


def test_codelist_temp_tables_are_not_extra_tables(tmp_path: Path) -> None:
    path = _build(tmp_path / "ok.duckdb")
    codelists = {"codes": Codelist(columns=("code",), rows=(("a",),))}
    conn = open_dataset(path, SandboxLimits(threads=1), codelists)
    try:
        check_dataset_matches_schema(conn, SMALL)
    finally:
        conn.close()


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        ("DROP TABLE events", "table 'events' is missing"),
        (
            "CREATE TABLE notes (patient_id BIGINT, text VARCHAR)",
            "table 'notes' is not in the schema",
        ),
        (
            "CREATE SCHEMA extra; CREATE TABLE extra.t (a INT)",
            "table 'extra.t' is not in the schema",
        ),
        (
            "ALTER TABLE events DROP COLUMN flag",
            "column 'events.flag' is missing (add it as BOOLEAN)",
        ),
        ("ALTER TABLE events ADD COLUMN note VARCHAR", "column 'events.note' is not in the schema"),
        (
            "ALTER TABLE events ALTER COLUMN value TYPE VARCHAR",
            "column 'events.value' has type VARCHAR, expected DOUBLE",
        ),
        (
            "ALTER TABLE patients ALTER COLUMN patient_id TYPE INTEGER",
            "column 'patients.patient_id' has type INTEGER, expected BIGINT",
        ),
        (
            "DROP TABLE events; CREATE VIEW events AS "
            "SELECT 1::BIGINT AS patient_id, 1.0::DOUBLE AS value, true AS flag",
            "'events' is a view",
        ),
        (
            "ALTER TABLE events DROP COLUMN value; ALTER TABLE events ADD COLUMN value DOUBLE",
            "columns of 'events' are in the order (patient_id, flag, value)",
        ),
    ],
)
def test_structural_drift_is_named(tmp_path: Path, edit: str, expected: str) -> None:
    path = _build(tmp_path / "drift.duckdb", edit=lambda conn: conn.execute(edit))
    message = _drift(path)
    assert expected in message
    assert "Rebuild the dataset" in message


def test_every_difference_is_listed(tmp_path: Path) -> None:
    def edit(conn: duckdb.DuckDBPyConnection) -> None:
        conn.execute("DROP TABLE events")
        conn.execute("ALTER TABLE patients ADD COLUMN postcode VARCHAR")

    message = _drift(_build(tmp_path / "drift.duckdb", edit=edit))
    assert "table 'events' is missing" in message
    assert "column 'patients.postcode' is not in the schema" in message


def test_enum_type_is_named_without_its_values(tmp_path: Path) -> None:
    def edit(conn: duckdb.DuckDBPyConnection) -> None:
        conn.execute(f"CREATE TYPE sexes AS ENUM ('f', 'm', '{REAL_VALUE}')")
        conn.execute("ALTER TABLE patients ALTER COLUMN sex TYPE sexes")

    message = _drift(_build(tmp_path / "enum.duckdb", edit=edit))
    assert "column 'patients.sex' has type ENUM, expected VARCHAR" in message
    assert REAL_VALUE not in message


def test_nulls_in_a_non_nullable_column_are_named_not_counted(tmp_path: Path) -> None:
    rows = {"patients": "(1, 'f', NULL, NULL), (2, 'm', NULL, NULL), (3, 'f', NULL, NULL)"}
    message = _drift(_build(tmp_path / "nulls.duckdb", rows=rows))
    assert "column 'patients.date_of_birth' has nulls but the schema says it is not nullable" in (
        message
    )
    assert "patients.region" not in message  # nullable: nulls are fine
    assert "3" not in message


def test_values_outside_the_domain_are_named_never_shown(tmp_path: Path) -> None:
    rows = {"patients": f"(1, '{REAL_VALUE}', 'north', DATE '1980-01-01')"}
    message = _drift(_build(tmp_path / "domain.duckdb", rows=rows))
    assert "column 'patients.sex' has values outside its declared domain" in message
    assert REAL_VALUE not in message
    assert "patients.region" not in message


def test_nullable_domain_column_may_hold_nulls(tmp_path: Path) -> None:
    rows = {"patients": "(1, 'f', NULL, DATE '1980-01-01')"}
    _check(_build(tmp_path / "ok.duckdb", rows=rows))


def test_value_checks_and_nulls_reported_together(tmp_path: Path) -> None:
    rows = {
        "patients": "(1, 'x', 'east', DATE '1980-01-01')",
        "events": "(NULL, 1.0, NULL)",
    }
    message = _drift(_build(tmp_path / "both.duckdb", rows=rows))
    for expected in (
        "'patients.sex' has values outside",
        "'patients.region' has values outside",
        "'events.patient_id' has nulls",
        "'events.flag' has nulls",
    ):
        assert expected in message
