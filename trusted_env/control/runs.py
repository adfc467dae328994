"""Run requests and their state machine.

    submitted -> approved | rejected | cancelled
    approved  -> running | cancelled
    running   -> released | failed

Every change goes through `transition`, which refuses anything not in `TRANSITIONS` with a
ConflictError naming the states. A run's author may see and cancel it; stewards and admins see
every run; anyone else is told it does not exist (not that it is hidden).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict
from sqlalchemy import select
from sqlalchemy.orm import Session

from trusted_env.control import audit, datasets, ledger
from trusted_env.control.choices import RunState as RunState  # defined apart for the CLI
from trusted_env.control.roles import Actor, Permission
from trusted_env.control.tables import Dataset, Decision, ReleaseRecord, Run, User, utcnow
from trusted_env.errors import ConflictError, NotFoundError, PermissionDenied
from trusted_env.spec.plan import Plan
from trusted_env.validation.messages import parse_model
from trusted_env.validation.plan_checks import check_plan

TRANSITIONS: Mapping[RunState, frozenset[RunState]] = {
    RunState.SUBMITTED: frozenset({RunState.APPROVED, RunState.REJECTED, RunState.CANCELLED}),
    RunState.APPROVED: frozenset({RunState.RUNNING, RunState.CANCELLED}),
    RunState.RUNNING: frozenset({RunState.RELEASED, RunState.FAILED}),
    RunState.REJECTED: frozenset(),
    RunState.CANCELLED: frozenset(),
    RunState.RELEASED: frozenset(),
    RunState.FAILED: frozenset(),
}


class FailureCategory(StrEnum):
    """What a researcher may learn about a failed run: never anything from the data."""

    INVALID_PLAN = "invalid_plan"
    TIMEOUT = "timeout"
    CONTRIBUTION_BOUND_VIOLATED = "contribution_bound_violated"
    BUDGET_EXHAUSTED = "budget_exhausted"
    INTERNAL_ERROR = "internal_error"


def check_transition(run: Run, target: RunState) -> None:
    """Refuse a change of state that the state machine does not allow."""
    current = RunState(run.state)
    if target not in TRANSITIONS[current]:
        allowed_from = sorted(
            state.value for state, nexts in TRANSITIONS.items() if target in nexts
        )
        raise ConflictError(
            f"Run {run.id} is {current.value}; it cannot become {target.value} "
            f"(only a run that is {' or '.join(allowed_from)} can).",
        )


def transition(run: Run, target: RunState) -> None:
    check_transition(run, target)
    run.state = target.value
    run.updated_at = utcnow()


class DecisionView(BaseModel):
    model_config = ConfigDict(frozen=True)

    verdict: str
    steward: str
    reason: str
    decided_at: datetime


class FailureView(BaseModel):
    model_config = ConfigDict(frozen=True)

    category: FailureCategory
    message: str
    details: str | None = None


class RunView(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: int
    dataset: str
    job_name: str
    plan_hash: str
    state: RunState
    submitted_by: str
    submitted_at: datetime
    updated_at: datetime
    epsilon: float
    delta: float
    decision: DecisionView | None
    charged: bool
    attempts: int
    failure: FailureView | None
    release_id: int | None


def load_run(session: Session, run_id: int, *, lock: bool = False) -> Run:
    query = select(Run).where(Run.id == run_id)
    if lock:
        # populate_existing: re-read the locked row even if this session loaded it before.
        query = query.with_for_update(key_share=True).execution_options(populate_existing=True)
    run = session.execute(query).scalar_one_or_none()
    if run is None:
        raise NotFoundError(f"Run {run_id} does not exist.")
    return run


def visible_run(session: Session, actor: Actor, run_id: int, *, lock: bool = False) -> Run:
    """The run if `actor` may see it; otherwise the same NotFoundError as a missing run."""
    run = load_run(session, run_id, lock=lock)
    if run.submitted_by_id != actor.user_id and not actor.can(Permission.VIEW_ALL_RUNS):
        raise NotFoundError(f"Run {run_id} does not exist.")
    return run


def decision_view(session: Session, run_id: int) -> DecisionView | None:
    row = session.execute(
        select(Decision, User.name)
        .join(User, User.id == Decision.steward_id)
        .where(Decision.run_id == run_id)
    ).first()
    if row is None:
        return None
    decision, steward = row
    return DecisionView(
        verdict=decision.verdict,
        steward=steward,
        reason=decision.reason,
        decided_at=decision.decided_at,
    )


def _failure(run: Run, actor: Actor) -> FailureView | None:
    if run.failure_category is None:
        return None
    details = run.failure_details if actor.can(Permission.VIEW_FAILURE_DETAILS) else None
    return FailureView(
        category=FailureCategory(run.failure_category),
        message=run.failure_message or "",
        details=details,
    )


def run_view(session: Session, actor: Actor, run: Run) -> RunView:
    dataset = session.get_one(Dataset, run.dataset_id)
    author = session.get_one(User, run.submitted_by_id)
    release_id = session.execute(
        select(ReleaseRecord.id).where(ReleaseRecord.run_id == run.id)
    ).scalar_one_or_none()
    return RunView(
        id=run.id,
        dataset=dataset.name,
        job_name=run.job_name,
        plan_hash=run.plan_hash,
        state=RunState(run.state),
        submitted_by=author.name,
        submitted_at=run.submitted_at,
        updated_at=run.updated_at,
        epsilon=run.epsilon,
        delta=run.delta,
        decision=decision_view(session, run.id),
        charged=ledger.charge_for(session, run.id) is not None,
        attempts=run.attempts,
        failure=_failure(run, actor),
        release_id=release_id,
    )


def parse_plan(text: str) -> Plan:
    """A canonical plan from its JSON text, with a readable error naming bad fields."""
    return parse_model(Plan, text, "The plan",
                       "Submit the plan that `tre check` compiles from the job folder.")


def submit_run(session: Session, actor: Actor, dataset_name: str, plan: Plan) -> RunView:
    """Queue a plan for a steward's decision, after validating it against the dataset."""
    actor.require(Permission.SUBMIT_RUN)
    author_id = actor.require_user("submit runs")
    dataset = datasets.dataset_by_name(session, dataset_name)
    check_plan(plan, datasets.schema_of(dataset))
    now = utcnow()
    run = Run(
        dataset_id=dataset.id,
        submitted_by_id=author_id,
        state=RunState.SUBMITTED.value,
        job_name=plan.job_name,
        plan_hash=plan.hash,
        plan_json=plan.to_json(),
        epsilon=plan.budget.epsilon,
        delta=plan.budget.delta,
        submitted_at=now,
        updated_at=now,
        attempts=0,
    )
    session.add(run)
    session.flush()
    audit.record(
        session,
        actor.name,
        "run.submitted",
        run_id=run.id,
        dataset=dataset.name,
        details={
            "job": plan.job_name,
            "plan_hash": run.plan_hash,
            "epsilon": run.epsilon,
            "delta": run.delta,
        },
    )
    return run_view(session, actor, run)


