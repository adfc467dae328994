"""The trusted environment's control plane: datasets and budgets, users and tokens, runs and
steward decisions, the ledger, the runner's leases, releases and the audit log.

Service functions take a SQLAlchemy `Session` (one transaction, from `Database.transaction()`)
and the acting `Actor`, check the actor's role, and raise `UserError` subclasses for anything
they refuse; the caller's transaction then rolls back, so a refused request changes nothing.
They return pydantic views, never ORM objects, so that the API can return them as they are.
"""

from trusted_env.control.db import Database
from trusted_env.control.roles import Actor, Permission, Role

__all__ = ["Actor", "Database", "Permission", "Role"]
