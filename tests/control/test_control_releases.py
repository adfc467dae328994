"""Releases: provenance, who may read them, publishing, exports; and the review view."""

from __future__ import annotations

import io
import json
from pathlib import Path

import polars as pl
import pytest
from control_fixtures import OPERATOR, People
from sqlalchemy.exc import IntegrityError

from trusted_env.control import Database, audit, datasets, decisions, releases, review, runs, users
from trusted_env.control.releases import ExportFormat
from trusted_env.control.tables import ReleaseRecord, Run, utcnow
from trusted_env.control.worker import Worker
from trusted_env.errors import ConflictError, NotFoundError, PermissionDenied
from trusted_env.release.model import Release
from trusted_env.settings import Settings
from trusted_env.spec.plan import Plan


@pytest.fixture
def released(db: Database, people: People, gp: str, plan: Plan, tmp_path: Path) -> int:
    """The release id of alice's run, approved by sam and run by a worker."""
    with db.transaction() as session:
        run_id = runs.submit_run(session, people.alice, gp, plan).id
        decisions.approve_run(session, people.sam, run_id, "Aggregates by sex only.")
    assert Worker(db, Settings(data_dir=tmp_path)).run_once() == run_id
    with db.transaction() as session:
        return releases.get_release_for_run(session, people.alice, run_id).id


def _get(db: Database, people: People, who: str, release_id: int) -> releases.ReleaseView:
    with db.transaction() as session:
        return releases.get_release(session, people.actors[who], release_id)


def test_a_release_carries_its_provenance(
    db: Database, people: People, plan: Plan, released: int
) -> None:
    view = _get(db, people, "alice", released)
    assert (view.job_name, view.dataset, view.author, view.plan_hash) == (
        "sex_counts",
        "gp",
        "alice",
        plan.hash,
    )
    assert (view.epsilon, view.delta) == (1.0, 0.0)
    assert view.approval is not None
    assert (view.approval.steward, view.approval.reason) == ("sam", "Aggregates by sex only.")
    output = view.release.output("patients_by_sex")
    assert [row.keys["sex"] for row in output.rows] == ["female", "male", "intersex", "unknown"]
    assert all(row.ci_low is not None and row.ci_high is not None for row in output.rows)
    assert output.accuracy


def test_readers_before_and_after_publication(db: Database, people: People, released: int) -> None:
    for who in ("alice", "sam", "sue", "ada"):
        assert _get(db, people, who, released).id == released
    for who in ("bob", "pat"):
        with pytest.raises(NotFoundError, match=f"Release {released} does not exist"):
            _get(db, people, who, released)
    with db.transaction() as session:
        assert releases.list_releases(session, people.pat) == []
        published = releases.publish_release(session, people.sue, released)
    assert published.published_by == "sue" and published.published_at is not None
    assert _get(db, people, "pat", released).id == released
    with db.transaction() as session:
        assert [s.id for s in releases.list_releases(session, people.pat, dataset="gp")] == [
            released
        ]
        assert releases.list_releases(session, people.pat, job_name="other") == []
        assert releases.list_releases(session, people.pat, since=utcnow()) == []
    with pytest.raises(NotFoundError):
        _get(db, people, "bob", released)  # published is for policy readers, not researchers


def test_only_stewards_publish_and_only_once(db: Database, people: People, released: int) -> None:
    for who in ("alice", "pat", "ada"):
        with pytest.raises(PermissionDenied), db.transaction() as session:
            releases.publish_release(session, people.actors[who], released)
    with db.transaction() as session:
        releases.publish_release(session, people.sam, released)
    with pytest.raises(ConflictError, match="already published"), db.transaction() as session:
        releases.publish_release(session, people.sue, released)
    with pytest.raises(NotFoundError), db.transaction() as session:
        releases.publish_release(session, people.sue, released + 100)


