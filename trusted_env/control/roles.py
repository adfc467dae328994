"""Roles, what each may do, and the actor every service function acts as.

Permissions are declared per role in one table so that the API (issue 4) and the CLI share one
definition. Owning a run is not a permission: authors see and cancel their own runs and read
their own releases whatever their role.
"""

from __future__ import annotations

import getpass
from dataclasses import dataclass
from enum import StrEnum

from trusted_env.errors import PermissionDenied


class Role(StrEnum):
    RESEARCHER = "researcher"
    STEWARD = "steward"
    POLICY_READER = "policy_reader"
    ADMIN = "admin"


class Permission(StrEnum):
    SUBMIT_RUN = "submit runs"
    LIST_DATASETS = "list datasets and their budgets"
    VIEW_ALL_RUNS = "view every run"
    VIEW_FAILURE_DETAILS = "view failure details"
    DECIDE_RUN = "approve or reject runs"
    PUBLISH_RELEASE = "publish releases"
    VIEW_ALL_RELEASES = "view every release"
    READ_PUBLISHED = "read published releases"
    SET_BUDGET = "set dataset budgets"
    MANAGE_DATASETS = "register datasets"
    MANAGE_USERS = "manage users and tokens"
    READ_AUDIT = "read and verify the audit log"


ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.RESEARCHER: frozenset({Permission.SUBMIT_RUN, Permission.LIST_DATASETS}),
    Role.STEWARD: frozenset(
        {
            Permission.SUBMIT_RUN,
            Permission.LIST_DATASETS,
            Permission.VIEW_ALL_RUNS,
            Permission.VIEW_FAILURE_DETAILS,
            Permission.DECIDE_RUN,
            Permission.PUBLISH_RELEASE,
            Permission.VIEW_ALL_RELEASES,
            Permission.READ_PUBLISHED,
            Permission.SET_BUDGET,
            Permission.READ_AUDIT,
        }
    ),
    Role.POLICY_READER: frozenset({Permission.READ_PUBLISHED, Permission.LIST_DATASETS}),
    # Administrators run the installation; deciding on runs and publishing stay with stewards.
    Role.ADMIN: frozenset(
        {
            Permission.LIST_DATASETS,
            Permission.VIEW_ALL_RUNS,
            Permission.VIEW_FAILURE_DETAILS,
            Permission.VIEW_ALL_RELEASES,
            Permission.SET_BUDGET,
            Permission.MANAGE_DATASETS,
            Permission.MANAGE_USERS,
            Permission.READ_AUDIT,
        }
    ),
}


def roles_with(permission: Permission) -> list[Role]:
    return [role for role in Role if permission in ROLE_PERMISSIONS[role]]


@dataclass(frozen=True)
class Actor:
    """Who is acting: an authenticated user, or the operator at the trusted host's shell.

    The operator (user_id None) has the admin role; it cannot submit or decide runs, which need
    a named user for the four-eyes rule.
    """

    name: str
    role: Role
    user_id: int | None = None

    @classmethod
    def operator(cls) -> Actor:
        return cls(name=f"operator:{getpass.getuser()}", role=Role.ADMIN)

    def can(self, permission: Permission) -> bool:
        return permission in ROLE_PERMISSIONS[self.role]

    def require(self, permission: Permission) -> None:
        if not self.can(permission):
            allowed = ", ".join(role.value for role in roles_with(permission))
            raise PermissionDenied(
                f"'{self.name}' ({self.role.value}) may not {permission.value}.",
                hint=f"This needs the role {allowed}.",
            )

    def require_user(self, what: str) -> int:
        """The user id of a named user; the operator account may not do `what`."""
        if self.user_id is None:
            raise PermissionDenied(
                f"The operator account cannot {what}.",
                hint="Act as a named user (--as NAME); see `tre user list`.",
            )
        return self.user_id
