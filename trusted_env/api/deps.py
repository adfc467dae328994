"""Request dependencies: the database session, the authenticated actor, and access rules.

Every endpoint declares who may call it with one `Access` (roles derived from the permissions
in `control.roles`, the single source of truth) or `PUBLIC`. The route-level check runs before
anything is looked up, so a refused caller learns nothing about the resource; the services then
apply their own rules (ownership, four-eyes, budget) as they do for the CLI.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any, cast

from fastapi import Depends, FastAPI, Request, Security
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from trusted_env.control import Actor, Database, Permission, Role, users
from trusted_env.control.roles import roles_with
from trusted_env.errors import AuthenticationError, PermissionDenied

# Ids are 32-bit integers on PostgreSQL: a larger number is a 422, not a database error.
MAX_ID = 2**31 - 1


class RoleForbidden(PermissionDenied):
    """The caller's role may not call this endpoint at all (whatever the resource)."""

    code = "role_forbidden"


bearer = HTTPBearer(
    auto_error=False,
    scheme_name="ApiToken",
    bearerFormat="tre_...",
    description="An API token issued by `tre user add NAME --role ROLE` or `tre user token "
    "NAME`, sent as `Authorization: Bearer <token>`.",
)


def get_database(request: Request) -> Database:
    return cast(Database, request.app.state.database)


def get_session(database: Annotated[Database, Depends(get_database)]) -> Iterator[Session]:
    """One transaction per request: committed before the response is sent, or rolled back."""
    with database.transaction() as session:
        yield session


# scope="function": the transaction commits before the response goes out, so a client that got
# 201 can read what it created, and a failed commit is reported instead of a false success.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]


def current_actor(
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)],
) -> Actor:
    if credentials is None or not credentials.credentials.strip():
        raise AuthenticationError(
            "This endpoint needs an API token.",
            hint="Send the header 'Authorization: Bearer <token>' (TRE_TOKEN for `tre` commands).",
        )
    return users.authenticate(session, credentials.credentials)


class Access:
    """Callable dependency: the authenticated actor, if their role holds any of `any_of`.

    No permissions means any authenticated user (each service still filters what they see).
    """

    def __init__(self, *any_of: Permission) -> None:
        self.any_of = any_of

    @property
    def roles(self) -> tuple[Role, ...]:
        if not self.any_of:
            return tuple(Role)
        allowed = {role for permission in self.any_of for role in roles_with(permission)}
        return tuple(role for role in Role if role in allowed)

    def __call__(self, actor: Annotated[Actor, Depends(current_actor)]) -> Actor:
        if actor.role not in self.roles:
            names = ", ".join(role.value for role in self.roles)
            raise RoleForbidden(
                f"'{actor.name}' has the role {actor.role.value}, which may not call this "
                f"endpoint.",
                hint=f"It needs one of the roles: {names}.",
            )
        return actor

    def __repr__(self) -> str:
        return f"Access({', '.join(role.value for role in self.roles)})"


class PublicAccess:
    """Declares an endpoint open to anyone, without a token (health checks)."""

    roles: tuple[Role, ...] = tuple(Role)

    def __call__(self) -> None:
        return None

    def __repr__(self) -> str:
        return "PUBLIC"


PUBLIC = PublicAccess()


def access_of(route: APIRoute) -> Access | PublicAccess | None:
    """The access rule a route declares (as a direct dependency), or None."""
    found = [
        dependency.call
        for dependency in route.dependant.dependencies
        if isinstance(dependency.call, Access | PublicAccess)
    ]
    return found[0] if len(found) == 1 else None


def document_access(route: APIRoute) -> None:
    """Put the route's roles into its OpenAPI operation (description and `x-roles`), once."""
    access = access_of(route)
    if access is None:
        raise RuntimeError(
            f"{sorted(route.methods or ())} {route.path} declares no access rule: add exactly one "
            "Access(...) or PUBLIC dependency."
        )
    extra: dict[str, Any] = dict(route.openapi_extra or {})
    if "x-roles" in extra:
        return
    roles = [role.value for role in access.roles]
    who = "anyone, without a token" if access is PUBLIC else ", ".join(roles)
    extra["x-roles"] = [] if access is PUBLIC else roles
    route.openapi_extra = extra
    route.description = f"{route.description}\n\n**Who may call it:** {who}.".strip()


def api_routes(app: FastAPI) -> Iterator[tuple[str, str, APIRoute]]:
    """(method, full path, route) for every endpoint of `app`, routers included."""
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if isinstance(route, APIRoute):
            for method in sorted(context.methods or ()):
                yield method, str(context.path), route


# Annotated actors for the routers: one per access rule, named for who may call.
AnyUser = Annotated[Actor, Depends(Access())]
