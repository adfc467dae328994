"""Datasets and their privacy budgets: listed for every role, set by stewards and admins."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel, ConfigDict, Field

from trusted_env.api.deps import Access, SessionDep
from trusted_env.api.errors import COMMON_ERRORS, error_responses
from trusted_env.control import Actor, Permission, datasets
from trusted_env.control.datasets import DatasetView

router = APIRouter(
    prefix="/datasets", tags=["datasets"], responses=error_responses(401, 403, *COMMON_ERRORS)
)

Reader = Annotated[Actor, Depends(Access(Permission.LIST_DATASETS))]
BudgetSetter = Annotated[Actor, Depends(Access(Permission.SET_BUDGET))]
DatasetName = Annotated[str, Path(max_length=64, description="The dataset's registered name.")]


class BudgetUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    epsilon: float = Field(gt=0, allow_inf_nan=False, description="New total epsilon budget.")
    delta: float | None = Field(
        default=None,
        ge=0,
        lt=1,
        allow_inf_nan=False,
        description="New total delta budget (unchanged if omitted).",
    )


@router.get("", summary="List datasets")
def list_datasets(actor: Reader, session: SessionDep) -> list[DatasetView]:
    """Every registered dataset with its budget, spent, reserved and remaining epsilon/delta."""
    return datasets.list_datasets(session, actor)


@router.get("/{name}", responses=error_responses(404), summary="View a dataset")
def get_dataset(name: DatasetName, actor: Reader, session: SessionDep) -> DatasetView:
    """One dataset's schema and budget."""
    return datasets.get_dataset(session, actor, name)


@router.put(
    "/{name}/budget", responses=error_responses(400, 404, 409), summary="Set a dataset's budget"
)
def set_budget(
    name: DatasetName, update: BudgetUpdate, actor: BudgetSetter, session: SessionDep
) -> DatasetView:
    """Change the total budget; it can never go below what the dataset has already spent."""
    return datasets.set_budget(session, actor, name, epsilon=update.epsilon, delta=update.delta)
