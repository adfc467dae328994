"""The operator commands, end to end on the embedded default database (a file in TRE_DATA_DIR):
the README's trusted-environment walkthrough."""

from __future__ import annotations

import functools
import io
import re
import sqlite3
from pathlib import Path

import polars as pl
import pytest
import typer
from control_fixtures import write_job
from typer.testing import CliRunner, Result

from trusted_env.cli import admin, audit, control_context, dataset, users, worker
from trusted_env.errors import BudgetExceeded, PermissionDenied, SchemaDriftError


@pytest.fixture
def tre(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    for name in ("TRE_DATABASE_URL", "TRE_URL", "TRE_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TRE_DATA_DIR", str(tmp_path / "state"))
    monkeypatch.setattr(control_context.console, "width", 250)  # a wide terminal: no wrapping
    return CliRunner()


@functools.cache
def _app() -> typer.Typer:
    app = typer.Typer()
    for module in (dataset, users, admin, worker, audit):
        module.register(app)
    return app


def run(tre: CliRunner, *args: str, ok: bool = True) -> Result:
    result = tre.invoke(_app(), list(args))
    if ok:
        assert result.exit_code == 0, (result.output, result.exception)
    return result


def add_gp_dataset(tre: CliRunner, dataset_file: Path, budget: str) -> None:
    run(tre, "dataset", "add", "gp", "--path", str(dataset_file), "--schema", "primary_care",
        "--budget-epsilon", budget)


def test_the_trusted_environment_walkthrough(
    tre: CliRunner, tmp_path: Path, dataset_file: Path
) -> None:
    add_gp_dataset(tre, dataset_file, budget="3")
    listed = run(tre, "dataset", "list").output
    assert "gp" in listed and "primary_care" in listed
    token = run(tre, "user", "add", "alice", "--role", "researcher").output.strip().splitlines()[-1]
    assert re.fullmatch(r"tre_[A-Za-z0-9_-]{40,}", token)
    run(tre, "user", "add", "sam", "--role", "steward")
    run(tre, "user", "add", "pat", "--role", "policy-reader")
    assert "policy_reader" in run(tre, "user", "list").output

    job = write_job(tmp_path / "jobs" / "sex_counts")
    assert (
        "submitted"
        in run(tre, "admin", "submit", str(job), "--dataset", "gp", "--as", "alice").output
    )
    reviewed = run(tre, "admin", "review", "1", "--as", "sam").output
    assert (
        "SELECT patient_id, sex FROM patients" in reviewed
        and "remaining 3 now, 2 after" in reviewed
    )
    assert "approved" in run(tre, "admin", "approve", "1", "--as", "sam", "--reason", "ok").output
    assert "1 run(s) processed" in run(tre, "worker", "--once").output
    assert "released" in run(tre, "admin", "runs").output
    shown = run(tre, "admin", "release", "1").output
    assert "patients_by_sex" in shown and "intersex" in shown

    out = tmp_path / "release.parquet"
    run(tre, "admin", "release", "1", "--out", str(out))
    assert pl.read_parquet(out).height == 4
    csv = run(tre, "admin", "release", "1", "--format", "csv").output
    assert pl.read_csv(io.StringIO(csv)).height == 4
    run(tre, "admin", "publish", "1", "--as", "sam")
    assert "sex_counts" in run(tre, "admin", "releases", "--as", "pat").output
    assert "spent" in run(tre, "dataset", "list").output
    assert "1 " in run(tre, "dataset", "list").output

    assert "Audit log intact" in run(tre, "audit", "verify").output
    assert "run.released" in run(tre, "audit", "list", "--run", "1").output


def test_refusals_are_user_errors_that_change_nothing(
    tre: CliRunner, tmp_path: Path, dataset_file: Path
) -> None:
    add_gp_dataset(tre, dataset_file, budget="1.5")
    run(tre, "user", "add", "sam", "--role", "steward")
    job = write_job(tmp_path / "job")
    run(tre, "admin", "submit", str(job), "--dataset", "gp", "--as", "sam")
    own = run(tre, "admin", "approve", "1", "--as", "sam", "--reason", "mine", ok=False)
    assert isinstance(own.exception, PermissionDenied)
    run(tre, "user", "add", "sue", "--role", "steward")
    run(tre, "admin", "submit", str(job), "--dataset", "gp", "--as", "sue")
    run(tre, "admin", "approve", "1", "--as", "sue", "--reason", "fine")
    costly = run(tre, "admin", "approve", "2", "--as", "sam", "--reason", "x", ok=False)
    assert isinstance(costly.exception, BudgetExceeded)
    drifted = run(
        tre,
        "dataset",
        "add",
        "other",
        "--path",
        str(dataset_file),
        "--schema",
        str(_drifted_schema(tmp_path)),
        "--budget-epsilon",
        "1",
        ok=False,
    )
    assert isinstance(drifted.exception, SchemaDriftError)
    assert "gp" in run(tre, "dataset", "list").output
    assert "other" not in run(tre, "dataset", "list").output
    assert "submitted" in run(tre, "admin", "show", "2").output


def test_a_tampered_audit_log_fails_verification_naming_the_event(
    tre: CliRunner, tmp_path: Path
) -> None:
    run(tre, "user", "add", "alice", "--role", "researcher")
    with sqlite3.connect(tmp_path / "state" / "control.db") as connection:
        connection.execute("DROP TRIGGER audit_events_no_update")
        connection.execute("UPDATE audit_events SET actor = 'someone else' WHERE seq = 1")
    result = run(tre, "audit", "verify", ok=False)
    assert result.exit_code == audit.EXIT_TAMPERED
    assert "event #1: edited" in result.output


def _drifted_schema(tmp_path: Path) -> Path:
    from trusted_env.schema import SCHEMA_DIR

    text = (SCHEMA_DIR / "primary_care.yaml").read_text()
    path = tmp_path / "primary_care_v2.yaml"
    path.write_text(
        text.replace(
            "  ons_deaths:",
            "  extra_table:\n    description: x\n"
            "    patient_id: patient_id\n    columns:\n      patient_id:\n"
            "        type: integer\n        description: x\n  ons_deaths:",
        )
    )
    return path
