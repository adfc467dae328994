"""The steward's review of a run: the plan's review view with the dataset's budget around it."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict
from sqlalchemy.orm import Session

from trusted_env.control import datasets, ledger
from trusted_env.control.roles import Actor, Permission
from trusted_env.control.runs import RunState, RunView, run_view, visible_run
from trusted_env.control.tables import Dataset
from trusted_env.spec.plan import Plan
from trusted_env.spec.review import PlanReview, review_plan


class BudgetAfter(BaseModel):
    model_config = ConfigDict(frozen=True)

    remaining_epsilon: float
    remaining_delta: float
    fits: bool


class RunReview(BaseModel):
    model_config = ConfigDict(frozen=True)

    run: RunView
    plan: PlanReview
    budget_before: ledger.BudgetStatus
    budget_after: BudgetAfter
    can_decide: bool
    notes: tuple[str, ...]


def _notes(actor: Actor, run: RunView, fits: bool) -> tuple[str, ...]:
    notes = []
    if run.state is not RunState.SUBMITTED:
        notes.append(f"The run is {run.state.value}: there is nothing to decide.")
    if actor.user_id is not None and run.submitted_by == actor.name:
        notes.append("You submitted this run: another steward must decide on it.")
    if run.state is RunState.SUBMITTED and not fits:
        notes.append("The dataset's remaining budget cannot cover this run: approval is refused.")
    return tuple(notes)


def review_run(session: Session, actor: Actor, run_id: int) -> RunReview:
    """What the steward decides on: SQL, reads, outputs, epsilon, accuracy, budget before/after.

    The author of a run may read its review too; stewards and admins read any.
    """
    run = visible_run(session, actor, run_id)
    dataset = session.get_one(Dataset, run.dataset_id)
    plan = Plan.model_validate_json(run.plan_json)
    before = ledger.budget_status(session, dataset)
    # An approved run's cost is already in `reserved`; only a pending one would add to it.
    pending = run.state == RunState.SUBMITTED.value
    cost_eps, cost_delta = (run.epsilon, run.delta) if pending else (0.0, 0.0)
    fits = before.fits(run.epsilon, run.delta, with_reserved=True) if pending else True
    after = BudgetAfter(
        remaining_epsilon=before.remaining_epsilon - cost_eps,
        remaining_delta=before.remaining_delta - cost_delta,
        fits=fits,
    )
    view = run_view(session, actor, run)
    return RunReview(
        run=view,
        plan=review_plan(plan, datasets.schema_of(dataset)),
        budget_before=before,
        budget_after=after,
        can_decide=actor.can(Permission.DECIDE_RUN) and not _notes(actor, view, fits),
        notes=_notes(actor, view, fits),
    )
