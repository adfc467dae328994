"""The ledger is never overspent, whatever races: threads and processes approving and starting
runs on one dataset at once, on SQLite and on PostgreSQL."""

from __future__ import annotations

import math
import multiprocessing
import threading
from typing import Any

import pytest
from control_fixtures import OPERATOR, People
from control_race import in_process, in_threads
from sqlalchemy import select

from trusted_env.control import Database, datasets, decisions, runs
from trusted_env.control.tables import Charge
from trusted_env.spec.plan import Plan

RUNS = 12
CONTENDERS = 4
PROCESSES = 3
BUDGET = 3.0  # each run costs epsilon 1: exactly three can be paid for


def _submit_many(db: Database, people: People, plan: Plan) -> list[int]:
    with db.transaction() as session:
        return [runs.submit_run(session, people.alice, "gp", plan).id for _ in range(RUNS)]


def _in_threads(target: str, argument_sets: list[tuple[Any, ...]]) -> list[Any]:
    barrier = threading.Barrier(len(argument_sets))
    return in_threads(target, [(*args, barrier) for args in argument_sets])


def _in_processes(target: str, argument_sets: list[tuple[Any, ...]]) -> list[Any]:
    context = multiprocessing.get_context("spawn")
    process_barrier = context.Barrier(len(argument_sets))
    results = context.Queue()
    processes = [
        context.Process(target=in_process, args=(target, (*args, process_barrier), results))
        for args in argument_sets
    ]
    for process in processes:
        process.start()
    outcomes = [results.get(timeout=120) for _ in processes]
    for process in processes:
        process.join(timeout=60)
        assert process.exitcode == 0
    return outcomes


def _charged(db: Database) -> list[float]:
    with db.transaction() as session:
        return list(session.execute(select(Charge.epsilon)).scalars())


@pytest.mark.slow
def test_concurrent_approvals_in_threads_never_reserve_more_than_the_budget(
    db: Database, db_url: str, people: People, gp: str, plan: Plan
) -> None:
    run_ids = _submit_many(db, people, plan)
    stewards = ["sam", "sue"] * (CONTENDERS // 2)
    # Every contender tries every run, each in its own order, so they collide on the same rows.
    argument_sets = [
        (db_url, steward, run_ids[i:] + run_ids[:i]) for i, steward in enumerate(stewards)
    ]
    outcomes = _in_threads("approve_all", argument_sets)
    with db.transaction() as session:
        approved = runs.list_runs(session, OPERATOR, state=runs.RunState.APPROVED)
        budget = datasets.get_dataset(session, OPERATOR, gp).budget
    assert len(approved) == 3
    assert sum(a for a, _ in outcomes) == 3
    assert budget.reserved_epsilon == 3.0 and budget.remaining_epsilon == 0.0


@pytest.mark.slow
def test_concurrent_starts_in_threads_never_charge_more_than_the_budget(
    db: Database, db_url: str, people: People, gp: str, plan: Plan
) -> None:
    run_ids = _submit_many(db, people, plan)
    with db.transaction() as session:
        datasets.set_budget(session, OPERATOR, gp, epsilon=float(RUNS))
    for run_id in run_ids:
        with db.transaction() as session:
            decisions.approve_run(session, people.sam, run_id, "all of them")
    with db.transaction() as session:
        # Below what the approved runs reserve: now only the ledger's own check stands.
        datasets.set_budget(session, OPERATOR, gp, epsilon=BUDGET)
    argument_sets = [(db_url, f"worker-{i}") for i in range(CONTENDERS)]
    outcomes = _in_threads("start_all", argument_sets)
    charged = _charged(db)
    assert len(charged) == 3 and math.fsum(charged) <= BUDGET
    assert sum(c for c, _ in outcomes) == 3
    assert sum(r for _, r in outcomes) == RUNS - 3
    with db.transaction() as session:
        failed = runs.list_runs(session, OPERATOR, state=runs.RunState.FAILED)
    assert len(failed) == RUNS - 3
    assert all(not view.charged for view in failed)


@pytest.mark.slow
def test_processes_approving_and_starting_at_once_never_overspend(
    db: Database, db_url: str, people: People, gp: str, plan: Plan
) -> None:
    run_ids = _submit_many(db, people, plan)
    lowered = BUDGET - 1  # after the approvals: one approved run can no longer be paid for
    argument_sets = [
        (
            db_url,
            ["sam", "sue"][i % 2],
            f"worker-{i}",
            run_ids[i:] + run_ids[:i],
            lowered if i == 0 else None,
        )
        for i in range(PROCESSES)
    ]
    outcomes = _in_processes("approve_then_start", argument_sets)
    assert sum(o[0] for o in outcomes) == 3  # approvals: exactly what the budget covered
    assert sum(o[2] for o in outcomes) == 2 and sum(o[3] for o in outcomes) == 1
    charged = _charged(db)
    assert len(charged) == 2 and math.fsum(charged) <= lowered