def test_exports_in_csv_json_and_parquet(db: Database, people: People, released: int) -> None:
    view = _get(db, people, "alice", released)
    csv = pl.read_csv(io.BytesIO(releases.export_release(view, ExportFormat.CSV)))
    parquet = pl.read_parquet(io.BytesIO(releases.export_release(view, ExportFormat.PARQUET)))
    document = json.loads(releases.export_release(view, ExportFormat.JSON))
    assert csv.height == parquet.height == 4
    assert {"output", "estimate", "ci_low", "ci_high"} <= set(csv.columns)
    assert csv["estimate"].to_list() == parquet["estimate"].to_list()
    assert document["approval"]["steward"] == "sam"
    assert Release.model_validate(document["release"]) == view.release


def test_a_run_has_at_most_one_release(db: Database, people: People, released: int) -> None:
    with db.transaction() as session:
        record = session.get_one(ReleaseRecord, released)
        copy = {
            c: getattr(record, c)
            for c in (
                "run_id",
                "dataset_id",
                "job_name",
                "plan_hash",
                "epsilon",
                "delta",
                "release_json",
                "created_at",
            )
        }
    with pytest.raises(IntegrityError), db.transaction() as session:
        session.add(ReleaseRecord(**copy))


def test_the_review_shows_the_plan_and_the_budget_before_and_after(
    db: Database, people: People, gp: str, plan: Plan
) -> None:
    with db.transaction() as session:
        run_id = runs.submit_run(session, people.alice, gp, plan).id
        seen = review.review_run(session, people.sam, run_id)
    assert seen.plan.sql == plan.sql and seen.plan.reads == {"patients": ("patient_id", "sex")}
    output = seen.plan.outputs[0]
    assert (output.name, output.epsilon, output.cells) == ("patients_by_sex", 1.0, 4)
    assert output.expected_accuracy
    assert seen.budget_before.remaining_epsilon == 3.0
    assert seen.budget_after.remaining_epsilon == 2.0 and seen.budget_after.fits
    assert seen.can_decide and seen.notes == ()
    with db.transaction() as session:
        own = review.review_run(session, people.alice, run_id)
        assert not own.can_decide
        with pytest.raises(NotFoundError):
            review.review_run(session, people.bob, run_id)
        session.get_one(Run, run_id).epsilon = 5.0  # as if the budget were too small
        too_costly = review.review_run(session, people.sue, run_id)
        session.rollback()
    assert not too_costly.budget_after.fits and not too_costly.can_decide
    assert any("cannot cover" in note for note in too_costly.notes)


def test_a_missing_release_is_not_found(db: Database, people: People) -> None:
    with pytest.raises(NotFoundError, match="Run 5 has no release"), db.transaction() as s:
        releases.get_release_for_run(s, OPERATOR, 5)


def test_every_state_change_and_charge_is_an_audit_event(
    db: Database, people: People, gp: str, plan: Plan, released: int, tmp_path: Path
) -> None:
    with db.transaction() as session:
        cancelled = runs.submit_run(session, people.alice, gp, plan).id
        rejected = runs.submit_run(session, people.alice, gp, plan).id
        starved = runs.submit_run(session, people.alice, gp, plan).id
        runs.cancel_run(session, people.alice, cancelled)
        decisions.reject_run(session, people.sam, rejected, "no")
        decisions.approve_run(session, people.sam, starved, "yes")
        datasets.set_budget(session, people.sam, gp, epsilon=1.0)  # all spent already
        releases.publish_release(session, people.sam, released)
        users.revoke_tokens(session, OPERATOR, "bob")
    Worker(db, Settings(data_dir=tmp_path)).run_once()  # fails: nothing left to pay with
    with db.transaction() as session:
        events = audit.list_events(session, OPERATOR, limit=1000)
        report = audit.verify(session, OPERATOR)
    assert {event.action for event in events} == {
        "user.created",
        "token.issued",
        "token.revoked",
        "dataset.registered",
        "dataset.budget_set",
        "run.submitted",
        "run.approved",
        "run.rejected",
        "run.cancelled",
        "run.started",
        "budget.charged",
        "run.released",
        "run.failed",
        "release.published",
    }
    by_action = {(e.action, e.run_id): e for e in events}
    assert by_action[("run.rejected", rejected)].actor == "sam"
    assert by_action[("run.cancelled", cancelled)].actor == "alice"
    assert by_action[("run.failed", starved)].details == {
        "category": "budget_exhausted",
        "charged": False,
    }
    assert report.ok and report.events == len(events)
