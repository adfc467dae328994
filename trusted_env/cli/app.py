"""Entry point of `tre`: assembles the command groups and maps errors to exit codes.

A `UserError` prints its message without a traceback and exits with code 2. Anything else is a
bug in trusted-env: it says so, prints the traceback, and exits with code 1.
"""

from __future__ import annotations

import sys
import traceback

import typer
from rich.console import Console

from trusted_env.errors import RunFailure, UserError

app = typer.Typer(
    name="tre",
    help="trusted-env: develop DP analysis jobs on dummy data; run them in a trusted environment.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

EXIT_USER_ERROR = 2
EXIT_BUG = 1


def _register_commands() -> None:
    # Each group owns its module. Those import only typer, rich and light modules at the top;
    # SQLAlchemy, DuckDB, polars, OpenDP... load inside the commands that use them, so that
    # `tre --help` stays fast (tests/test_cli_imports.py holds this).
    from trusted_env.cli import admin, audit, dataset, dummy, researcher, users, worker

    researcher.register(app)
    dummy.register(app)
    dataset.register(app)
    users.register(app)
    admin.register(app)
    worker.register(app)
    audit.register(app)

    from trusted_env.cli import client, demo, serve

    serve.register(app)
    client.register(app)
    demo.register(app)


def main() -> None:
    _register_commands()
    err = Console(stderr=True)
    try:
        app()  # typer handles usage errors and --help itself (exit code 2 / 0)
    except UserError as exc:
        err.print(f"[bold red]Error:[/] {exc}", highlight=False)
        if isinstance(exc, RunFailure) and exc.details:
            err.print(f"[dim]Details: {exc.details}[/]", highlight=False)
        sys.exit(EXIT_USER_ERROR)
    except Exception:
        err.print("[bold red]This is a bug in trusted-env[/] (please report it):")
        err.print(traceback.format_exc(), highlight=False, markup=False)
        sys.exit(EXIT_BUG)


if __name__ == "__main__":
    main()
