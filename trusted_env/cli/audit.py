"""`tre audit ...`: read and verify the tamper-evident audit log."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from trusted_env.cli.control_context import console, transaction, when
from trusted_env.control import Actor

group = typer.Typer(help="Read and verify the audit log.", no_args_is_help=True)

EXIT_TAMPERED = 3


@group.command("verify")
def verify(
    expect_head: Annotated[
        str | None,
        typer.Option("--expect-head", help="Head hash recorded earlier: detects a cut tail."),
    ] = None,
) -> None:
    """Recompute the hash chain; exit 3 and name each event if any was edited or deleted."""
    from trusted_env.control import audit

    with transaction() as session:
        report = audit.verify(session, Actor.operator(), expected_head=expect_head)
    if report.ok:
        console.print(
            f"[green]Audit log intact:[/] {report.events} events; head #{report.head_seq} "
            f"{report.head_hash}"
        )
        return
    console.print(f"[bold red]Audit log tampered with:[/] {len(report.problems)} problem(s)")
    for problem in report.problems:
        console.print(f"  event #{problem.seq}: {problem.problem}")
    raise typer.Exit(EXIT_TAMPERED)


@group.command("list")
def list_(
    run: Annotated[int | None, typer.Option("--run", help="Only events of this run.")] = None,
    action: Annotated[str | None, typer.Option("--action", help="e.g. run.approved")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1)] = 50,
) -> None:
    """The most recent audit events, newest first (times in UTC)."""
    from trusted_env.control import audit

    with transaction() as session:
        events = audit.list_events(
            session, Actor.operator(), run_id=run, action=action, limit=limit
        )
    for event in events:
        run_part = "" if event.run_id is None else f" run {event.run_id}"
        dataset_part = "" if event.dataset is None else f" dataset {event.dataset}"
        console.print(
            f"#{event.seq} {when(event.at)} [bold]{event.action}[/]{run_part}{dataset_part} "
            f"by {event.actor} {json.dumps(event.details, sort_keys=True)}",
            markup=True,
        )


def register(app: typer.Typer) -> None:
    app.add_typer(group, name="audit")
