"""The FastAPI application of the trusted environment: `create_app(settings)`.

A thin HTTP layer: each endpoint authenticates the caller, checks the role its access rule
declares, and calls one control-plane service in one transaction. Every rule (roles, four-eyes,
budget, state machine, redaction) lives in `trusted_env.control`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI
from fastapi.routing import APIRoute
from pydantic import BaseModel

from trusted_env import __version__
from trusted_env.api.deps import PUBLIC, access_of, api_routes, document_access
from trusted_env.api.errors import ContentLengthLimit, error_responses, install_error_handlers
from trusted_env.api.routers import audit, datasets, releases, runs, users
from trusted_env.control import Database
from trusted_env.settings import Settings

API_PREFIX = "/v1"
# A plan with large codelists is a few MB; refuse anything far beyond before parsing it.
MAX_BODY_BYTES = 64 * 1024 * 1024

DESCRIPTION = """\
Researchers submit canonical plans and read their own releases; data stewards review, approve
or reject runs, publish releases, manage budgets and read the audit log; policy readers read
published releases (estimates with 95% confidence intervals) and download them.

Authenticate with `Authorization: Bearer <token>`. Every error has the same JSON body:
`{"status", "code", "message", "field"}`, where `message` says what to change.
"""


class Health(BaseModel):
    status: str
    version: str


health_router = APIRouter(tags=["health"])


@health_router.get("/health", responses=error_responses(500, 503), summary="Health check")
def health(_: Annotated[None, Depends(PUBLIC)]) -> Health:
    """Liveness of the API process (no token needed)."""
    return Health(status="ok", version=__version__)


def check_access_declared(app: FastAPI) -> None:
    """Refuse to serve an endpoint that does not declare who may call it (fail closed)."""
    for method, path, route in api_routes(app):
        if access_of(route) is None:
            raise RuntimeError(
                f"{method} {path} declares no access rule: add exactly one Access(...) or "
                "PUBLIC dependency."
            )


ROUTERS = (health_router, runs.router, datasets.router, releases.router, users.router, audit.router)


def create_app(
    settings: Settings, *, database: Database | None = None, max_body_bytes: int = MAX_BODY_BYTES
) -> FastAPI:
    """The API on the settings' database (migrated to the latest schema), or on `database`."""
    owned = database is None
    db = Database.from_settings(settings) if database is None else database

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        if owned:
            db.dispose()

    app = FastAPI(
        title="trusted-env",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.database = db
    app.state.max_body_bytes = max_body_bytes
    app.add_middleware(ContentLengthLimit, limit=max_body_bytes)
    app.state.settings = settings
    install_error_handlers(app)
    for router in ROUTERS:
        for route in router.routes:
            if isinstance(route, APIRoute):
                document_access(route)
        app.include_router(router, prefix=API_PREFIX, max_body_size=max_body_bytes)
    check_access_declared(app)
    return app
