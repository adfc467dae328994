"""The audit log: read and verify (stewards and administrators)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from trusted_env.api.deps import MAX_ID, Access, SessionDep
from trusted_env.api.errors import COMMON_ERRORS, error_responses
from trusted_env.control import Actor, Permission, audit
from trusted_env.control.audit import AuditEventView, AuditReport

router = APIRouter(
    prefix="/audit", tags=["audit"], responses=error_responses(401, 403, *COMMON_ERRORS)
)

Auditor = Annotated[Actor, Depends(Access(Permission.READ_AUDIT))]


@router.get("/events", summary="Read the audit log")
def list_events(
    actor: Auditor,
    session: SessionDep,
    run_id: Annotated[int | None, Query(ge=1, le=MAX_ID, description="Only this run.")] = None,
    action: Annotated[
        str | None, Query(max_length=64, description="Only this action, e.g. run.approved.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=10_000, description="At most this many.")] = 100,
) -> list[AuditEventView]:
    """The most recent events, newest first: who did what, when, to which run."""
    return audit.list_events(session, actor, run_id=run_id, action=action, limit=limit)


@router.get("/verify", summary="Verify the audit log")
def verify(
    actor: Auditor,
    session: SessionDep,
    expected_head: Annotated[
        str | None,
        Query(
            pattern=r"^[0-9a-f]{64}$",
            description="A head hash recorded earlier: detects events cut from the end.",
        ),
    ] = None,
) -> AuditReport:
    """Recompute the hash chain; `ok` is false and `problems` names each edited or deleted
    event."""
    return audit.verify(session, actor, expected_head=expected_head)