def cancel_run(session: Session, actor: Actor, run_id: int) -> RunView:
    """The author withdraws a run that has not started."""
    run = visible_run(session, actor, run_id, lock=True)
    if run.submitted_by_id != actor.user_id:
        raise PermissionDenied(
            f"Only the author of run {run_id} can cancel it.",
            hint="A steward who does not want it to run rejects it instead.",
        )
    transition(run, RunState.CANCELLED)
    session.flush()
    audit.record(session, actor.name, "run.cancelled", run_id=run.id)
    return run_view(session, actor, run)


def get_run(session: Session, actor: Actor, run_id: int) -> RunView:
    return run_view(session, actor, visible_run(session, actor, run_id))


def get_plan(session: Session, actor: Actor, run_id: int) -> Plan:
    return Plan.model_validate_json(visible_run(session, actor, run_id).plan_json)


def list_runs(
    session: Session,
    actor: Actor,
    *,
    state: RunState | None = None,
    dataset: str | None = None,
    mine: bool = False,
    limit: int | None = None,
    offset: int = 0,
) -> list[RunView]:
    """Runs the actor may see (their own, or all for stewards and admins), newest first."""
    query = select(Run).order_by(Run.id.desc()).offset(max(0, offset)).limit(limit)
    if mine or not actor.can(Permission.VIEW_ALL_RUNS):
        query = query.where(Run.submitted_by_id == actor.user_id)
    if state is not None:
        query = query.where(Run.state == state.value)
    if dataset is not None:
        query = query.where(Run.dataset_id == datasets.dataset_by_name(session, dataset).id)
    return [run_view(session, actor, run) for run in session.execute(query).scalars()]
