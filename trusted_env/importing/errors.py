"""Errors of the importer."""

from __future__ import annotations

from trusted_env.errors import UserError


class ExtractError(UserError):
    """The extract (its directory, files or headers) does not fit the import rules."""

    code = "invalid_extract"
    http_status = 422
