"""Registering datasets (checked against their schema) and managing their budgets."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from control_fixtures import OPERATOR, People, register, snapshot, write_dataset

from trusted_env.control import Database, datasets
from trusted_env.errors import (
    ConflictError,
    NotFoundError,
    PermissionDenied,
    SchemaDriftError,
    UserError,
)
from trusted_env.schema import load_schema


def test_a_registered_dataset_starts_with_its_full_budget(db: Database, gp: str) -> None:
    with db.transaction() as session:
        view = datasets.get_dataset(session, OPERATOR, gp)
    budget = view.budget
    assert (view.schema_name, view.schema_hash) == (
        "primary_care",
        load_schema("primary_care").hash,
    )
    assert (budget.budget_epsilon, budget.spent_epsilon, budget.remaining_epsilon) == (
        3.0,
        0.0,
        3.0,
    )


def test_a_dataset_that_drifted_from_its_schema_is_refused_by_name(
    db: Database, tmp_path: Path
) -> None:
    path = write_dataset(tmp_path / "drifted.duckdb", patients=5)
    with duckdb.connect(str(path)) as connection:
        connection.execute("ALTER TABLE patients DROP COLUMN region")
    before = snapshot(db)
    with pytest.raises(SchemaDriftError, match="region"):
        register(db, path)
    assert snapshot(db) == before


def test_a_missing_file_is_refused(db: Database, tmp_path: Path) -> None:
    with pytest.raises(UserError, match="no dataset file"):
        register(db, tmp_path / "nowhere.duckdb")


@pytest.mark.parametrize(
    ("epsilon", "delta"), [(0.0, 0.0), (-1.0, 0.0), (float("inf"), 0.0), (1.0, 1.0), (1.0, -0.1)]
)
def test_impossible_budgets_are_refused(
    db: Database, dataset_file: Path, epsilon: float, delta: float
) -> None:
    with pytest.raises(UserError):
        register(db, dataset_file, epsilon=epsilon, delta=delta)


def test_names_are_unique(db: Database, dataset_file: Path, gp: str) -> None:
    before = snapshot(db)
    with pytest.raises(ConflictError):
        register(db, dataset_file, name=gp)
    assert snapshot(db) == before


def test_only_admins_register_and_only_stewards_or_admins_set_budgets(
    db: Database, people: People, dataset_file: Path, gp: str
) -> None:
    schema = load_schema("primary_care")
    for who in ("alice", "sam", "pat"):
        with pytest.raises(PermissionDenied), db.transaction() as session:
            datasets.register_dataset(
                session,
                people.actors[who],
                name="other",
                path=dataset_file,
                schema=schema,
                budget_epsilon=1.0,
            )
    for who in ("alice", "pat"):
        with pytest.raises(PermissionDenied), db.transaction() as session:
            datasets.set_budget(session, people.actors[who], gp, epsilon=10.0)
    with db.transaction() as session:
        assert datasets.set_budget(session, people.sam, gp, epsilon=5.0).budget.budget_epsilon == 5


def test_unknown_datasets_are_named(db: Database, people: People) -> None:
    with pytest.raises(NotFoundError, match="'nope'"), db.transaction() as session:
        datasets.set_budget(session, people.sam, "nope", epsilon=1.0)


def test_everyone_with_a_role_lists_datasets(db: Database, people: People, gp: str) -> None:
    for actor in people.actors.values():
        with db.transaction() as session:
            assert [view.name for view in datasets.list_datasets(session, actor)] == [gp]
