"""Runs: researchers submit, follow and cancel theirs; stewards review and decide.

Visibility follows the control plane: an author sees their own runs, stewards and admins see
all; anyone else gets the same 404 as for a run that does not exist. Failure details are in the
run view for stewards and admins only.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, status
from pydantic import BaseModel, ConfigDict, Field

from trusted_env.api.deps import MAX_ID, Access, SessionDep
from trusted_env.api.errors import COMMON_ERRORS, error_responses
from trusted_env.control import Actor, Permission, decisions, review, runs
from trusted_env.control.review import RunReview
from trusted_env.control.runs import RunState, RunView
from trusted_env.spec.plan import Plan

router = APIRouter(
    prefix="/runs", tags=["runs"], responses=error_responses(401, 403, *COMMON_ERRORS)
)

Submitter = Annotated[Actor, Depends(Access(Permission.SUBMIT_RUN))]
RunReader = Annotated[Actor, Depends(Access(Permission.SUBMIT_RUN, Permission.VIEW_ALL_RUNS))]
Steward = Annotated[Actor, Depends(Access(Permission.DECIDE_RUN))]
RunId = Annotated[int, Path(ge=1, le=MAX_ID, description="The run's number.")]


class RunSubmission(BaseModel):
    """A canonical plan (as `tre check --plan-out` writes it) for a registered dataset."""

    model_config = ConfigDict(extra="forbid")

    dataset: str = Field(min_length=1, max_length=64, description="A registered dataset.")
    plan: Plan


class DecisionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(
        min_length=1,
        max_length=decisions.MAX_REASON,
        description="Why; recorded with the decision and shown to the author.",
    )


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(400, 404),
    summary="Submit a run",
)
def submit_run(submission: RunSubmission, actor: Submitter, session: SessionDep) -> RunView:
    """Queue a plan for a steward's decision; it is validated against the dataset first."""
    return runs.submit_run(session, actor, submission.dataset, submission.plan)


@router.get("", responses=error_responses(404), summary="List runs")
def list_runs(
    actor: RunReader,
    session: SessionDep,
    state: Annotated[RunState | None, Query(description="Only runs in this state.")] = None,
    dataset: Annotated[str | None, Query(max_length=64, description="Only this dataset.")] = None,
    mine: Annotated[bool, Query(description="Only the caller's own runs.")] = False,
) -> list[RunView]:
    """Runs the caller may see, newest first: `?state=submitted` lists those waiting for a
    decision."""
    return runs.list_runs(session, actor, state=state, dataset=dataset, mine=mine)


@router.get("/{run_id}", responses=error_responses(404), summary="View a run")
def get_run(run_id: RunId, actor: RunReader, session: SessionDep) -> RunView:
    """State, decision, and failure (category and message; details for stewards only)."""
    return runs.get_run(session, actor, run_id)


@router.get("/{run_id}/review", responses=error_responses(404), summary="Review a run")
def review_run(run_id: RunId, actor: RunReader, session: SessionDep) -> RunReview:
    """What a steward decides on: SQL, tables and columns read, outputs with bounds, keys,
    epsilon and expected accuracy, and the dataset's budget before and after."""
    return review.review_run(session, actor, run_id)


@router.post("/{run_id}/cancel", responses=error_responses(404, 409), summary="Cancel a run")
def cancel_run(run_id: RunId, actor: Submitter, session: SessionDep) -> RunView:
    """The author withdraws a run that has not started."""
    return runs.cancel_run(session, actor, run_id)


@router.post("/{run_id}/approve", responses=error_responses(400, 404, 409), summary="Approve a run")
def approve_run(
    run_id: RunId, decision: DecisionRequest, actor: Steward, session: SessionDep
) -> RunView:
    """Approve a submitted run (not one you submitted; refused if the budget cannot cover it)."""
    return decisions.approve_run(session, actor, run_id, decision.reason)


@router.post("/{run_id}/reject", responses=error_responses(400, 404, 409), summary="Reject a run")
def reject_run(
    run_id: RunId, decision: DecisionRequest, actor: Steward, session: SessionDep
) -> RunView:
    """Reject a submitted run, saying why."""
    return decisions.reject_run(session, actor, run_id, decision.reason)
