"""Users, their role, and their API tokens.

A token is 32 random bytes (URL-safe base64, prefixed `tre_`), shown once when it is issued; the
database keeps only its SHA-256. A high-entropy secret needs no slow password hash: nobody can
enumerate 2^256 candidates, and a fast hash lets every API request authenticate cheaply.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import datetime

from pydantic import BaseModel, ConfigDict
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from trusted_env.control import audit
from trusted_env.control.roles import Actor, Permission, Role
from trusted_env.control.tables import ApiToken, User, utcnow
from trusted_env.errors import AuthenticationError, ConflictError, NotFoundError, UserError

ISSUED_PREFIX = "tre_"
USER_NAME = re.compile(r"^[a-z][a-z0-9_.-]{0,63}$")


class UserView(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: int
    name: str
    role: Role
    created_at: datetime
    active_tokens: int


class IssuedToken(BaseModel):
    """A freshly issued token: `token` is the only time the secret is ever available."""

    model_config = ConfigDict(frozen=True)

    user: UserView
    token_id: int
    token: str


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def parse_role(value: str) -> Role:
    try:
        return Role(value.strip().lower().replace("-", "_").replace(" ", "_"))
    except ValueError:
        raise UserError(
            f"Unknown role '{value}'.", hint=f"Use one of {', '.join(r.value for r in Role)}."
        ) from None


def _user_by_name(session: Session, name: str) -> User:
    user = session.execute(select(User).where(User.name == name)).scalar_one_or_none()
    if user is None:
        raise NotFoundError(f"There is no user '{name}'.", hint="See `tre user list`.")
    return user


def _view(session: Session, user: User) -> UserView:
    active = session.execute(
        select(func.count())
        .select_from(ApiToken)
        .where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
    ).scalar_one()
    return UserView(
        id=user.id,
        name=user.name,
        role=Role(user.role),
        created_at=user.created_at,
        active_tokens=active,
    )


def _issue(session: Session, actor: Actor, user: User) -> IssuedToken:
    secret = ISSUED_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        user_id=user.id, token_hash=hash_token(secret), prefix=secret[:8], created_at=utcnow()
    )
    session.add(token)
    session.flush()
    audit.record(
        session, actor.name, "token.issued", details={"user": user.name, "token_id": token.id}
    )
    return IssuedToken(user=_view(session, user), token_id=token.id, token=secret)


def create_user(session: Session, actor: Actor, name: str, role: Role) -> IssuedToken:
    """Create a user with a first API token (returned once)."""
    actor.require(Permission.MANAGE_USERS)
    if not USER_NAME.match(name):
        raise UserError(
            f"'{name}' is not a valid user name.",
            hint="Use lowercase letters, digits, '.', '_' or '-', starting with a letter.",
        )
    if session.execute(select(User.id).where(User.name == name)).first() is not None:
        raise ConflictError(f"A user named '{name}' already exists.")
    user = User(name=name, role=role.value, created_at=utcnow(), created_by=actor.name)
    session.add(user)
    session.flush()
    audit.record(session, actor.name, "user.created", details={"user": name, "role": role.value})
    return _issue(session, actor, user)


def issue_token(session: Session, actor: Actor, name: str) -> IssuedToken:
    actor.require(Permission.MANAGE_USERS)
    return _issue(session, actor, _user_by_name(session, name))


def revoke_tokens(session: Session, actor: Actor, name: str, token_id: int | None = None) -> int:
    """Revoke one token of a user, or all of them; returns how many were revoked."""
    actor.require(Permission.MANAGE_USERS)
    user = _user_by_name(session, name)
    query = select(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
    if token_id is not None:
        query = query.where(ApiToken.id == token_id)
    tokens = list(session.execute(query).scalars())
    now = utcnow()
    for token in tokens:
        token.revoked_at = now
    revoked = len(tokens)
    if token_id is not None and revoked == 0:
        raise NotFoundError(f"User '{name}' has no active token {token_id}.")
    audit.record(
        session,
        actor.name,
        "token.revoked",
        details={"user": name, "token_id": token_id, "revoked": revoked},
    )
    return revoked


def list_users(session: Session, actor: Actor) -> list[UserView]:
    actor.require(Permission.MANAGE_USERS)
    users = session.execute(select(User).order_by(User.name)).scalars()
    return [_view(session, user) for user in users]


def actor_for(session: Session, name: str) -> Actor:
    """The actor of a named user, for operator commands that act on a user's behalf (--as)."""
    user = _user_by_name(session, name)
    return Actor(name=user.name, role=Role(user.role), user_id=user.id)


def authenticate(session: Session, token: str) -> Actor:
    """The actor a bearer token belongs to; the same error for unknown and revoked tokens."""
    found = session.execute(
        select(User)
        .join(ApiToken, ApiToken.user_id == User.id)
        .where(ApiToken.token_hash == hash_token(token.strip()), ApiToken.revoked_at.is_(None))
    ).scalar_one_or_none()
    if found is None:
        raise AuthenticationError(
            "The API token is not valid (unknown or revoked).",
            hint="Ask an administrator for a new token (`tre user token NAME`).",
        )
    return Actor(name=found.name, role=Role(found.role), user_id=found.id)
