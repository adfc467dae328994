"""The audit log: append-only, hash-chained events for every state change and budget charge.

Each event's hash covers its content and the previous event's hash, so editing an event breaks
its own hash and deleting one breaks the chain (numbers are contiguous from 1). The last event
must also match the `audit_head` row; recording the head hash elsewhere (`tre audit verify`
prints it) lets an operator detect a truncated tail too. Appends lock the head row, which
serialises them on PostgreSQL; SQLite serialises all writers anyway.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from trusted_env.canonical import canonical_json
from trusted_env.control.roles import Actor, Permission
from trusted_env.control.tables import AuditEvent, AuditHead, utcnow

GENESIS_HASH = "0" * 64
HEAD_ID = 1


class AuditEventView(BaseModel):
    model_config = ConfigDict(frozen=True)

    seq: int
    at: datetime
    actor: str
    action: str
    run_id: int | None
    dataset: str | None
    details: dict[str, Any]
    hash: str


class AuditProblem(BaseModel):
    model_config = ConfigDict(frozen=True)

    seq: int
    problem: str


class AuditReport(BaseModel):
    model_config = ConfigDict(frozen=True)

    ok: bool
    events: int
    head_seq: int
    head_hash: str
    problems: tuple[AuditProblem, ...]


def event_hash(
    *,
    seq: int,
    at: datetime,
    actor: str,
    action: str,
    run_id: int | None,
    dataset: str | None,
    details: str,
    prev_hash: str,
) -> str:
    content = {
        "seq": seq,
        "at": at.isoformat(),
        "actor": actor,
        "action": action,
        "run_id": run_id,
        "dataset": dataset,
        "details": details,
        "prev_hash": prev_hash,
    }
    return hashlib.sha256(canonical_json(content).encode("utf-8")).hexdigest()


def digest_of(event: AuditEvent) -> str:
    return event_hash(
        seq=event.seq,
        at=event.at,
        actor=event.actor,
        action=event.action,
        run_id=event.run_id,
        dataset=event.dataset,
        details=event.details,
        prev_hash=event.prev_hash,
    )


def record(
    session: Session,
    actor: str,
    action: str,
    *,
    run_id: int | None = None,
    dataset: str | None = None,
    details: Mapping[str, Any] | None = None,
) -> AuditEvent:
    """Append one event in the caller's transaction (it commits or rolls back with it)."""
    head = session.execute(
        select(AuditHead).where(AuditHead.id == HEAD_ID).with_for_update()
    ).scalar_one()
    event = AuditEvent(
        seq=head.seq + 1,
        at=utcnow(),
        actor=actor,
        action=action,
        run_id=run_id,
        dataset=dataset,
        details=canonical_json(dict(details or {})),
        prev_hash=head.hash,
    )
    event.hash = digest_of(event)
    session.add(event)
    head.seq, head.hash = event.seq, event.hash
    session.flush()
    return event


def _view(event: AuditEvent) -> AuditEventView:
    return AuditEventView(
        seq=event.seq,
        at=event.at,
        actor=event.actor,
        action=event.action,
        run_id=event.run_id,
        dataset=event.dataset,
        details=json.loads(event.details),
        hash=event.hash,
    )


def list_events(
    session: Session,
    actor: Actor,
    *,
    run_id: int | None = None,
    action: str | None = None,
    limit: int = 100,
) -> list[AuditEventView]:
    """The most recent events (newest first), optionally for one run or one action."""
    actor.require(Permission.READ_AUDIT)
    query = select(AuditEvent).order_by(AuditEvent.seq.desc()).limit(max(1, min(limit, 10_000)))
    if run_id is not None:
        query = query.where(AuditEvent.run_id == run_id)
    if action is not None:
        query = query.where(AuditEvent.action == action)
    return [_view(event) for event in session.execute(query).scalars()]


def _check_event(event: AuditEvent, expected_seq: int, prev_hash: str) -> list[AuditProblem]:
    problems = []
    if event.seq != expected_seq:
        missing = (
            f"{expected_seq}"
            if event.seq == expected_seq + 1
            else (f"{expected_seq}-{event.seq - 1}")
        )
        problems.append(AuditProblem(seq=event.seq, problem=f"event(s) {missing} deleted"))
    if event.prev_hash != prev_hash:
        problems.append(AuditProblem(seq=event.seq, problem="does not chain to the previous event"))
    recomputed = digest_of(event)
    if recomputed != event.hash:
        problems.append(
            AuditProblem(seq=event.seq, problem="edited: content does not match its hash")
        )
    return problems


def verify(session: Session, actor: Actor, *, expected_head: str | None = None) -> AuditReport:
    """Recompute the chain; report every edited, deleted or re-chained event by number."""
    actor.require(Permission.READ_AUDIT)
    problems: list[AuditProblem] = []
    expected_seq, prev_hash, count = 1, GENESIS_HASH, 0
    events = session.execute(
        select(AuditEvent).order_by(AuditEvent.seq).execution_options(yield_per=1000)
    ).scalars()
    for event in events:
        problems.extend(_check_event(event, expected_seq, prev_hash))
        expected_seq, prev_hash, count = event.seq + 1, event.hash, count + 1
    head = session.execute(select(AuditHead).where(AuditHead.id == HEAD_ID)).scalar_one()
    if head.seq != expected_seq - 1 or head.hash != prev_hash:
        problems.append(
            AuditProblem(
                seq=head.seq,
                problem=f"the log ends at event {expected_seq - 1} but the head records "
                f"event {head.seq}: events at the end were deleted",
            )
        )
    if expected_head is not None and expected_head != head.hash:
        problems.append(
            AuditProblem(seq=head.seq, problem="the head hash differs from the expected one")
        )
    return AuditReport(
        ok=not problems,
        events=count,
        head_seq=head.seq,
        head_hash=head.hash,
        problems=tuple(problems),
    )


def count_events(session: Session) -> int:
    return session.execute(select(func.count()).select_from(AuditEvent)).scalar_one()
