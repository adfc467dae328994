"""The runner: leases, the one charge per run, releases, and what a failed run reveals."""

from __future__ import annotations

from pathlib import Path

import pytest
from control_fixtures import OPERATOR, People, register, snapshot, write_dataset, write_job
from sqlalchemy import func, select

from trusted_env.control import Database, audit, datasets, decisions, leases, runs
from trusted_env.control.leases import Claim
from trusted_env.control.runs import FailureCategory, RunState
from trusted_env.control.tables import Charge, ReleaseRecord
from trusted_env.control.worker import Worker
from trusted_env.errors import (
    CohortQueryFailed,
    ContributionBoundViolated,
    QueryTimeout,
    RunFailure,
    SchemaDriftError,
)
from trusted_env.settings import Settings
from trusted_env.spec.job_folder import compile_job
from trusted_env.spec.plan import Plan

EXPIRED = -1.0  # a lease that is over as soon as it is taken: no waiting in tests


def queue(db: Database, people: People, plan: Plan, dataset: str = "gp") -> int:
    with db.transaction() as session:
        run_id = runs.submit_run(session, people.alice, dataset, plan).id
        decisions.approve_run(session, people.sam, run_id, "fine")
    return run_id


def worker(db: Database, tmp_path: Path, **settings: float) -> Worker:
    return Worker(db, Settings(data_dir=tmp_path, **settings))  # type: ignore[arg-type]


def claim(
    db: Database, name: str, lease_seconds: float = 60.0, max_attempts: int = 3
) -> Claim | None:
    with db.transaction() as session:
        return leases.claim_next_run(
            session, name, lease_seconds=lease_seconds, max_attempts=max_attempts
        )


def counts(db: Database, run_id: int) -> tuple[int, int]:
    with db.transaction() as session:
        charges = session.execute(
            select(func.count()).select_from(Charge).where(Charge.run_id == run_id)
        ).scalar_one()
        released = session.execute(
            select(func.count()).select_from(ReleaseRecord).where(ReleaseRecord.run_id == run_id)
        ).scalar_one()
    return charges, released


def view(db: Database, people: People, run_id: int, who: str = "alice") -> runs.RunView:
    with db.transaction() as session:
        return runs.get_run(session, people.actors[who], run_id)


def test_an_approved_run_is_charged_once_and_released(
    db: Database, people: People, gp: str, plan: Plan, tmp_path: Path
) -> None:
    run_id = queue(db, people, plan)
    assert worker(db, tmp_path).run_once() == run_id
    released = view(db, people, run_id)
    assert released.state is RunState.RELEASED and released.charged
    assert counts(db, run_id) == (1, 1)
    with db.transaction() as session:
        budget = datasets.get_dataset(session, OPERATOR, gp).budget
        actions = [e.action for e in reversed(audit.list_events(session, OPERATOR, run_id=run_id))]
    assert (budget.spent_epsilon, budget.reserved_epsilon, budget.remaining_epsilon) == (1, 0, 2)
    assert actions == [
        "run.submitted",
        "run.approved",
        "run.started",
        "budget.charged",
        "run.released",
    ]
    assert worker(db, tmp_path).run_once() is None


