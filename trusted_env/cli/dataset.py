"""`tre dataset ...`: register real datasets and manage their privacy budgets."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from trusted_env.cli.control_context import console, grid, number, transaction
from trusted_env.control import Actor

if TYPE_CHECKING:
    from trusted_env.control.datasets import DatasetView

group = typer.Typer(
    help="Build and register datasets; manage their privacy budgets.", no_args_is_help=True
)


def _print(view: DatasetView) -> None:
    budget = view.budget
    console.print(
        f"Dataset [bold]{view.name}[/] (schema {view.schema_name}, {view.schema_hash[:12]}): "
        f"epsilon budget {number(budget.budget_epsilon)}, spent {number(budget.spent_epsilon)}, "
        f"reserved {number(budget.reserved_epsilon)}, remaining "
        f"{number(budget.remaining_epsilon)}; delta budget {number(budget.budget_delta)}, "
        f"remaining {number(budget.remaining_delta)}."
    )


@group.command("add")
def add(
    name: Annotated[str, typer.Argument(help="Name researchers submit runs against.")],
    path: Annotated[Path, typer.Option("--path", help="The DuckDB file.")],
    schema: Annotated[str, typer.Option("--schema", help="Schema name or YAML path.")],
    budget_epsilon: Annotated[float, typer.Option("--budget-epsilon", help="Total epsilon.")],
    budget_delta: Annotated[float, typer.Option("--budget-delta", help="Total delta.")] = 0.0,
) -> None:
    """Register a DuckDB file after checking it against its schema."""
    from trusted_env.control import datasets
    from trusted_env.schema import load_schema

    dataset_schema = load_schema(schema)
    with transaction() as session:
        view = datasets.register_dataset(
            session,
            Actor.operator(),
            name=name,
            path=path,
            schema=dataset_schema,
            budget_epsilon=budget_epsilon,
            budget_delta=budget_delta,
        )
    console.print("[green]Registered.[/]")
    _print(view)


@group.command("list")
def list_() -> None:
    """Each dataset's budget: spent, reserved by approved runs, and remaining for approvals."""
    from trusted_env.control import datasets

    with transaction() as session:
        views = datasets.list_datasets(session, Actor.operator())
    if not views:
        console.print("No datasets registered yet (`tre dataset add`).")
        return
    table = grid(
        "dataset", "schema", "epsilon", "spent", "reserved", "remaining", "delta", "delta left"
    )
    for view in views:
        b = view.budget
        table.add_row(
            view.name,
            view.schema_name,
            number(b.budget_epsilon),
            number(b.spent_epsilon),
            number(b.reserved_epsilon),
            number(b.remaining_epsilon),
            number(b.budget_delta),
            number(b.remaining_delta),
        )
    console.print(table)


@group.command("set-budget")
def set_budget(
    name: Annotated[str, typer.Argument(help="The dataset.")],
    epsilon: Annotated[float, typer.Option("--epsilon", help="New total epsilon budget.")],
    delta: Annotated[float | None, typer.Option("--delta", help="New total delta.")] = None,
) -> None:
    """Change a dataset's total budget (never below what it has spent)."""
    from trusted_env.control import datasets

    with transaction() as session:
        view = datasets.set_budget(session, Actor.operator(), name, epsilon=epsilon, delta=delta)
    _print(view)


def register(app: typer.Typer) -> None:
    from trusted_env.cli.dataset_build import register_build

    register_build(group)  # `tre dataset build`: import a CSV extract into a DuckDB file
    app.add_typer(group, name="dataset")
