"""`tre admin ...`: submit and decide runs directly on the control-plane database.

For operators on the trusted host (tests, demos, break-glass). Researchers use `tre submit`,
`tre runs`, `tre status` and `tre release` against the API server instead.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from trusted_env.cli import render
from trusted_env.cli.control_context import acting, console, grid, number, transaction, when
from trusted_env.control.choices import ExportFormat, RunState
from trusted_env.errors import UserError

if TYPE_CHECKING:
    from trusted_env.control.releases import ReleaseView
    from trusted_env.control.review import RunReview
    from trusted_env.control.runs import RunView
    from trusted_env.spec.plan import Plan

group = typer.Typer(
    help="Operator commands on the control-plane database: submit, review, decide, export.",
    no_args_is_help=True,
)

AsUser = Annotated[str, typer.Option("--as", help="The user acting (see `tre user list`).")]
AsOptional = Annotated[
    str | None, typer.Option("--as", help="Act as this user (default: the operator).")
]
Reason = Annotated[str, typer.Option("--reason", help="Why; recorded with the decision.")]


def _print_run(view: RunView) -> None:
    render.run_summary(console, view, "tre admin release", decision_time=True)


def _load_plan(source: Path, dataset: str) -> Plan:
    from trusted_env.control import datasets, runs
    from trusted_env.spec.job_folder import compile_job

    if source.is_dir():
        with transaction() as session:
            schema = datasets.schema_of(datasets.dataset_by_name(session, dataset))
        return compile_job(source, schema)
    if source.is_file():
        return runs.parse_plan(source.read_text(encoding="utf-8"))
    raise UserError(f"{source} is neither a job folder nor a plan JSON file.")


@group.command("submit")
def submit(
    job: Annotated[Path, typer.Argument(help="Job folder, or a compiled plan (JSON).")],
    dataset: Annotated[str, typer.Option("--dataset", help="Registered dataset.")],
    as_user: AsUser,
) -> None:
    """Submit a job's canonical plan for a steward's decision, on behalf of a user."""
    from trusted_env.control import runs

    plan = _load_plan(job, dataset)
    with transaction() as session:
        view = runs.submit_run(session, acting(session, as_user), dataset, plan)
    _print_run(view)


@group.command("runs")
def list_runs(
    state: Annotated[
        RunState | None, typer.Option("--state", help="Only runs in this state.")
    ] = None,
    dataset: Annotated[str | None, typer.Option("--dataset")] = None,
    as_user: AsOptional = None,
) -> None:
    """Runs, newest first."""
    from trusted_env.control import runs

    with transaction() as session:
        views = runs.list_runs(session, acting(session, as_user), state=state, dataset=dataset)
    table = grid("run", "job", "dataset", "state", "epsilon", "author", "submitted", "decided by")
    for v in views:
        shown = v.state.value + (f" ({v.failure.category.value})" if v.failure else "")
        table.add_row(
            str(v.id),
            v.job_name,
            v.dataset,
            shown,
            number(v.epsilon),
            v.submitted_by,
            when(v.submitted_at),
            v.decision.steward if v.decision else "",
        )
    console.print(table)


@group.command("show")
def show(run: Annotated[int, typer.Argument()], as_user: AsOptional = None) -> None:
    """One run's state, decision and failure."""
    from trusted_env.control import runs

    with transaction() as session:
        _print_run(runs.get_run(session, acting(session, as_user), run))


def _print_review(result: RunReview) -> None:
    _print_run(result.run)
    console.print()
    render.plan_review(console, result.plan)
    console.print("[bold]Cohort SQL[/]")
    console.print(result.plan.sql, markup=False)
    before, after = result.budget_before, result.budget_after
    console.print(
        f"[bold]Dataset budget[/]: epsilon remaining {number(before.remaining_epsilon)} now, "
        f"{number(after.remaining_epsilon)} after this run (budget {number(before.budget_epsilon)},"
        f" spent {number(before.spent_epsilon)}, reserved by approved runs "
        f"{number(before.reserved_epsilon)}); delta remaining {number(before.remaining_delta)} "
        f"-> {number(after.remaining_delta)}."
    )
    for note in result.notes:
        console.print(f"[yellow]Note:[/] {note}")


