"""A worker killed mid-run: the run is taken again after its lease expires, charged once and
released once. The worker is a real `tre worker` process, killed with SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest
from control_fixtures import OPERATOR, People, write_job
from sqlalchemy import func, select

from trusted_env.control import Database, audit, decisions, leases, runs
from trusted_env.control.runs import RunState
from trusted_env.control.tables import Charge, ReleaseRecord, Run, utcnow
from trusted_env.control.worker import Worker
from trusted_env.settings import Settings
from trusted_env.spec.job_folder import compile_job

# A cohort that keeps DuckDB busy for seconds (a 350-million-row cross join on the test data),
# so that the worker can be killed while it runs.
SLOW_SQL = """
SELECT p.patient_id, p.sex FROM patients AS p WHERE p.patient_id IN (
  SELECT a.patient_id FROM clinical_events AS a CROSS JOIN clinical_events AS b
  CROSS JOIN clinical_events AS c CROSS JOIN patients AS d
  WHERE a.numeric_value + b.numeric_value + c.numeric_value + d.patient_id > 0)
"""
LEASE_SECONDS = 3.0
POLL = 0.05
PATIENCE = 120.0


def _wait_for(condition: str, check: Callable[[], bool]) -> None:
    deadline = time.monotonic() + PATIENCE
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting for {condition}")
        time.sleep(POLL)


def _charges(db: Database, run_id: int) -> int:
    with db.transaction() as session:
        return session.execute(
            select(func.count()).select_from(Charge).where(Charge.run_id == run_id)
        ).scalar_one()


def _worker_of(db: Database, run_id: int) -> str | None:
    with db.transaction() as session:
        return session.get_one(Run, run_id).worker


def _lease_expiry(db: Database, run_id: int) -> datetime | None:
    with db.transaction() as session:
        return session.get_one(Run, run_id).lease_expires_at


@pytest.mark.slow
def test_a_killed_worker_s_run_is_finished_by_another_with_one_charge_and_one_release(
    db: Database, db_url: str, people: People, gp: str, tmp_path: Path
) -> None:
    plan = compile_job(write_job(tmp_path / "slow", sql=SLOW_SQL))
    with db.transaction() as session:
        run_id = runs.submit_run(session, people.alice, gp, plan).id
        decisions.approve_run(session, people.sam, run_id, "slow but fine")
    settings = {
        "TRE_DATABASE_URL": db_url,
        "TRE_DATA_DIR": str(tmp_path),
        "TRE_WORKER_LEASE_SECONDS": str(LEASE_SECONDS),
        "TRE_WORKER_HEARTBEAT_SECONDS": "0.5",
        "TRE_SANDBOX_THREADS": "1",
    }
    doomed = subprocess.Popen(
        [sys.executable, "-m", "trusted_env.cli.worker", "--once", "--name", "doomed"],
        env={**os.environ, **settings},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for("the worker to charge the run", lambda: _charges(db, run_id) == 1)
        os.kill(doomed.pid, signal.SIGKILL)
    finally:
        doomed.wait(timeout=60)
    assert doomed.returncode == -signal.SIGKILL
    with db.transaction() as session:
        killed = runs.get_run(session, OPERATOR, run_id)
    assert killed.state is RunState.RUNNING and killed.release_id is None

    # Nobody can take the run while its lease runs; then anyone can. The rescuer's lease is
    # shorter than the run: its heartbeat must keep the run from being taken meanwhile.
    rescuer = Worker(
        db,
        Settings(
            data_dir=tmp_path,
            worker_lease_seconds=LEASE_SECONDS,
            worker_heartbeat_seconds=0.5,
            sandbox_threads=1,
        ),
    )
    expiry = _lease_expiry(db, run_id)
    assert expiry is not None
    _wait_for("the lease to expire", lambda: utcnow() > expiry)
    rescued: list[int | None] = []
    rescue = threading.Thread(target=lambda: rescued.append(rescuer.run_once()))
    rescue.start()
    _wait_for("the rescuer to claim the run", lambda: _worker_of(db, run_id) == rescuer.name)
    stolen = []
    while rescue.is_alive():
        with db.transaction() as session:
            stolen.append(leases.claim_next_run(session, "thief", lease_seconds=60, max_attempts=9))
        time.sleep(0.2)
    rescue.join()
    assert rescued == [run_id]
    assert len(stolen) > 1 and set(stolen) == {None}

    with db.transaction() as session:
        finished = runs.get_run(session, OPERATOR, run_id)
        releases = session.execute(
            select(func.count()).select_from(ReleaseRecord).where(ReleaseRecord.run_id == run_id)
        ).scalar_one()
        actions = [e.action for e in reversed(audit.list_events(session, OPERATOR, run_id=run_id))]
        verified = audit.verify(session, OPERATOR)
    assert finished.state is RunState.RELEASED and finished.attempts == 2
    assert _charges(db, run_id) == 1 and releases == 1
    assert actions == [
        "run.submitted",
        "run.approved",
        "run.started",
        "budget.charged",
        "run.reclaimed",
        "run.released",
    ]
    assert verified.ok
