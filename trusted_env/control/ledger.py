"""The privacy-budget ledger: what each dataset has spent, reserved and has left.

- A run is charged exactly once (unique charge per run), when it starts reading real data; a
  retried or reclaimed run finds its charge and is not charged again; nothing is refunded.
- Charging locks the dataset row and re-reads the ledger in the same transaction, so that
  concurrent charges (threads, processes, hosts) are serialised and the sum never exceeds the
  budget. SQLite serialises writers with BEGIN IMMEDIATE; PostgreSQL waits on the row lock.
- Approved runs that have not been charged yet *reserve* their cost: approvals are refused when
  spent + reserved + cost would exceed the budget, so an approved run can normally be charged.

Sums use `math.fsum` and comparisons are strict: a float rounding never lets a charge through.
"""

from __future__ import annotations

import math

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from trusted_env.control import audit
from trusted_env.control.tables import Charge, Dataset, Run, utcnow
from trusted_env.errors import BudgetExceeded

RESERVING_STATES = ("approved", "running")


class BudgetStatus(BaseModel):
    model_config = ConfigDict(frozen=True)

    budget_epsilon: float
    budget_delta: float
    spent_epsilon: float
    spent_delta: float
    reserved_epsilon: float
    reserved_delta: float
    remaining_epsilon: float = Field(description="What new approvals may still use.")
    remaining_delta: float

    def fits(self, epsilon: float, delta: float, *, with_reserved: bool) -> bool:
        eps_parts = [self.spent_epsilon, epsilon]
        delta_parts = [self.spent_delta, delta]
        if with_reserved:
            eps_parts.append(self.reserved_epsilon)
            delta_parts.append(self.reserved_delta)
        return (
            math.fsum(eps_parts) <= self.budget_epsilon
            and math.fsum(delta_parts) <= self.budget_delta
        )


def lock_dataset(session: Session, dataset_id: int) -> Dataset:
    """The dataset row, locked until the end of the transaction (PostgreSQL)."""
    return session.execute(
        select(Dataset).where(Dataset.id == dataset_id).with_for_update(key_share=True)
    ).scalar_one()


def budget_status(session: Session, dataset: Dataset) -> BudgetStatus:
    charges = session.execute(
        select(Charge.epsilon, Charge.delta).where(Charge.dataset_id == dataset.id)
    ).all()
    uncharged = ~exists().where(Charge.run_id == Run.id)
    reserved = session.execute(
        select(Run.epsilon, Run.delta).where(
            Run.dataset_id == dataset.id, Run.state.in_(RESERVING_STATES), uncharged
        )
    ).all()
    spent = (math.fsum(row.epsilon for row in charges), math.fsum(row.delta for row in charges))
    held = (math.fsum(row.epsilon for row in reserved), math.fsum(row.delta for row in reserved))
    return BudgetStatus(
        budget_epsilon=dataset.budget_epsilon,
        budget_delta=dataset.budget_delta,
        spent_epsilon=spent[0],
        spent_delta=spent[1],
        reserved_epsilon=held[0],
        reserved_delta=held[1],
        remaining_epsilon=max(0.0, dataset.budget_epsilon - spent[0] - held[0]),
        remaining_delta=max(0.0, dataset.budget_delta - spent[1] - held[1]),
    )


def charge_for(session: Session, run_id: int) -> Charge | None:
    return session.execute(select(Charge).where(Charge.run_id == run_id)).scalar_one_or_none()


def _cannot_pay(dataset: Dataset, run: Run, status: BudgetStatus) -> BudgetExceeded:
    return BudgetExceeded(
        f"Dataset '{dataset.name}' cannot pay for run {run.id}: it costs epsilon "
        f"{run.epsilon:g} (delta {run.delta:g}) and epsilon "
        f"{dataset.budget_epsilon - status.spent_epsilon:g} (delta "
        f"{dataset.budget_delta - status.spent_delta:g}) is left unspent.",
        hint="A steward can raise the budget (`tre dataset set-budget`).",
    )


def charge_run(session: Session, run: Run, worker: str) -> bool:
    """Charge `run`'s cost to its dataset once; True if charged now, False if already charged.

    Raises BudgetExceeded (and charges nothing) if the remaining budget cannot cover it.
    """
    dataset = lock_dataset(session, run.dataset_id)
    if charge_for(session, run.id) is not None:
        return False
    status = budget_status(session, dataset)
    if not status.fits(run.epsilon, run.delta, with_reserved=False):
        raise _cannot_pay(dataset, run, status)
    session.add(
        Charge(
            run_id=run.id,
            dataset_id=dataset.id,
            epsilon=run.epsilon,
            delta=run.delta,
            charged_at=utcnow(),
            worker=worker,
        )
    )
    session.flush()
    audit.record(
        session,
        worker,
        "budget.charged",
        run_id=run.id,
        dataset=dataset.name,
        details={
            "epsilon": run.epsilon,
            "delta": run.delta,
            "spent_epsilon_after": math.fsum([status.spent_epsilon, run.epsilon]),
            "budget_epsilon": dataset.budget_epsilon,
        },
    )
    return True