@group.command("review")
def review_(run: Annotated[int, typer.Argument()], as_user: AsOptional = None) -> None:
    """Everything a steward decides on: SQL, reads, outputs, epsilon, accuracy, budget."""
    from trusted_env.control import review

    with transaction() as session:
        _print_review(review.review_run(session, acting(session, as_user), run))


@group.command("approve")
def approve(run: Annotated[int, typer.Argument()], as_user: AsUser, reason: Reason) -> None:
    """Approve a submitted run (a steward who did not submit it)."""
    from trusted_env.control import decisions

    with transaction() as session:
        _print_run(decisions.approve_run(session, acting(session, as_user), run, reason))


@group.command("reject")
def reject(run: Annotated[int, typer.Argument()], as_user: AsUser, reason: Reason) -> None:
    """Reject a submitted run, saying why."""
    from trusted_env.control import decisions

    with transaction() as session:
        _print_run(decisions.reject_run(session, acting(session, as_user), run, reason))


@group.command("cancel")
def cancel(run: Annotated[int, typer.Argument()], as_user: AsUser) -> None:
    """Cancel a run that has not started (its author only)."""
    from trusted_env.control import runs

    with transaction() as session:
        _print_run(runs.cancel_run(session, acting(session, as_user), run))


@group.command("publish")
def publish(release: Annotated[int, typer.Argument()], as_user: AsUser) -> None:
    """Publish a release so that policy readers can read it (stewards)."""
    from trusted_env.control import releases

    with transaction() as session:
        view = releases.publish_release(session, acting(session, as_user), release)
    console.print(f"Release {view.id} ({view.job_name}) published by {view.published_by}.")


@group.command("releases")
def list_releases(
    dataset: Annotated[str | None, typer.Option("--dataset")] = None,
    job: Annotated[str | None, typer.Option("--job")] = None,
    as_user: AsOptional = None,
) -> None:
    """Releases, newest first."""
    from trusted_env.control import releases

    with transaction() as session:
        views = releases.list_releases(
            session, acting(session, as_user), dataset=dataset, job_name=job
        )
    table = grid("release", "run", "job", "dataset", "author", "epsilon", "created", "published")
    for v in views:
        table.add_row(
            str(v.id),
            str(v.run_id),
            v.job_name,
            v.dataset,
            v.author,
            number(v.epsilon),
            when(v.created_at),
            when(v.published_at),
        )
    console.print(table)


def _print_release(view: ReleaseView) -> None:
    state = f"published {when(view.published_at)}" if view.published_at else "not published"
    console.print(
        f"Release {view.id} of run {view.run_id} on dataset {view.dataset} by {view.author} "
        f"({state})"
    )
    if view.approval is not None:
        console.print(f"Approved by {view.approval.steward}: {view.approval.reason}")
    render.release_tables(console, view.release, None)


def _format_of(out: Path | None) -> ExportFormat:
    suffix = out.suffix.lstrip(".").lower() if out is not None else "csv"
    try:
        return ExportFormat(suffix)
    except ValueError:
        raise UserError(
            f"Cannot tell the export format from '{out}'.", hint="Give --format csv|json|parquet."
        ) from None


@group.command("release")
def release(
    run: Annotated[int, typer.Argument(help="The run whose release to show or export.")],
    fmt: Annotated[
        ExportFormat | None, typer.Option("--format", help="Export instead of showing.")
    ] = None,
    out: Annotated[Path | None, typer.Option("--out", help="File to write the export to.")] = None,
    as_user: AsOptional = None,
) -> None:
    """Show a run's release, or export it as CSV, JSON or Parquet."""
    from trusted_env.control import releases

    with transaction() as session:
        view = releases.get_release_for_run(session, acting(session, as_user), run)
    if fmt is None and out is None:
        _print_release(view)
        return
    fmt = fmt or _format_of(out)
    data = releases.export_release(view, fmt)
    if out is not None:
        out.write_bytes(data)
        console.print(f"Wrote {out} ({fmt.value}, {len(data)} bytes).")
    elif fmt is ExportFormat.PARQUET:
        raise UserError("Parquet is binary: give a file with --out.")
    else:
        sys.stdout.write(data.decode("utf-8"))


def register(app: typer.Typer) -> None:
    app.add_typer(group, name="admin")
