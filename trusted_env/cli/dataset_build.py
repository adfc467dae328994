"""`tre dataset build`: import a CSV extract into a DuckDB dataset.

The command is a plain function so that the `tre dataset` group (trusted_env/cli/dataset.py)
can attach it: `dataset_app.command("build")(build_dataset_command)`, or `register_build`.
Its output (exact counts, file names) is for the operator inside the trusted environment.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from trusted_env.importing import ImportSummary


def build_dataset_command(
    schema: Annotated[
        str,
        typer.Option("--schema", help="Bundled schema name (e.g. hes) or schema YAML path."),
    ],
    from_csv: Annotated[
        Path, typer.Option("--from-csv", help="Directory holding the extract's CSV files.")
    ],
    out: Annotated[Path, typer.Option("--out", help="DuckDB dataset file to write.")],
    rejects: Annotated[
        Path | None,
        typer.Option("--rejects", help="Rejects CSV to write (default: <out>.rejects.csv)."),
    ] = None,
    rules: Annotated[
        Path | None,
        typer.Option(
            "--rules",
            help="Import rules YAML (default: <schema>.import.yaml beside a schema file, or the "
            "bundled rules of a bundled schema).",
        ),
    ] = None,
    replace: Annotated[
        bool, typer.Option("--replace", help="Rebuild --out if it already exists.")
    ] = False,
) -> None:
    """Load a CSV extract into a DuckDB dataset following a schema and its import rules.

    Every value a declared rule sets to NULL is counted, and every row or value that cannot be
    loaded is listed with its reason in the rejects file. The dataset is written atomically.
    """
    from trusted_env.importing import default_rejects_path, import_extract_by_name

    summary = import_extract_by_name(
        schema, from_csv, out, rules=rules, rejects=rejects, replace=replace
    )
    print_summary(Console(), summary, out, rejects or default_rejects_path(out))


def register_build(dataset_app: typer.Typer) -> None:
    dataset_app.command("build")(build_dataset_command)


def print_summary(console: Console, summary: ImportSummary, out: Path, rejects: Path) -> None:
    from trusted_env.importing import summary_path

    console.print(_counts_table(summary, out))
    declared = _declared_nulls_table(summary)
    if declared.row_count:
        console.print(declared)
    for source in summary.files:
        malformed = f", {source.malformed:,} malformed" if source.malformed else ""
        console.print(
            f"Read {source.name} -> {source.table}: {source.records:,} records{malformed}",
            highlight=False,
        )
    if summary.ignored_files:
        console.print(
            f"Not read (no table's files pattern matches): {', '.join(summary.ignored_files)}",
            highlight=False,
        )
    console.print(f"Rejects: {summary.rejects:,} lines in {rejects}", highlight=False)
    console.print(
        f"Summary: {summary_path(out)}; content hash {summary.content_hash}", highlight=False
    )


def _counts_table(summary: ImportSummary, out: Path) -> Table:
    counts = Table(title=f"Imported {summary.schema_name} v{summary.schema_version} into {out}")
    headings = (
        "table",
        "rows read",
        "loaded",
        "rejected",
        "skipped by rule",
        "invalid values set to NULL",
    )
    for heading in headings:
        counts.add_column(heading, justify="left" if heading == "table" else "right")
    for table in summary.tables:
        numbers = (
            table.rows_read,
            table.rows_loaded,
            table.rows_rejected,
            table.rows_skipped_by_rule,
            table.values_set_to_null,
        )
        counts.add_row(table.table, *(f"{n:,}" for n in numbers))
    return counts


def _declared_nulls_table(summary: ImportSummary) -> Table:
    declared = Table(title="Values set to NULL (or cells skipped) by declared rules")
    for heading in ("table", "column", "rule", "values"):
        declared.add_column(heading, justify="right" if heading == "values" else "left")
    for table in summary.tables:
        for count in table.nulled_by_rule:
            declared.add_row(table.table, count.column, count.rule, f"{count.count:,}")
    return declared
