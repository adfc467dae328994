"""The lease protocol of the runner: claim a run, renew its lease, charge it, finish it.

Any number of workers, on any number of hosts, can share one database (see `worker.py`).

Crash safety rests on three rules:
- A claim sets a fresh lease token; every later write of the worker (heartbeat, charge, release,
  failure) is a compare-and-set on that token, so a worker that lost its lease writes nothing.
- A run whose lease expired (its worker died) is claimed again; its charge is idempotent (one
  charge per run), so it is never charged twice, and never refunded.
- Releases are unique per run: whatever happens, a run has at most one release.
Hosts must keep their clocks in sync (NTP): leases are compared with each host's UTC clock.
"""

from __future__ import annotations

import os
import socket
import traceback
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.orm import Session

from trusted_env.control import audit, ledger, releases
from trusted_env.control.runs import FailureCategory, RunState, load_run, transition
from trusted_env.control.tables import Run, utcnow
from trusted_env.errors import RunFailure, SchemaDriftError, UserError
from trusted_env.release.model import Release


@dataclass(frozen=True)
class Claim:
    run_id: int
    lease_token: str
    worker: str
    attempt: int


@dataclass(frozen=True)
class Failure:
    category: FailureCategory
    message: str
    details: str | None = None


def default_worker_name() -> str:
    return f"worker:{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def _claimable(now: datetime) -> ColumnElement[bool]:
    return or_(
        Run.state == RunState.APPROVED.value,
        and_(Run.state == RunState.RUNNING.value, Run.lease_expires_at < now),
    )


def claim_next_run(
    session: Session, worker: str, *, lease_seconds: float, max_attempts: int
) -> Claim | None:
    """Take the oldest approved run, or a running one whose lease expired; None if none."""
    while True:
        now = utcnow()
        run = session.execute(
            select(Run)
            .where(_claimable(now))
            .order_by(Run.id)
            .limit(1)
            .with_for_update(skip_locked=True)
            .execution_options(populate_existing=True)
        ).scalar_one_or_none()
        if run is None:
            return None
        if run.state == RunState.RUNNING.value and run.attempts >= max_attempts:
            _give_up(session, run, worker)
            continue
        return _take(session, run, worker, now, lease_seconds)


def _take(session: Session, run: Run, worker: str, now: datetime, lease_seconds: float) -> Claim:
    reclaimed = run.state == RunState.RUNNING.value
    details: dict[str, object] = {"worker": worker, "attempt": run.attempts + 1}
    if reclaimed:
        details["previous_worker"] = run.worker
    else:
        transition(run, RunState.RUNNING)
    run.lease_token = uuid.uuid4().hex
    run.lease_expires_at = now + timedelta(seconds=lease_seconds)
    run.worker = worker
    run.attempts += 1
    run.started_at = run.started_at or now
    run.updated_at = now
    session.flush()
    action = "run.reclaimed" if reclaimed else "run.started"
    audit.record(session, worker, action, run_id=run.id, details=details)
    return Claim(run_id=run.id, lease_token=run.lease_token, worker=worker, attempt=run.attempts)


def _give_up(session: Session, run: Run, worker: str) -> None:
    failure = Failure(
        FailureCategory.INTERNAL_ERROR,
        f"The run was interrupted {run.attempts} times and was not retried again.",
        f"Last worker: {run.worker}.",
    )
    _record_failure(session, run, worker, failure)


def _owned(session: Session, claim: Claim) -> Run | None:
    """The claimed run, locked, if the claim still holds its lease; None otherwise."""
    run = load_run(session, claim.run_id, lock=True)
    if run.state != RunState.RUNNING.value or run.lease_token != claim.lease_token:
        return None
    return run


def renew_lease(session: Session, claim: Claim, lease_seconds: float) -> bool:
    run = _owned(session, claim)
    if run is None:
        return False
    run.lease_expires_at = utcnow() + timedelta(seconds=lease_seconds)
    return True


def release_lease(session: Session, claim: Claim) -> None:
    """Let another worker take the run at once (this worker is stopping mid-run)."""
    run = _owned(session, claim)
    if run is not None:
        run.lease_expires_at = utcnow()


def charge_claimed_run(session: Session, claim: Claim) -> bool:
    """Charge the run (once); False if the lease was lost. May raise BudgetExceeded."""
    dataset_id = load_run(session, claim.run_id).dataset_id
    ledger.lock_dataset(session, dataset_id)  # dataset before run: the global lock order
    run = _owned(session, claim)
    if run is None:
        return False
    ledger.charge_run(session, run, claim.worker)
    return True


def complete_run(session: Session, claim: Claim, release: Release) -> bool:
    """Store the release and mark the run released; False if the lease was lost."""
    run = _owned(session, claim)
    if run is None:
        return False
    if ledger.charge_for(session, run.id) is None:
        raise RuntimeError(f"run {run.id} has no budget charge; its release is not stored")
    if release.plan_hash != run.plan_hash:
        raise RuntimeError(f"run {run.id}: the release is for another plan")
    transition(run, RunState.RELEASED)
    run.lease_token, run.lease_expires_at, run.finished_at = None, None, utcnow()
    record = releases.store_release(session, run, release)
    audit.record(
        session,
        claim.worker,
        "run.released",
        run_id=run.id,
        details={"release_id": record.id, "epsilon": record.epsilon, "delta": record.delta},
    )
    return True


def _record_failure(session: Session, run: Run, worker: str, failure: Failure) -> None:
    transition(run, RunState.FAILED)
    run.lease_token, run.lease_expires_at, run.finished_at = None, None, utcnow()
    run.failure_category = failure.category.value
    run.failure_message = failure.message
    run.failure_details = failure.details
    session.flush()
    charged = ledger.charge_for(session, run.id) is not None
    # The details may quote data; they stay in the run row, readable by stewards only.
    audit.record(
        session,
        worker,
        "run.failed",
        run_id=run.id,
        details={"category": failure.category.value, "charged": charged},
    )


def fail_run(session: Session, claim: Claim, failure: Failure) -> bool:
    run = _owned(session, claim)
    if run is None:
        return False
    _record_failure(session, run, claim.worker, failure)
    return True


def failure_from(exc: BaseException) -> Failure:
    """What the researcher may see of an exception raised while real data was being read."""
    if isinstance(exc, RunFailure):
        known = exc.category in FailureCategory.__members__.values()
        category = FailureCategory(exc.category) if known else FailureCategory.INTERNAL_ERROR
        return Failure(category, str(exc), exc.details)
    if isinstance(exc, SchemaDriftError):
        return Failure(
            FailureCategory.INTERNAL_ERROR,
            "The dataset does not match its registered schema; a data steward has the details.",
            str(exc),
        )
    if isinstance(exc, UserError):
        return Failure(
            FailureCategory.INTERNAL_ERROR,
            "The run failed in the trusted environment; a data steward has the details.",
            str(exc),
        )
    return Failure(
        FailureCategory.INTERNAL_ERROR,
        "The run failed because of an internal error; a data steward has the details.",
        "".join(traceback.format_exception(exc)),
    )
