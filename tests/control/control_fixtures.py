"""Small real DuckDB datasets and job folders for the control-plane tests."""

from __future__ import annotations

import textwrap
from datetime import date, timedelta
from pathlib import Path

import duckdb
from sqlalchemy import text

from trusted_env.control import Actor, Database, Role, datasets, users
from trusted_env.control.tables import Base
from trusted_env.control.users import IssuedToken
from trusted_env.schema import ColumnType, DatasetSchema, load_schema

PRIMARY_CARE = load_schema("primary_care")


def _value(
    column_type: ColumnType, domain: tuple[str, ...] | None, patient: int, row: int
) -> object:
    if domain is not None:
        return domain[(patient + row) % len(domain)]
    if column_type is ColumnType.INTEGER:
        return patient if row == 0 else patient * 10 + row
    if column_type is ColumnType.FLOAT:
        return 20.0 + (patient * 7 + row) % 100
    if column_type is ColumnType.DATE:
        return date(1940, 1, 1) + timedelta(days=(patient * 37 + row * 11) % 25_000)
    if column_type is ColumnType.BOOLEAN:
        return (patient + row) % 2 == 0
    return f"code{(patient + row) % 50}"


def write_dataset(
    path: Path, schema: DatasetSchema = PRIMARY_CARE, patients: int = 60, rows_per_patient: int = 3
) -> Path:
    """One row per patient in the patient table, `rows_per_patient` in every other table."""
    connection = duckdb.connect(str(path))
    try:
        for name, table in schema.tables.items():
            columns = ", ".join(
                f"{col} {spec.type.duckdb_type}{'' if spec.nullable else ' NOT NULL'}"
                for col, spec in table.columns.items()
            )
            connection.execute(f"CREATE TABLE {name} ({columns})")
            per_patient = 1 if name == "patients" else rows_per_patient
            rows = [
                tuple(
                    patient
                    if col == table.patient_id
                    else _value(spec.type, spec.domain, patient, r)
                    for col, spec in table.columns.items()
                )
                for patient in range(1, patients + 1)
                for r in range(per_patient)
            ]
            marks = ", ".join("?" for _ in table.columns)
            connection.executemany(f"INSERT INTO {name} VALUES ({marks})", rows)
    finally:
        connection.close()
    return path


def write_job(
    folder: Path,
    *,
    name: str = "sex_counts",
    epsilon: float = 1.0,
    sql: str | None = None,
) -> Path:
    """A job counting patients by sex (keys from the schema's public domain)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "job.yaml").write_text(
        textwrap.dedent(
            f"""\
            name: {name}
            description: Patients by recorded sex.
            dataset: primary_care
            budget:
              epsilon: {epsilon}
            outputs:
              - name: patients_by_sex
                type: count
                group_by:
                  - column: sex
                    keys_from: patients.sex
            """
        )
    )
    (folder / "cohort.sql").write_text(sql or "SELECT patient_id, sex FROM patients\n")
    return folder


def snapshot(db: Database) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every control-plane table: equal before and after means nothing changed."""
    with db.transaction() as session:
        return {
            name: sorted(
                (tuple(row) for row in session.execute(text(f"SELECT * FROM {name}"))), key=repr
            )
            for name in sorted(Base.metadata.tables)
        }


OPERATOR = Actor.operator()


class People:
    """The users of a test: two researchers, two stewards, a policy reader and an admin."""

    def __init__(self, db: Database):
        self.tokens: dict[str, IssuedToken] = {}
        roles = {
            "alice": Role.RESEARCHER,
            "bob": Role.RESEARCHER,
            "sam": Role.STEWARD,
            "sue": Role.STEWARD,
            "pat": Role.POLICY_READER,
            "ada": Role.ADMIN,
        }
        with db.transaction() as session:
            for name, role in roles.items():
                self.tokens[name] = users.create_user(session, OPERATOR, name, role)
        with db.transaction() as session:
            self.actors = {name: users.actor_for(session, name) for name in roles}

    def __getattr__(self, name: str) -> Actor:
        try:
            return self.actors[name]
        except KeyError:
            raise AttributeError(name) from None


def register(
    db: Database, path: Path, name: str = "gp", epsilon: float = 3.0, delta: float = 0.0
) -> None:
    with db.transaction() as session:
        datasets.register_dataset(
            session,
            OPERATOR,
            name=name,
            path=path,
            schema=load_schema("primary_care"),
            budget_epsilon=epsilon,
            budget_delta=delta,
        )
