"""`tre worker`: the runner that executes approved runs on real data.

Also runnable as `python -m trusted_env.cli.worker` (the same command, for service managers).
"""

from __future__ import annotations

import logging
import sys
from typing import Annotated

import typer

from trusted_env.cli.control_context import console
from trusted_env.errors import UserError


def worker(
    once: Annotated[
        bool, typer.Option("--once", help="Process the waiting runs, then exit.")
    ] = False,
    poll_seconds: Annotated[
        float | None, typer.Option("--poll-seconds", min=0.01, help="Idle wait between polls.")
    ] = None,
    name: Annotated[
        str | None, typer.Option("--name", help="Worker name in the audit log.")
    ] = None,
) -> None:
    """Claim approved runs, run them on the real dataset and store their releases."""
    from trusted_env.control import Database
    from trusted_env.control.worker import Worker
    from trusted_env.settings import get_settings

    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("trusted_env").setLevel(logging.INFO)
    settings = get_settings()
    if poll_seconds is not None:
        settings = settings.model_copy(update={"worker_poll_seconds": poll_seconds})
    db = Database.from_settings(settings)
    runner = Worker(db, settings, name=name)
    console.print(f"Worker {runner.name} on {db.backend}.")
    try:
        if once:
            processed = 0
            while (run_id := runner.run_once()) is not None:
                processed += 1
                console.print(f"Run {run_id} processed.")
            console.print(f"{processed} run(s) processed; none waiting.")
        else:
            runner.run_forever()
    except KeyboardInterrupt:
        console.print("Stopped.")
    finally:
        db.dispose()


def register(app: typer.Typer) -> None:
    app.command("worker")(worker)


def main() -> None:
    standalone = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
    standalone.command()(worker)
    try:
        standalone()
    except UserError as exc:
        console.print(f"[bold red]Error:[/] {exc}")
        sys.exit(2)


if __name__ == "__main__":
    main()
