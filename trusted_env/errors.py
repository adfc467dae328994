"""One family of user-facing errors.

A `UserError` means the input was wrong and the message says what to change: the CLI prints it
without a traceback (exit code 2) and the API maps it to a 4xx JSON body with its `code` and
`http_status`. Anything else that escapes is a bug and is reported as one.
"""

from __future__ import annotations

from typing import ClassVar


class UserError(Exception):
    """Bad input: a spec, a query, a dataset or a request that cannot be accepted as it is."""

    http_status: ClassVar[int] = 400
    code: ClassVar[str] = "invalid_input"

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        self.message = message
        self.hint = hint
        super().__init__(message if hint is None else f"{message} {hint}")

    def __str__(self) -> str:
        return self.message if self.hint is None else f"{self.message} {self.hint}"


class SpecError(UserError):
    """A job spec, codelist or schema file is invalid."""

    code = "invalid_spec"
    http_status = 422


class SqlRejected(UserError):
    """The cohort SQL uses something the sandbox does not allow."""

    code = "sql_rejected"
    http_status = 422


class SchemaDriftError(UserError):
    """A dataset does not match the schema it claims to follow."""

    code = "schema_drift"
    http_status = 409


class PrivacyError(UserError):
    """A request would break a privacy rule (bounds, keys, budget, privacy unit)."""

    code = "privacy_refused"
    http_status = 409


class NotFoundError(UserError):
    code = "not_found"
    http_status = 404


class PermissionDenied(UserError):
    code = "forbidden"
    http_status = 403


class AuthenticationError(UserError):
    code = "unauthenticated"
    http_status = 401


class ConflictError(UserError):
    """The request conflicts with the current state (illegal transition, budget exhausted...)."""

    code = "conflict"
    http_status = 409


class BudgetExceeded(ConflictError):
    code = "budget_exceeded"


class RunFailure(UserError):
    """A run on a dataset failed for a reason the researcher may know by category only.

    `message` is safe to show anyone; `details` may quote the database's own error text (which
    can contain values from the data) and is shown only on dummy data or to stewards.
    """

    category: ClassVar[str] = "internal_error"
    code = "run_failed"
    http_status = 422

    def __init__(self, message: str, *, details: str | None = None, hint: str | None = None):
        super().__init__(message, hint=hint)
        self.details = details


class CohortQueryFailed(RunFailure):
    category = "invalid_plan"


class QueryTimeout(RunFailure):
    category = "timeout"


class ContributionBoundViolated(RunFailure):
    category = "contribution_bound_violated"
