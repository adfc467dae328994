"""Stewards' decisions: approve or reject a submitted run, with a reason.

Four eyes: a steward never decides on a run they submitted. An approval is refused when the
dataset cannot cover the run's cost on top of what is spent and what approved runs reserve.
Locks are taken dataset first, then run (the order every service uses), so that two stewards
approving runs on one dataset at once are serialised and cannot both spend the last budget.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from trusted_env.control import audit, ledger
from trusted_env.control.roles import Actor, Permission
from trusted_env.control.runs import (
    RunState,
    RunView,
    check_transition,
    load_run,
    run_view,
    transition,
)
from trusted_env.control.tables import Decision, Run
from trusted_env.errors import BudgetExceeded, PermissionDenied, UserError

MAX_REASON = 4000


def _clean_reason(reason: str) -> str:
    cleaned = reason.strip()
    if not cleaned:
        raise UserError("A decision needs a reason.", hint="Say why, e.g. --reason '...'.")
    if len(cleaned) > MAX_REASON:
        raise UserError(f"The reason is longer than {MAX_REASON} characters.")
    return cleaned


def _lock_for_decision(session: Session, actor: Actor, run_id: int) -> tuple[Run, int]:
    actor.require(Permission.DECIDE_RUN)
    steward_id = actor.require_user("decide on runs")
    dataset_id = load_run(session, run_id).dataset_id
    ledger.lock_dataset(session, dataset_id)
    run = load_run(session, run_id, lock=True)
    if run.submitted_by_id == steward_id:
        raise PermissionDenied(
            f"You submitted run {run_id}, so you cannot decide on it.",
            hint="Another steward must review it (four-eyes rule).",
        )
    return run, steward_id


def _decide(
    session: Session, actor: Actor, run: Run, steward_id: int, verdict: RunState, reason: str
) -> RunView:
    transition(run, verdict)
    session.add(
        Decision(
            run_id=run.id,
            steward_id=steward_id,
            verdict=verdict.value,
            reason=reason,
            decided_at=run.updated_at,
        )
    )
    session.flush()
    audit.record(
        session, actor.name, f"run.{verdict.value}", run_id=run.id, details={"reason": reason}
    )
    return run_view(session, actor, run)


def approve_run(session: Session, actor: Actor, run_id: int, reason: str) -> RunView:
    reason = _clean_reason(reason)
    run, steward_id = _lock_for_decision(session, actor, run_id)
    check_transition(run, RunState.APPROVED)
    dataset = ledger.lock_dataset(session, run.dataset_id)
    status = ledger.budget_status(session, dataset)
    if not status.fits(run.epsilon, run.delta, with_reserved=True):
        raise BudgetExceeded(
            f"Run {run_id} costs epsilon {run.epsilon:g} (delta {run.delta:g}) but dataset "
            f"'{dataset.name}' has epsilon {status.remaining_epsilon:g} (delta "
            f"{status.remaining_delta:g}) remaining (budget {status.budget_epsilon:g}, spent "
            f"{status.spent_epsilon:g}, reserved by approved runs {status.reserved_epsilon:g}).",
            hint="Reject the run, or raise the budget (`tre dataset set-budget`).",
        )
    return _decide(session, actor, run, steward_id, RunState.APPROVED, reason)


def reject_run(session: Session, actor: Actor, run_id: int, reason: str) -> RunView:
    reason = _clean_reason(reason)
    run, steward_id = _lock_for_decision(session, actor, run_id)
    return _decide(session, actor, run, steward_id, RunState.REJECTED, reason)
