"""The runner worker: the only process that opens real data.

One iteration: claim a run (lease), re-validate its plan against the registered schema (no data
read yet: a plan that cannot run fails as `invalid_plan`, uncharged), charge the ledger, run the
engine on the dataset in its sandbox, store the release. A heartbeat thread renews the lease
while the engine runs; if the process dies, the lease expires and another worker takes the run
again (see `leases.py` for why that charges once and releases once).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from trusted_env.control import datasets, leases
from trusted_env.control.db import Database
from trusted_env.control.leases import Claim, Failure
from trusted_env.control.runs import FailureCategory, load_run
from trusted_env.control.tables import Dataset
from trusted_env.errors import BudgetExceeded, UserError
from trusted_env.release.model import Release
from trusted_env.schema import DatasetSchema
from trusted_env.settings import Settings
from trusted_env.spec.plan import Plan
from trusted_env.validation.plan_checks import CheckedPlan, check_plan_for_run

if TYPE_CHECKING:
    from trusted_env.engine import SandboxLimits

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Job:
    plan: Plan
    dataset_path: Path
    schema: DatasetSchema


def sandbox_limits(settings: Settings) -> SandboxLimits:
    from trusted_env.engine import SandboxLimits

    return SandboxLimits(
        memory_limit=settings.sandbox_memory_limit,
        threads=settings.sandbox_threads,
        timeout_seconds=settings.sandbox_timeout_seconds,
    )


class _Heartbeat(threading.Thread):
    """Renews the lease every `interval` seconds until stopped or the lease is lost."""

    def __init__(self, db: Database, claim: Claim, lease_seconds: float, interval: float):
        super().__init__(name=f"heartbeat-run-{claim.run_id}", daemon=True)
        self._db, self._claim = db, claim
        self._lease_seconds, self._interval = lease_seconds, interval
        self._stopped = threading.Event()
        self.lost = threading.Event()

    def run(self) -> None:
        while not self._stopped.wait(self._interval):
            try:
                with self._db.transaction() as session:
                    held = leases.renew_lease(session, self._claim, self._lease_seconds)
            except Exception:
                # A database hiccup: keep trying; if the lease expires meanwhile, the final
                # compare-and-set refuses this worker's result.
                log.exception("could not renew the lease of run %s", self._claim.run_id)
                continue
            if not held:
                self.lost.set()
                return

    def stop(self) -> None:
        self._stopped.set()
        self.join()


class Worker:
    def __init__(self, db: Database, settings: Settings, *, name: str | None = None):
        self.db = db
        self.settings = settings
        self.name = name or leases.default_worker_name()

    def run_once(self) -> int | None:
        """Process at most one run; its id, or None when nothing was waiting."""
        with self.db.transaction() as session:
            claim = leases.claim_next_run(
                session,
                self.name,
                lease_seconds=self.settings.worker_lease_seconds,
                max_attempts=self.settings.worker_max_attempts,
            )
        if claim is None:
            return None
        heartbeat = _Heartbeat(
            self.db,
            claim,
            self.settings.worker_lease_seconds,
            self.settings.worker_heartbeat_seconds,
        )
        heartbeat.start()
        try:
            self._process(claim)
        except BaseException:
            # Interrupted (Ctrl-C, SystemExit): hand the run back at once instead of waiting
            # for the lease to expire.
            heartbeat.stop()
            with self.db.transaction() as session:
                leases.release_lease(session, claim)
            raise
        heartbeat.stop()
        return claim.run_id

    def run_forever(self, *, stop: threading.Event | None = None) -> None:
        stop = stop or threading.Event()
        while not stop.is_set():
            try:
                processed = self.run_once()
            except Exception:
                # The database may be briefly unreachable; a run in flight keeps its lease
                # until it expires, then any worker takes it again.
                log.exception("worker iteration failed; retrying after the poll interval")
                processed = None
            if processed is None:
                stop.wait(self.settings.worker_poll_seconds)

    def _load(self, claim: Claim) -> _Job:
        with self.db.transaction() as session:
            run = load_run(session, claim.run_id)
            dataset = session.get_one(Dataset, run.dataset_id)
            return _Job(
                plan=Plan.model_validate_json(run.plan_json),
                dataset_path=Path(dataset.path),
                schema=datasets.schema_of(dataset),
            )

    def _process(self, claim: Claim) -> None:
        job = self._load(claim)
        try:
            checked = check_plan_for_run(job.plan, job.schema)
        except UserError as exc:
            # Plan and schema only, no data: the message is safe for the researcher.
            self._finish_failed(claim, Failure(FailureCategory.INVALID_PLAN, str(exc)))
            return
        except Exception as exc:
            self._finish_failed(claim, leases.failure_from(exc))
            return
        try:
            with self.db.transaction() as session:
                if not leases.charge_claimed_run(session, claim):
                    log.warning("lost the lease of run %s before charging it", claim.run_id)
                    return
        except BudgetExceeded as exc:
            self._finish_failed(claim, Failure(FailureCategory.BUDGET_EXHAUSTED, str(exc)))
            return
        try:
            release = self._execute(checked, job.dataset_path)
        except Exception as exc:
            self._finish_failed(claim, leases.failure_from(exc))
            return
        self._finish_released(claim, release)

    def _execute(self, checked: CheckedPlan, dataset_path: Path) -> Release:
        from trusted_env.engine import run_checked_plan

        return run_checked_plan(checked, dataset_path, sandbox_limits(self.settings))

    def _finish_released(self, claim: Claim, release: Release) -> None:
        try:
            with self.db.transaction() as session:
                stored = leases.complete_run(session, claim, release)
        except Exception as exc:
            self._finish_failed(claim, leases.failure_from(exc))
            return
        if not stored:
            log.warning("lost the lease of run %s; its result was discarded", claim.run_id)

    def _finish_failed(self, claim: Claim, failure: Failure) -> None:
        with self.db.transaction() as session:
            if not leases.fail_run(session, claim, failure):
                log.warning("lost the lease of run %s; its failure was discarded", claim.run_id)
