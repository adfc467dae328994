"""The trusted environment's control plane: datasets and budgets, users and tokens, runs and
steward decisions, the ledger, the runner's leases, releases and the audit log.

Service functions take a SQLAlchemy `Session` (one transaction, from `Database.transaction()`)
and the acting `Actor`, check the actor's role, and raise `UserError` subclasses for anything
they refuse; the caller's transaction then rolls back, so a refused request changes nothing.
They return pydantic views, never ORM objects, so that the API can return them as they are.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from trusted_env.control.roles import Actor, Permission, Role

if TYPE_CHECKING:
    from trusted_env.control.db import Database

__all__ = ["Actor", "Database", "Permission", "Role"]


def __getattr__(name: str) -> object:
    # `Database` is loaded on first use: importing a light module of this package (the roles,
    # the CLI's choices) must not cost SQLAlchemy and the settings at every `tre` start.
    if name == "Database":
        from trusted_env.control.db import Database

        return Database
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
