"""`tre dummy generate`: build a dummy dataset from a schema and its generation hints."""

from __future__ import annotations

import time
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from trusted_env.dummy.constants import DEFAULT_PATIENTS, DEFAULT_SEED, MAX_PATIENTS


def register(app: typer.Typer) -> None:
    group = typer.Typer(
        name="dummy",
        help="Dummy datasets: realistic, not sensitive, for developing jobs.",
        no_args_is_help=True,
    )
    group.command("generate")(generate)
    app.add_typer(group, name="dummy")


def generate(
    schema: Annotated[
        str, typer.Option("--schema", help="Bundled schema name or path of a schema YAML file.")
    ] = "primary_care",
    patients: Annotated[
        int, typer.Option("--patients", min=1, max=MAX_PATIENTS, help="Number of patients.")
    ] = DEFAULT_PATIENTS,
    seed: Annotated[
        int, typer.Option("--seed", help="Random seed: the same seed gives the same data.")
    ] = DEFAULT_SEED,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="DuckDB file to write (default: dummy_data/<schema>.duckdb of the project).",
            dir_okay=False,
        ),
    ] = None,
) -> None:
    """Generate a dummy dataset (DuckDB) for a schema; deterministic for a seed."""
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from trusted_env.dummy import default_dummy_dir, generate_with_manifest
    from trusted_env.schema import load_schema

    loaded = load_schema(schema)
    target = out if out is not None else default_dummy_dir() / f"{loaded.name}.duckdb"
    console = Console(stderr=True)
    started = time.perf_counter()
    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task("Generating", total=None)

        def progress(step: str, done: int, total: int) -> None:
            bar.update(task, description=f"Generating {step}", completed=done, total=total)

        generate_with_manifest(loaded, target, patients, seed, progress)
    elapsed = time.perf_counter() - started
    Console().print(_summary(target, loaded.tables))
    Console().print(
        f"Wrote {target} ({patients:,} patients, seed {seed}) in {elapsed:.1f} s.", highlight=False
    )


def _summary(path: Path, tables: Iterable[str]) -> Table:
    import duckdb

    from trusted_env.dummy.writer import quote

    summary = Table("table", "rows", title=f"Dummy dataset {path.name}")
    with duckdb.connect(str(path), read_only=True) as connection:
        for name in tables:
            rows = connection.table(quote(name)).shape[0]
            summary.add_row(name, f"{rows:,}")
    return summary