def test_a_run_validates_its_sql_once(
    db: Database, people: People, gp: str, plan: Plan, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The worker checks the plan before charging and hands the engine that verdict."""
    from trusted_env.validation import plan_checks

    analysed: list[str] = []
    real = plan_checks.analyse_cohort_sql

    def counting(sql: str, *args: object) -> object:
        analysed.append(sql)
        return real(sql, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(plan_checks, "analyse_cohort_sql", counting)
    run_id = queue(db, people, plan)
    analysed.clear()  # submission and approval validate too
    assert worker(db, tmp_path).run_once() == run_id
    assert view(db, people, run_id).state is RunState.RELEASED
    assert analysed == [plan.sql]


def _failed_run(db: Database, people: People, tmp_path: Path, sql: str) -> int:
    plan = compile_job(write_job(tmp_path / "job", sql=sql))
    run_id = queue(db, people, plan)
    worker(db, tmp_path).run_once()
    return run_id


def test_a_failed_run_tells_the_researcher_its_category_only(
    db: Database, people: People, gp: str, tmp_path: Path
) -> None:
    # The cast fails on the data, and DuckDB's message quotes the offending value.
    sql = "SELECT patient_id, sex FROM patients WHERE CAST(sex AS INTEGER) > 0"
    run_id = _failed_run(db, people, tmp_path, sql)
    researcher, steward = view(db, people, run_id), view(db, people, run_id, "sam")
    assert researcher.state is RunState.FAILED
    assert researcher.failure is not None and steward.failure is not None
    assert researcher.failure.category is FailureCategory.INVALID_PLAN
    assert researcher.failure.details is None
    assert "convert string" not in researcher.model_dump_json()
    assert "male'" not in researcher.model_dump_json()
    assert steward.failure.details is not None
    assert "Could not convert string 'male'" in steward.failure.details
    with db.transaction() as session:
        events = audit.list_events(session, OPERATOR, run_id=run_id)
    assert "male'" not in repr([e.details for e in events])
    assert counts(db, run_id) == (1, 0)  # the data was read: the charge stays


def test_several_rows_per_patient_violate_the_contribution_bound(
    db: Database, people: People, gp: str, tmp_path: Path
) -> None:
    sql = (
        "SELECT p.patient_id, p.sex FROM patients AS p "
        "JOIN clinical_events AS c ON c.patient_id = p.patient_id"
    )
    run_id = _failed_run(db, people, tmp_path, sql)
    failure = view(db, people, run_id).failure
    assert failure is not None
    assert failure.category is FailureCategory.CONTRIBUTION_BOUND_VIOLATED
    assert failure.details is None


def test_a_vanished_dataset_file_is_an_internal_error_with_details_for_stewards(
    db: Database, people: People, plan: Plan, tmp_path: Path
) -> None:
    path = write_dataset(tmp_path / "temporary.duckdb", patients=5)
    register(db, path, name="gone")
    run_id = queue(db, people, plan, dataset="gone")
    path.unlink()
    worker(db, tmp_path).run_once()
    researcher, steward = view(db, people, run_id), view(db, people, run_id, "sam")
    assert researcher.failure is not None and steward.failure is not None
    assert researcher.failure.category is FailureCategory.INTERNAL_ERROR
    assert str(path) not in researcher.model_dump_json()
    assert steward.failure.details is not None and str(path) in steward.failure.details


def test_a_run_the_budget_can_no_longer_pay_for_fails_uncharged(
    db: Database, people: People, gp: str, plan: Plan, tmp_path: Path
) -> None:
    first, second = queue(db, people, plan), queue(db, people, plan)
    with db.transaction() as session:
        datasets.set_budget(session, people.sam, gp, epsilon=1.5)
    runner = worker(db, tmp_path)
    assert runner.run_once() == first and runner.run_once() == second
    failure = view(db, people, second).failure
    assert failure is not None and failure.category is FailureCategory.BUDGET_EXHAUSTED
    assert counts(db, first) == (1, 1) and counts(db, second) == (0, 0)


def test_a_worker_that_lost_its_lease_writes_nothing(
    db: Database, people: People, gp: str, plan: Plan, tmp_path: Path
) -> None:
    run_id = queue(db, people, plan)
    stale = claim(db, "stale", lease_seconds=EXPIRED)
    assert stale is not None and stale.run_id == run_id
    with db.transaction() as session:
        assert leases.charge_claimed_run(session, stale)
    fresh = claim(db, "fresh")
    assert fresh is not None and fresh.run_id == run_id and fresh.attempt == 2
    before = snapshot(db)
    with db.transaction() as session:
        assert not leases.renew_lease(session, stale, 60)
        assert not leases.charge_claimed_run(session, stale)
        assert not leases.fail_run(session, stale, leases.Failure(FailureCategory.TIMEOUT, "x"))
    assert snapshot(db) == before
    with db.transaction() as session:
        assert leases.charge_claimed_run(session, fresh)  # idempotent: no second charge
    assert counts(db, run_id) == (1, 0)
    with db.transaction() as session:
        actions = [e.action for e in audit.list_events(session, OPERATOR, run_id=run_id)]
    assert actions[:2] == ["run.reclaimed", "budget.charged"]


def test_a_release_is_never_stored_without_a_charge(
    db: Database, people: People, gp: str, plan: Plan, tmp_path: Path
) -> None:
    from trusted_env.engine import run_plan

    run_id = queue(db, people, plan)
    taken = claim(db, "w")
    assert taken is not None
    with db.transaction() as session:
        dataset = datasets.dataset_by_name(session, gp)
        release = run_plan(plan, Path(dataset.path), datasets.schema_of(dataset))
    with pytest.raises(RuntimeError, match="no budget charge"), db.transaction() as session:
        leases.complete_run(session, taken, release)
    assert counts(db, run_id) == (0, 0)


def test_a_run_interrupted_too_often_is_failed(
    db: Database, people: People, gp: str, plan: Plan
) -> None:
    run_id = queue(db, people, plan)
    for _ in range(2):
        assert claim(db, "dies", lease_seconds=EXPIRED, max_attempts=2) is not None
    assert claim(db, "next", max_attempts=2) is None
    failure = view(db, people, run_id).failure
    assert failure is not None and failure.category is FailureCategory.INTERNAL_ERROR
    assert "interrupted 2 times" in failure.message


def test_a_released_lease_can_be_taken_at_once(
    db: Database, people: People, gp: str, plan: Plan
) -> None:
    queue(db, people, plan)
    first = claim(db, "stopping")
    assert first is not None and claim(db, "other") is None
    with db.transaction() as session:
        leases.release_lease(session, first)
    second = claim(db, "other")
    assert second is not None and second.run_id == first.run_id


@pytest.mark.parametrize(
    ("error", "category"),
    [
        (CohortQueryFailed("m", details="value 'x'"), FailureCategory.INVALID_PLAN),
        (QueryTimeout("m", details="value 'x'"), FailureCategory.TIMEOUT),
        (
            ContributionBoundViolated("m", details="value 'x'"),
            FailureCategory.CONTRIBUTION_BOUND_VIOLATED,
        ),
        (RunFailure("m", details="value 'x'"), FailureCategory.INTERNAL_ERROR),
        (SchemaDriftError("value 'x' outside the domain"), FailureCategory.INTERNAL_ERROR),
        (ValueError("value 'x'"), FailureCategory.INTERNAL_ERROR),
    ],
)
def test_only_the_details_of_a_failure_may_quote_the_data(
    error: Exception, category: FailureCategory
) -> None:
    failure = leases.failure_from(error)
    assert failure.category is category
    assert "value 'x'" not in failure.message
    assert failure.details is not None and "value 'x'" in failure.details
