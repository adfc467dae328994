"""Researcher commands: `tre check`, `tre run` and `tre schema`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

JobArgument = Annotated[
    Path, typer.Argument(help="Job folder (contains job.yaml).", exists=True, file_okay=False)
]


def check(
    job: JobArgument,
    as_json: Annotated[bool, typer.Option("--json", help="Print the review as JSON.")] = False,
    plan_out: Annotated[
        Path | None, typer.Option(help="Also write the canonical plan JSON to this file.")
    ] = None,
) -> None:
    """Validate a job against its dataset schema and show the plan and its expected accuracy."""
    from trusted_env.cli import render
    from trusted_env.schema import load_schema
    from trusted_env.spec.job_folder import compile_job, load_spec
    from trusted_env.spec.review import review_plan

    schema = load_schema(load_spec(job).dataset)
    plan = compile_job(job, schema)
    review = review_plan(plan, schema)
    if plan_out is not None:
        plan_out.write_text(plan.to_json(), encoding="utf-8")
    if as_json:
        typer.echo(review.model_dump_json(indent=2))
        return
    render.plan_review(Console(), review)


def run(
    job: JobArgument,
    dataset: Annotated[
        Path | None,
        typer.Option(help="DuckDB dummy dataset to use (default: dummy_data/<schema>.duckdb, "
                     "generated on first use)."),
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="Output folder (default: output/<job name>).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
    show_exact: Annotated[
        bool, typer.Option("--show-exact", help="Show exact dummy-data values beside DP ones.")
    ] = False,
) -> None:
    """Run a job on dummy data with the trusted engine; print and save its DP release."""
    from trusted_env.cli import render
    from trusted_env.dummy import ensure_dummy_dataset
    from trusted_env.engine import run_on_dummy
    from trusted_env.release.export import write_release_folder
    from trusted_env.schema import load_schema
    from trusted_env.spec.job_folder import compile_job, load_spec

    console = Console(stderr=as_json)
    schema = load_schema(load_spec(job).dataset)
    plan = compile_job(job, schema)
    with console.status("preparing dummy data") as status:
        path = dataset or ensure_dummy_dataset(schema)
        release, exact = run_on_dummy(plan, path, schema, progress=status.update)
    folder = out or Path("output") / plan.job_name
    written = write_release_folder(release, folder)
    if as_json:
        document = release.model_dump(mode="json")
        if show_exact:
            document["exact"] = {name: [{"keys": list(k), "value": v} for k, v in cells.items()]
                                 for name, cells in exact.items()}
        typer.echo(json.dumps(document, indent=2))
        return
    render.release_tables(console, release, exact if show_exact else None)
    console.print(f"Wrote {', '.join(str(p) for p in written)}")


def schema(
    name: Annotated[str, typer.Argument(help="Schema name or YAML path.")] = "primary_care",
    job: Annotated[bool, typer.Option("--job", help="Print the job spec's JSON Schema.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the dataset schema as JSON.")]
    = False,
) -> None:
    """Show a dataset schema (tables, columns, public domains), or the job spec's JSON Schema."""
    if job:
        from trusted_env.spec.model import JobSpec

        typer.echo(json.dumps(JobSpec.model_json_schema(), indent=2))
        return
    from trusted_env.cli import render
    from trusted_env.schema import load_schema

    loaded = load_schema(name)
    if as_json:
        typer.echo(loaded.model_dump_json(indent=2, exclude_none=True))
        return
    render.schema_tables(Console(), loaded)


def register(app: typer.Typer) -> None:
    app.command()(check)
    app.command()(run)
    app.command()(schema)
