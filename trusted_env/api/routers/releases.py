"""Releases: authors read their own, stewards publish, policy readers read published ones.

A release's view carries its provenance (job, plan hash, dataset, approval, epsilon spent) and
every cell's estimate with its 95% confidence interval. Downloads use the control plane's one
export (`control.releases.export_release`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response

from trusted_env.api.deps import MAX_ID, Access, SessionDep
from trusted_env.api.errors import COMMON_ERRORS, error_responses
from trusted_env.control import Actor, Permission, releases
from trusted_env.control.releases import MEDIA_TYPES, ExportFormat, ReleaseSummary, ReleaseView
from trusted_env.errors import UserError

router = APIRouter(
    prefix="/releases", tags=["releases"], responses=error_responses(401, 403, *COMMON_ERRORS)
)

# Authors (who may submit runs) read their own; the service filters by visibility.
Reader = Annotated[
    Actor,
    Depends(Access(Permission.SUBMIT_RUN, Permission.VIEW_ALL_RELEASES, Permission.READ_PUBLISHED)),
]
Publisher = Annotated[Actor, Depends(Access(Permission.PUBLISH_RELEASE))]
ReleaseId = Annotated[int, Path(ge=1, le=MAX_ID, description="The release's number.")]

DOWNLOAD_CONTENT = {
    MEDIA_TYPES[ExportFormat.CSV]: {"schema": {"type": "string"}},
    MEDIA_TYPES[ExportFormat.JSON]: {"schema": {"$ref": "#/components/schemas/ReleaseView"}},
    MEDIA_TYPES[ExportFormat.PARQUET]: {"schema": {"type": "string", "format": "binary"}},
}


def _utc(moment: datetime | None, name: str) -> datetime | None:
    """Query dates without a zone are UTC; out-of-range ones are refused, not crashed on."""
    if moment is None:
        return None
    try:
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except OverflowError:
        raise UserError(
            f"The date '{name}' is out of range.", hint="Use e.g. 2025-01-31."
        ) from None


@router.get("", responses=error_responses(400), summary="List releases")
def list_releases(
    actor: Reader,
    session: SessionDep,
    dataset: Annotated[str | None, Query(max_length=64, description="Only this dataset.")] = None,
    job: Annotated[str | None, Query(max_length=63, description="Only this job name.")] = None,
    since: Annotated[
        datetime | None, Query(description="Created at or after (ISO 8601; UTC if no zone).")
    ] = None,
    until: Annotated[datetime | None, Query(description="Created before (ISO 8601).")] = None,
    published: Annotated[bool, Query(description="Only published releases.")] = False,
) -> list[ReleaseSummary]:
    """Releases the caller may read, newest first: policy readers see published ones only."""
    return releases.list_releases(
        session,
        actor,
        dataset=dataset,
        job_name=job,
        published_only=published,
        since=_utc(since, "since"),
        until=_utc(until, "until"),
    )


@router.get("/{release_id}", responses=error_responses(404), summary="Read a release")
def get_release(release_id: ReleaseId, actor: Reader, session: SessionDep) -> ReleaseView:
    """Provenance and every cell's DP estimate with its 95% confidence interval."""
    return releases.get_release(session, actor, release_id)


@router.get(
    "/{release_id}/download",
    response_class=Response,
    responses={
        200: {"description": "The release as a file.", "content": DOWNLOAD_CONTENT},
        **error_responses(404),
    },
    summary="Download a release",
)
def download_release(
    release_id: ReleaseId,
    actor: Reader,
    session: SessionDep,
    fmt: Annotated[
        ExportFormat,
        Query(alias="format", description="csv and parquet: one row per cell; json: everything."),
    ] = ExportFormat.CSV,
) -> Response:
    """CSV or Parquet (one row per released cell), or JSON (the release with provenance)."""
    view = releases.get_release(session, actor, release_id)
    data = releases.export_release(view, fmt)
    filename = f"{view.job_name}-release-{view.id}.{fmt.value}"
    return Response(
        content=data,
        media_type=MEDIA_TYPES[fmt],
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@router.post(
    "/{release_id}/publish", responses=error_responses(404, 409), summary="Publish a release"
)
def publish_release(release_id: ReleaseId, actor: Publisher, session: SessionDep) -> ReleaseView:
    """Make a release readable by policy readers (stewards)."""
    return releases.publish_release(session, actor, release_id)
