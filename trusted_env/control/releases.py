"""Releases: what a run produced, with its provenance, and who may read it.

- The run's author reads their own releases; stewards and admins read all of them.
- A steward publishes a release; policy readers read published releases only.
- Anyone else is told the release does not exist.
Exports: CSV and Parquet as one row per released cell (the same tables `tre run` writes), JSON
as the full release with its provenance.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from trusted_env.control import audit
from trusted_env.control.choices import ExportFormat as ExportFormat  # apart for the CLI
from trusted_env.control.roles import Actor, Permission
from trusted_env.control.runs import DecisionView, decision_view
from trusted_env.control.tables import Dataset, ReleaseRecord, Run, User, utcnow
from trusted_env.errors import ConflictError, NotFoundError
from trusted_env.release.export import export_bytes
from trusted_env.release.model import Release

MEDIA_TYPES = {
    ExportFormat.CSV: "text/csv",
    ExportFormat.JSON: "application/json",
    ExportFormat.PARQUET: "application/vnd.apache.parquet",
}


_ReleaseQuery = Select[ReleaseRecord, Run, Dataset, User]


class ReleaseSummary(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: int
    run_id: int
    dataset: str
    job_name: str
    job_description: str
    author: str
    plan_hash: str
    epsilon: float
    delta: float
    created_at: datetime
    published_at: datetime | None
    published_by: str | None


class ReleaseView(ReleaseSummary):
    approval: DecisionView | None
    release: Release


def _query() -> _ReleaseQuery:
    return (
        select(ReleaseRecord, Run, Dataset, User)
        .join(Run, Run.id == ReleaseRecord.run_id)
        .join(Dataset, Dataset.id == ReleaseRecord.dataset_id)
        .join(User, User.id == Run.submitted_by_id)
    )


def _visible_to(query: _ReleaseQuery, actor: Actor) -> _ReleaseQuery:
    if actor.can(Permission.VIEW_ALL_RELEASES):
        return query
    own = Run.submitted_by_id == actor.user_id
    if actor.can(Permission.READ_PUBLISHED):
        return query.where(own | ReleaseRecord.published_at.is_not(None))
    return query.where(own)


def _summary_fields(
    session: Session, record: ReleaseRecord, dataset: Dataset, author: User
) -> dict[str, Any]:
    release = Release.model_validate_json(record.release_json)
    publisher = session.get(User, record.published_by_id) if record.published_by_id else None
    return {
        "id": record.id,
        "run_id": record.run_id,
        "dataset": dataset.name,
        "job_name": record.job_name,
        "job_description": release.job_description,
        "author": author.name,
        "plan_hash": record.plan_hash,
        "epsilon": record.epsilon,
        "delta": record.delta,
        "created_at": record.created_at,
        "published_at": record.published_at,
        "published_by": publisher.name if publisher else None,
    }


def _one(session: Session, actor: Actor, query: _ReleaseQuery, missing: str) -> ReleaseView:
    row = session.execute(_visible_to(query, actor)).first()
    if row is None:
        raise NotFoundError(missing)
    record, run, dataset, author = row
    return ReleaseView(
        **_summary_fields(session, record, dataset, author),
        approval=decision_view(session, run.id),
        release=Release.model_validate_json(record.release_json),
    )


def get_release(session: Session, actor: Actor, release_id: int) -> ReleaseView:
    return _one(
        session,
        actor,
        _query().where(ReleaseRecord.id == release_id),
        f"Release {release_id} does not exist.",
    )


def get_release_for_run(session: Session, actor: Actor, run_id: int) -> ReleaseView:
    return _one(
        session,
        actor,
        _query().where(ReleaseRecord.run_id == run_id),
        f"Run {run_id} has no release.",
    )


def list_releases(
    session: Session,
    actor: Actor,
    *,
    dataset: str | None = None,
    job_name: str | None = None,
    published_only: bool = False,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> list[ReleaseSummary]:
    """Releases the actor may read, newest first, filtered by dataset, job and date."""
    query = _query().order_by(ReleaseRecord.id.desc()).offset(max(0, offset)).limit(limit)
    query = _visible_to(query, actor)
    if dataset is not None:
        query = query.where(Dataset.name == dataset)
    if job_name is not None:
        query = query.where(ReleaseRecord.job_name == job_name)
    if published_only:
        query = query.where(ReleaseRecord.published_at.is_not(None))
    if since is not None:
        query = query.where(ReleaseRecord.created_at >= since)
    if until is not None:
        query = query.where(ReleaseRecord.created_at < until)
    return [
        ReleaseSummary(**_summary_fields(session, record, ds, author))
        for record, _run, ds, author in session.execute(query).all()
    ]


def publish_release(session: Session, actor: Actor, release_id: int) -> ReleaseView:
    actor.require(Permission.PUBLISH_RELEASE)
    steward_id = actor.require_user("publish releases")
    record = session.execute(
        select(ReleaseRecord).where(ReleaseRecord.id == release_id).with_for_update()
    ).scalar_one_or_none()
    if record is None:
        raise NotFoundError(f"Release {release_id} does not exist.")
    if record.published_at is not None:
        raise ConflictError(f"Release {release_id} is already published.")
    record.published_at = utcnow()
    record.published_by_id = steward_id
    session.flush()
    audit.record(
        session,
        actor.name,
        "release.published",
        run_id=record.run_id,
        details={"release_id": record.id},
    )
    return get_release(session, actor, release_id)


def store_release(session: Session, run: Run, release: Release) -> ReleaseRecord:
    """Called by the worker in the transaction that marks the run released."""
    record = ReleaseRecord(
        run_id=run.id,
        dataset_id=run.dataset_id,
        job_name=release.job_name,
        plan_hash=release.plan_hash,
        epsilon=release.epsilon_spent,
        delta=release.delta_spent,
        release_json=release.model_dump_json(),
        created_at=utcnow(),
    )
    session.add(record)
    session.flush()
    return record


def export_release(view: ReleaseView, fmt: ExportFormat) -> bytes:
    """CSV and Parquet: one row per cell (as `tre run` exports); JSON: release and provenance."""
    if fmt is ExportFormat.JSON:
        return view.model_dump_json(indent=2).encode("utf-8")
    return export_bytes(view.release, fmt.value)
