"""Submitting, seeing and cancelling runs; steward decisions with the four-eyes rule."""

from __future__ import annotations

from pathlib import Path

import pytest
from control_fixtures import OPERATOR, People, snapshot, write_job

from trusted_env.control import Database, decisions, runs
from trusted_env.control.runs import RunState
from trusted_env.errors import (
    BudgetExceeded,
    ConflictError,
    NotFoundError,
    PermissionDenied,
    SchemaDriftError,
    SpecError,
    SqlRejected,
    UserError,
)
from trusted_env.spec.job_folder import compile_job
from trusted_env.spec.plan import Plan


def submit(
    db: Database, people: People, plan: Plan, who: str = "alice", dataset: str = "gp"
) -> int:
    with db.transaction() as session:
        return runs.submit_run(session, people.actors[who], dataset, plan).id


def approve(db: Database, people: People, run_id: int, who: str = "sam") -> runs.RunView:
    with db.transaction() as session:
        return decisions.approve_run(session, people.actors[who], run_id, "looks fine")


def test_a_submitted_run_waits_for_a_decision(
    db: Database, people: People, gp: str, plan: Plan
) -> None:
    run_id = submit(db, people, plan)
    with db.transaction() as session:
        view = runs.get_run(session, people.alice, run_id)
    assert view.state is RunState.SUBMITTED
    assert (view.plan_hash, view.epsilon, view.submitted_by) == (plan.hash, 1.0, "alice")
    with db.transaction() as session:
        assert runs.get_plan(session, people.sam, run_id) == plan


def test_plans_for_another_schema_are_refused_at_submission(
    db: Database, people: People, gp: str, plan: Plan
) -> None:
    stale = plan.model_copy(update={"schema_hash": "0" * 64})
    before = snapshot(db)
    with pytest.raises(SchemaDriftError):
        submit(db, people, stale)
    assert snapshot(db) == before


def test_plans_whose_sql_does_not_validate_are_refused_at_submission(
    db: Database, people: People, gp: str, plan: Plan
) -> None:
    bad_sql = plan.model_copy(update={"sql": "SELECT patient_id, sex FROM read_csv('/etc/passwd')"})
    wrong_reads = plan.model_copy(update={"reads": {"patients": ("patient_id",)}})
    before = snapshot(db)
    with pytest.raises(SqlRejected):
        submit(db, people, bad_sql)
    with pytest.raises(SpecError):
        submit(db, people, wrong_reads)
    assert snapshot(db) == before


def test_plan_json_is_parsed_with_readable_errors(plan: Plan) -> None:
    assert runs.parse_plan(plan.to_json()) == plan
    with pytest.raises(SpecError, match="budget"):
        runs.parse_plan(plan.to_json().replace('"epsilon":1.0', '"epsilon":"lots"', 1))


def test_unknown_datasets_and_wrong_roles_are_refused(
    db: Database, people: People, gp: str, plan: Plan
) -> None:
    before = snapshot(db)
    with pytest.raises(NotFoundError, match="'elsewhere'"):
        submit(db, people, plan, dataset="elsewhere")
    for who in ("pat", "ada"):
        with pytest.raises(PermissionDenied):
            submit(db, people, plan, who=who)
    with pytest.raises(PermissionDenied), db.transaction() as session:
        runs.submit_run(session, OPERATOR, gp, plan)
    assert snapshot(db) == before


def test_researchers_see_only_their_own_runs(
    db: Database, people: People, gp: str, plan: Plan
) -> None:
    mine, theirs = submit(db, people, plan, "alice"), submit(db, people, plan, "bob")
    with db.transaction() as session:
        assert [v.id for v in runs.list_runs(session, people.alice)] == [mine]
        assert [v.id for v in runs.list_runs(session, people.sam)] == [theirs, mine]
        assert [v.id for v in runs.list_runs(session, people.sam, limit=1, offset=1)] == [mine]
        with pytest.raises(NotFoundError, match=f"Run {theirs} does not exist"):
            runs.get_run(session, people.alice, theirs)
        with pytest.raises(NotFoundError, match=f"Run {theirs} does not exist"):
            runs.get_plan(session, people.pat, theirs)


def test_only_the_author_cancels_and_only_before_it_runs(
    db: Database, people: People, gp: str, plan: Plan
) -> None:
    first, second = submit(db, people, plan), submit(db, people, plan)
    with pytest.raises(NotFoundError), db.transaction() as session:
        runs.cancel_run(session, people.bob, first)
    with pytest.raises(PermissionDenied), db.transaction() as session:
        runs.cancel_run(session, people.sam, first)
    with db.transaction() as session:
        assert runs.cancel_run(session, people.alice, first).state is RunState.CANCELLED
    approve(db, people, second)
    with db.transaction() as session:
        assert runs.cancel_run(session, people.alice, second).state is RunState.CANCELLED
    with pytest.raises(ConflictError, match="is cancelled"), db.transaction() as session:
        runs.cancel_run(session, people.alice, second)


def test_a_steward_never_decides_on_their_own_run(
    db: Database, people: People, gp: str, plan: Plan
) -> None:
    run_id = submit(db, people, plan, who="sam")
    before = snapshot(db)
    with pytest.raises(PermissionDenied, match="four-eyes"):
        approve(db, people, run_id, who="sam")
    with pytest.raises(PermissionDenied), db.transaction() as session:
        decisions.reject_run(session, people.sam, run_id, "no")
    assert snapshot(db) == before
    view = approve(db, people, run_id, who="sue")
    assert view.state is RunState.APPROVED
    assert view.decision is not None and view.decision.steward == "sue"


@pytest.mark.parametrize("who", ["alice", "bob", "pat", "ada"])
def test_only_stewards_decide(db: Database, people: People, gp: str, plan: Plan, who: str) -> None:
    run_id = submit(db, people, plan)
    with pytest.raises(PermissionDenied):
        approve(db, people, run_id, who=who)
    with pytest.raises(PermissionDenied), db.transaction() as session:
        decisions.approve_run(session, OPERATOR, run_id, "operator")


def test_a_rejection_records_its_reason_and_is_final(
    db: Database, people: People, gp: str, plan: Plan
) -> None:
    run_id = submit(db, people, plan)
    with pytest.raises(UserError, match="reason"), db.transaction() as session:
        decisions.reject_run(session, people.sam, run_id, "   ")
    with db.transaction() as session:
        view = decisions.reject_run(session, people.sam, run_id, "Too fine-grained.")
    assert view.state is RunState.REJECTED
    assert view.decision is not None and view.decision.reason == "Too fine-grained."
    with pytest.raises(ConflictError, match="is rejected"):
        approve(db, people, run_id, who="sue")


def test_approval_is_refused_when_the_budget_cannot_cover_the_run(
    db: Database, people: People, gp: str, tmp_path: Path
) -> None:
    costly = compile_job(write_job(tmp_path / "costly", epsilon=2.0))
    first, second = submit(db, people, costly), submit(db, people, costly)
    approve(db, people, first)  # 2 of 3 now reserved
    before = snapshot(db)
    with pytest.raises(BudgetExceeded, match=r"remaining .*reserved by approved runs 2"):
        approve(db, people, second)
    assert snapshot(db) == before
    with db.transaction() as session:
        runs.cancel_run(session, people.alice, first)  # releases the reservation
    assert approve(db, people, second).state is RunState.APPROVED


def test_unknown_runs_are_named(db: Database, people: People) -> None:
    with pytest.raises(NotFoundError, match="Run 999"):
        approve(db, people, 999)
