"""Registered datasets: a DuckDB file, the schema it follows, and its total privacy budget.

A dataset is registered only after it was checked against its schema, and the schema is stored
with it, so that later edits to a bundled YAML file cannot change what a registered dataset's
runs are validated against.
"""

from __future__ import annotations

import math
import re
from datetime import datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict
from sqlalchemy import select
from sqlalchemy.orm import Session

from trusted_env.control import audit, ledger
from trusted_env.control.roles import Actor, Permission
from trusted_env.control.tables import Dataset, utcnow
from trusted_env.errors import ConflictError, NotFoundError, UserError
from trusted_env.schema import DatasetSchema

DATASET_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")


class DatasetView(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    schema_name: str
    schema_hash: str
    created_at: datetime
    budget: ledger.BudgetStatus


def dataset_by_name(session: Session, name: str, *, lock: bool = False) -> Dataset:
    query = select(Dataset).where(Dataset.name == name)
    if lock:
        query = query.with_for_update(key_share=True)
    dataset = session.execute(query).scalar_one_or_none()
    if dataset is None:
        raise NotFoundError(
            f"There is no dataset '{name}'.", hint="See `tre dataset list` for registered ones."
        )
    return dataset


def schema_of(dataset: Dataset) -> DatasetSchema:
    return DatasetSchema.model_validate_json(dataset.schema_json)


def view(session: Session, dataset: Dataset) -> DatasetView:
    return DatasetView(
        name=dataset.name,
        schema_name=dataset.schema_name,
        schema_hash=dataset.schema_hash,
        created_at=dataset.created_at,
        budget=ledger.budget_status(session, dataset),
    )


def _check_name(name: str) -> None:
    if not DATASET_NAME.match(name):
        raise UserError(
            f"'{name}' is not a valid dataset name.",
            hint="Use lowercase letters, digits, '_' or '-', starting with a letter.",
        )


def _check_budget(epsilon: float, delta: float) -> None:
    if not (math.isfinite(epsilon) and epsilon > 0):
        raise UserError(f"The epsilon budget must be a positive number, not {epsilon}.")
    if not (math.isfinite(delta) and 0 <= delta < 1):
        raise UserError(f"The delta budget must be in [0, 1), not {delta}.")


def check_dataset_file(path: Path, schema: DatasetSchema) -> None:
    """Open the file read-only in the sandbox and refuse any mismatch with its schema."""
    # Imported here: the engine pulls in OpenDP, which CLI commands like `dataset list` avoid.
    from trusted_env.engine.connection import SandboxLimits, open_dataset
    from trusted_env.engine.drift import check_dataset_matches_schema

    if not path.is_file():
        raise UserError(f"There is no dataset file at {path}.")
    connection = open_dataset(path, SandboxLimits())
    try:
        check_dataset_matches_schema(connection, schema)
    finally:
        connection.close()


def register_dataset(
    session: Session,
    actor: Actor,
    *,
    name: str,
    path: Path,
    schema: DatasetSchema,
    budget_epsilon: float,
    budget_delta: float = 0.0,
) -> DatasetView:
    """Register a DuckDB file as a dataset after checking it against `schema`."""
    actor.require(Permission.MANAGE_DATASETS)
    _check_name(name)
    _check_budget(budget_epsilon, budget_delta)
    path = path.resolve()
    # Before the first query, so that no database lock is held while a large file is checked.
    check_dataset_file(path, schema)
    if session.execute(select(Dataset.id).where(Dataset.name == name)).first() is not None:
        raise ConflictError(f"A dataset named '{name}' is already registered.")
    dataset = Dataset(
        name=name,
        path=str(path),
        schema_name=schema.name,
        schema_hash=schema.hash,
        schema_json=schema.model_dump_json(),
        budget_epsilon=budget_epsilon,
        budget_delta=budget_delta,
        created_at=utcnow(),
        created_by=actor.name,
    )
    session.add(dataset)
    session.flush()
    details: dict[str, object] = {"schema": schema.name, "schema_hash": schema.hash}
    details |= {"budget_epsilon": budget_epsilon, "budget_delta": budget_delta}
    audit.record(session, actor.name, "dataset.registered", dataset=name, details=details)
    return view(session, dataset)


def set_budget(
    session: Session, actor: Actor, name: str, *, epsilon: float, delta: float | None = None
) -> DatasetView:
    """Change a dataset's total budget; it can never go below what was already spent."""
    actor.require(Permission.SET_BUDGET)
    dataset = dataset_by_name(session, name, lock=True)
    delta = dataset.budget_delta if delta is None else delta
    _check_budget(epsilon, delta)
    status = ledger.budget_status(session, dataset)
    if epsilon < status.spent_epsilon or delta < status.spent_delta:
        raise ConflictError(
            f"Dataset '{name}' has already spent epsilon {status.spent_epsilon:g} and delta "
            f"{status.spent_delta:g}; its budget cannot be set below that.",
            hint="Spent budget is never refunded.",
        )
    before = (dataset.budget_epsilon, dataset.budget_delta)
    dataset.budget_epsilon, dataset.budget_delta = epsilon, delta
    session.flush()
    audit.record(
        session,
        actor.name,
        "dataset.budget_set",
        dataset=name,
        details={
            "epsilon_before": before[0],
            "delta_before": before[1],
            "epsilon": epsilon,
            "delta": delta,
        },
    )
    return view(session, dataset)


def list_datasets(session: Session, actor: Actor) -> list[DatasetView]:
    actor.require(Permission.LIST_DATASETS)
    datasets = session.execute(select(Dataset).order_by(Dataset.name)).scalars()
    return [view(session, dataset) for dataset in datasets]


def get_dataset(session: Session, actor: Actor, name: str) -> DatasetView:
    actor.require(Permission.LIST_DATASETS)
    return view(session, dataset_by_name(session, name))
