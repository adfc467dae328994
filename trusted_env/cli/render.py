"""Rich rendering of schemas, plan reviews and releases for the terminal."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from trusted_env.control.runs import RunView
    from trusted_env.release.model import OutputRelease, Release
    from trusted_env.schema import DatasetSchema
    from trusted_env.spec.review import PlanReview

COUNT_TYPES = {"count", "histogram"}


def schema_tables(console: Console, schema: DatasetSchema) -> None:
    console.print(f"[bold]{schema.name}[/] v{schema.version} — {schema.description}")
    for name, table in schema.tables.items():
        grid = Table(title=f"{name}: {table.description}", title_justify="left", expand=False)
        for header in ("column", "type", "null?", "public domain", "description"):
            grid.add_column(header, overflow="fold")
        for col_name, column in table.columns.items():
            marker = " (patient id)" if col_name == table.patient_id else ""
            grid.add_row(col_name + marker, column.type.value, "yes" if column.nullable else "no",
                         ", ".join(column.domain) if column.domain else "",
                         column.description)
        console.print(grid)


def plan_review(console: Console, review: PlanReview) -> None:
    console.print(f"[bold]{review.job_name}[/]: {review.job_description}")
    console.print(f"plan {review.plan_hash[:16]}  dataset schema {review.dataset_schema} "
                  f"({review.schema_hash[:12]})")
    console.print("[bold]Reads[/]: " + "; ".join(
        f"{table}({', '.join(columns)})" for table, columns in review.reads.items()))
    if review.max_rows_per_patient == 1:
        console.print("[bold]Privacy unit[/]: one patient; the cohort must have one row each")
    else:
        console.print(f"[bold]Privacy unit[/]: one patient, at most "
                      f"{review.max_rows_per_patient} rows each (extra rows are dropped)")
    if review.codelists:
        console.print("[bold]Codelists[/]: " + ", ".join(
            f"{name} ({count} codes)" for name, count in review.codelists.items()))
    grid = Table(title="Outputs", title_justify="left")
    grid.add_column("output", no_wrap=True)
    for header in ("aggregate", "grouped by (cells)", "epsilon", "expected accuracy"):
        grid.add_column(header, overflow="fold")
    for output in review.outputs:
        what = output.type + (f"({output.column})" if output.column else "")
        if output.bounds is not None:
            what += f" in [{output.bounds[0]:g}, {output.bounds[1]:g}] step {output.resolution:g}"
        if output.where:
            what += f" where {output.where}"
        groups = ", ".join(g.column for g in output.group_by) or "-"
        cells = "from data" if output.cells is None else f"{output.cells}"
        grid.add_row(output.name, what, f"{groups} ({cells})", f"{output.epsilon:.4g}",
                     output.expected_accuracy)
    console.print(grid)
    delta = f", delta {review.delta:g}" if review.delta else ""
    console.print(f"[bold]Total budget[/]: epsilon {review.epsilon:g}{delta}")


def _fmt(value: float | None, output: OutputRelease) -> str:
    if value is None:
        return "-"
    if output.type in COUNT_TYPES:
        # Signed, as released: clamping at zero would make a small count's interval look
        # narrower and more certain than it is.
        return f"{value:,.0f}"
    if abs(value) < 1:
        return f"{value:.4f}"
    return f"{value:,.2f}" if abs(value) < 1000 else f"{value:,.0f}"


def release_tables(console: Console, release: Release,
                   exact: Mapping[str, Mapping[tuple[str, ...], float | None]] | None) -> None:
    console.print(f"[bold]{release.job_name}[/] — epsilon spent {release.epsilon_spent:g}, "
                  f"plan {release.plan_hash[:16]}")
    for output in release.outputs:
        console.print(output_table(output, exact.get(output.name) if exact else None))


def output_table(output: OutputRelease,
                 exact: Mapping[tuple[str, ...], float | None] | None) -> Table:
    title = f"{output.name} — {output.type}" + (f"({output.column})" if output.column else "")
    grid = Table(title=title, caption=output.accuracy, title_justify="left")
    for column in output.group_columns:
        grid.add_column(column)
    for header in ("estimate", "95% CI"):
        grid.add_column(header, justify="right")
    if exact is not None:
        grid.add_column("exact (dummy)", justify="right", style="dim")
    for row in output.rows:
        cells = [row.keys.get(column) or "" for column in output.group_columns]
        interval = "-" if row.ci_low is None else \
            f"{_fmt(row.ci_low, output)} to {_fmt(row.ci_high, output)}"
        cells += [_fmt(row.estimate, output), interval]
        if exact is not None:
            key = tuple(row.keys.get(column) or "" for column in output.group_columns)
            cells.append(_fmt(exact.get(key), output))
        grid.add_row(*cells)
    return grid


def run_summary(console: Console, view: RunView, release_command: str, *,
                decision_time: bool) -> None:
    """One run: state, cost, decision, failure (details only if the viewer may see them)."""
    console.print(
        f"Run [bold]{view.id}[/] {view.job_name} on {view.dataset}: [bold]{view.state.value}[/] "
        f"(epsilon {view.epsilon:.6g}, delta {view.delta:.6g}, submitted by {view.submitted_by})"
    )
    if view.decision is not None:
        decision = view.decision
        at = f" at {decision.decided_at:%Y-%m-%d %H:%M:%S}" if decision_time else ""
        console.print(f"  {decision.verdict} by {decision.steward}{at}: {decision.reason}")
    if view.failure is not None:
        console.print(f"  failed ({view.failure.category.value}): {view.failure.message}")
        if view.failure.details:
            console.print(f"  [dim]details (stewards only): {view.failure.details}[/]")
    if view.release_id is not None:
        console.print(f"  release {view.release_id}: `{release_command} {view.id}` shows it")
