"""Contenders for the budget races: run in threads or in separate processes (spawned, so each
has its own interpreter, engine and connection pool, as separate hosts would)."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any, Protocol

from trusted_env.control import Actor, Database, datasets, decisions, leases, users
from trusted_env.control.leases import Failure
from trusted_env.control.runs import FailureCategory
from trusted_env.errors import BudgetExceeded, ConflictError


class Waiter(Protocol):
    def wait(self, timeout: float | None = None) -> Any: ...


def approve_all(url: str, steward: str, run_ids: Sequence[int], start: Waiter) -> tuple[int, int]:
    """Try to approve each run; (approved, refused for budget). Runs another contender decided
    first are refused as conflicts and not counted."""
    db = Database(url, migrate=False)
    try:
        with db.transaction() as session:
            actor = users.actor_for(session, steward)
        approved = refused = 0
        start.wait(120)
        for run_id in run_ids:
            try:
                with db.transaction() as session:
                    decisions.approve_run(session, actor, run_id, "race")
                approved += 1
            except BudgetExceeded:
                refused += 1
            except ConflictError:
                continue
        return approved, refused
    finally:
        db.dispose()


def start_all(url: str, name: str, start: Waiter) -> tuple[int, int]:
    """Claim and charge runs until none is left; (charged, refused for budget)."""
    db = Database(url, migrate=False)
    try:
        charged = refused = 0
        start.wait(120)
        while True:
            with db.transaction() as session:
                claim = leases.claim_next_run(session, name, lease_seconds=600, max_attempts=3)
            if claim is None:
                return charged, refused
            try:
                with db.transaction() as session:
                    if leases.charge_claimed_run(session, claim):
                        charged += 1
            except BudgetExceeded as exc:
                refused += 1
                with db.transaction() as session:
                    leases.fail_run(
                        session, claim, Failure(FailureCategory.BUDGET_EXHAUSTED, str(exc))
                    )
    finally:
        db.dispose()


def approve_then_start(
    url: str,
    steward: str,
    name: str,
    run_ids: Sequence[int],
    lowered_budget: float | None,
    start: Waiter,
) -> tuple[int, int, int, int]:
    """Race to approve, then (after one contender lowered the budget) race to start runs."""
    approved, refused_approvals = approve_all(url, steward, run_ids, start)
    start.wait(120)
    if lowered_budget is not None:
        db = Database(url, migrate=False)
        try:
            with db.transaction() as session:
                datasets.set_budget(session, Actor.operator(), "gp", epsilon=lowered_budget)
        finally:
            db.dispose()
    charged, refused_charges = start_all(url, name, start)
    return approved, refused_approvals, charged, refused_charges


def in_process(target: str, args: tuple[Any, ...], results: Any) -> None:
    results.put(globals()[target](*args))


def in_threads(target: str, argument_sets: list[tuple[Any, ...]]) -> list[Any]:
    outcomes: list[Any] = []
    errors: list[BaseException] = []

    def call(args: tuple[Any, ...]) -> None:
        try:
            outcomes.append(globals()[target](*args))
        except BaseException as exc:  # surfaced in the test below
            errors.append(exc)

    threads = [threading.Thread(target=call, args=(args,)) for args in argument_sets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return outcomes
