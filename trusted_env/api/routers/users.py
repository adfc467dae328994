"""Users and API tokens (administrators), and `/me` for anyone with a token."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, status
from pydantic import BaseModel, ConfigDict, Field

from trusted_env.api.deps import MAX_ID, Access, AnyUser, SessionDep
from trusted_env.api.errors import COMMON_ERRORS, error_responses
from trusted_env.control import Actor, Permission, Role, users
from trusted_env.control.roles import ROLE_PERMISSIONS
from trusted_env.control.users import IssuedToken, UserView

router = APIRouter(tags=["users"], responses=error_responses(401, *COMMON_ERRORS))

UserAdmin = Annotated[Actor, Depends(Access(Permission.MANAGE_USERS))]
UserName = Annotated[str, Path(max_length=64, description="The user's name.")]


class Identity(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    role: Role
    permissions: list[Permission] = Field(description="What the role allows.")


class NewUser(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=64, description="Lowercase letters, digits, . _ -")
    role: Role


class RevokedTokens(BaseModel):
    revoked: int = Field(description="How many tokens were revoked.")


@router.get("/me", summary="Who am I")
def me(actor: AnyUser) -> Identity:
    """The caller's name, role and permissions: a quick check that a token works."""
    permissions = sorted(ROLE_PERMISSIONS[actor.role], key=list(Permission).index)
    return Identity(name=actor.name, role=actor.role, permissions=permissions)


@router.get("/users", responses=error_responses(403), summary="List users")
def list_users(actor: UserAdmin, session: SessionDep) -> list[UserView]:
    return users.list_users(session, actor)


@router.post(
    "/users",
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(400, 403, 409),
    summary="Create a user",
)
def create_user(new: NewUser, actor: UserAdmin, session: SessionDep) -> IssuedToken:
    """Create a user with a first API token; the token is in this response only."""
    return users.create_user(session, actor, new.name, new.role)


@router.post(
    "/users/{name}/tokens",
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(403, 404),
    summary="Issue a token",
)
def issue_token(name: UserName, actor: UserAdmin, session: SessionDep) -> IssuedToken:
    """Another API token for a user; the token is in this response only."""
    return users.issue_token(session, actor, name)


@router.delete("/users/{name}/tokens", responses=error_responses(403, 404), summary="Revoke tokens")
def revoke_tokens(
    name: UserName,
    actor: UserAdmin,
    session: SessionDep,
    token_id: Annotated[
        int | None, Query(ge=1, le=MAX_ID, description="Only this token (default: all).")
    ] = None,
) -> RevokedTokens:
    """Revoke a user's tokens: all of them, or one with `?token_id=`."""
    return RevokedTokens(revoked=users.revoke_tokens(session, actor, name, token_id))
