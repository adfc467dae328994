"""`tre serve`: the API server (uvicorn) on the configured control-plane database.

Also runnable as `python -m trusted_env.cli.serve` (for service managers and `tre demo`).
"""

from __future__ import annotations

import logging
import sys
from typing import Annotated

import typer
from rich.console import Console

from trusted_env.errors import UserError

console = Console(highlight=False)


def serve(
    host: Annotated[
        str | None, typer.Option("--host", help="Interface to listen on (TRE_SERVER_HOST).")
    ] = None,
    port: Annotated[
        int | None,
        typer.Option("--port", min=1, max=65535, help="Port to listen on (TRE_SERVER_PORT)."),
    ] = None,
    workers: Annotated[
        int, typer.Option("--workers", min=1, help="Server processes (stateless replicas).")
    ] = 1,
) -> None:
    """Serve the HTTP API for researchers, stewards and policy readers."""
    import uvicorn

    from trusted_env.api import create_app
    from trusted_env.settings import get_settings

    settings = get_settings()
    host = host or settings.server_host
    port = port or settings.server_port
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    if workers > 1:
        # Each process builds its own app (and database pool) from the same settings.
        console.print(f"Serving on http://{host}:{port} with {workers} processes.")
        uvicorn.run(
            "trusted_env.cli.serve:app_from_environment",
            factory=True,
            host=host,
            port=port,
            workers=workers,
        )
        return
    app = create_app(settings)
    backend = app.state.database.backend
    console.print(
        f"trusted-env API on http://{host}:{port} (database: {backend}); "
        f"documentation at http://{host}:{port}/docs"
    )
    uvicorn.run(app, host=host, port=port, log_level="info")


def app_from_environment() -> object:
    """The app factory uvicorn calls in each worker process (`--workers N`)."""
    from trusted_env.api import create_app
    from trusted_env.settings import get_settings

    return create_app(get_settings())


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)


def main() -> None:
    standalone = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
    standalone.command()(serve)
    try:
        standalone()
    except UserError as exc:
        Console(stderr=True).print(f"[bold red]Error:[/] {exc}", highlight=False)
        sys.exit(2)


if __name__ == "__main__":
    main()
